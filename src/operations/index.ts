/** Operations: long work run in the background under an id, listed, followed and cancelled (operations.ts). */
export { Operations, type LogLine, type Work } from './operations.js';

/** Operations: long work run in the background under an id, listed, followed and cancelled (operations.ts). */
export { Operations, type LogLine, type Operation, type OperationProgress, type OperationState, type OperationsOptions, type Work } from './operations.js';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressPrinter } from './context.js';

/** What `lines` print through a progress printer, with the time stamps taken out. */
function printed(tty: boolean, lines: string[]): string {
  let out = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => { out += chunk; return true; }) as typeof process.stderr.write;
  try {
    const print = progressPrinter(tty);
    for (const line of lines) print(line);
  } finally {
    process.stderr.write = write;
  }
  return out.replace(/\[ *\d+\.\ds\] /g, '');
}

const COUNTERS = ['storing', ...Array.from({ length: 11_436 }, (_, i) => `objects: ${i + 1} of 11436`), 'wrote debian.strata'];

test('in a log, a long counter is a few lines, not one per object', () => {
  const out = printed(false, COUNTERS).split('\n').filter(Boolean);
  assert.deepEqual(out, ['storing', 'objects: 1 of 11436', 'objects: 11436 of 11436', 'wrote debian.strata']);
});

test('on a terminal, a counter updates one line in place with a bar, and the next line starts fresh', () => {
  const out = printed(true, ['storing', 'objects: 5 of 10', 'objects: 10 of 10', 'tree: 3', 'done']);
  assert.equal(out.split('\n').length - 1, 4, 'one line each for storing, objects, tree and done');
  assert.match(out, /\r\x1b\[Kobjects \[#{15}\.{15}\] 5 of 10\r\x1b\[Kobjects \[#{30}\] 10 of 10\n/);
  assert.match(out, /\r\x1b\[Ktree 3\ndone\n$/, 'an unfinished counter is ended by the next line');
});

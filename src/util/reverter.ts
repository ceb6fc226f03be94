/**
 * Undo stack for multi-step operations, after Incus's reverter:
 *   const r = new Reverter(); try { step(); r.add(undoStep); …; r.success(); } finally { await r.fail(); }
 * Undo steps run in reverse order; their own failures are collected, not thrown,
 * so that one failing undo does not stop the rest.
 */
export class Reverter {
  private undos: Array<() => unknown> = [];
  private done = false;
  readonly failures: unknown[] = [];

  add(undo: () => unknown): void {
    this.undos.push(undo);
  }

  success(): void {
    this.done = true;
    this.undos = [];
  }

  async fail(): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const undo of this.undos.reverse()) {
      try {
        await undo();
      } catch (err) {
        this.failures.push(err);
      }
    }
    this.undos = [];
  }
}

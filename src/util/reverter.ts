/**
 * Undo stack for multi-step operations, after Incus's reverter:
 *   const r = new Reverter(); try { step(); r.add(undoStep, 'what it undoes'); …; r.success(); } finally { await r.fail(); }
 * Undo steps run in reverse order; one that fails does not stop the rest, and is never dropped:
 * it goes to the reporter (the daemon logs it and records an event `rollback-failed`; stderr
 * until one is set), because what it should have removed is probably still there.
 */

export interface UndoFailure {
  /** What the step undoes, when the caller said. */
  what: string | undefined;
  error: unknown;
}

type UndoReporter = (failure: UndoFailure) => void;

const toStderr: UndoReporter = ({ what, error }) => {
  process.stderr.write(`strata: a rollback step${what ? ` (${what})` : ''} failed: ${error instanceof Error ? error.message : String(error)}\n`);
};
let reporter: UndoReporter = toStderr;

/** Where failed undo steps go from now on (the daemon sets this at start). */
export function reportUndoFailuresTo(report: UndoReporter): void {
  reporter = report;
}

export class Reverter {
  private undos: Array<{ undo: () => unknown; what: string | undefined }> = [];
  private done = false;
  readonly failures: UndoFailure[] = [];

  add(undo: () => unknown, what?: string): void {
    this.undos.push({ undo, what });
  }

  success(): void {
    this.done = true;
    this.undos = [];
  }

  async fail(): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const { undo, what } of this.undos.reverse()) {
      try {
        await undo();
      } catch (error) {
        const failure = { what, error };
        this.failures.push(failure);
        try { reporter(failure); } catch { toStderr(failure); }
      }
    }
    this.undos = [];
  }
}

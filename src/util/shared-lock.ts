/**
 * Work that may run together (`shared`) or must run alone (`exclusive`), started in the order it
 * arrives: exclusive work waits for the shared work before it, and shared work that arrives after
 * exclusive work waits for it (no starving either way).
 */
export class SharedLock {
  private readonly waiting: Array<{ exclusive: boolean; start: () => void }> = [];
  private sharing = 0;
  private alone = false;

  shared<T>(work: () => Promise<T>): Promise<T> {
    return this.acquire(false, work);
  }

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.acquire(true, work);
  }

  private acquire<T>(exclusive: boolean, work: () => Promise<T>): Promise<T> {
    const started = new Promise<void>((start) => {
      this.waiting.push({ exclusive, start });
      this.next();
    });
    return started.then(work).finally(() => {
      if (exclusive) this.alone = false;
      else this.sharing--;
      this.next();
    });
  }

  private next(): void {
    while (this.waiting.length > 0 && !this.alone) {
      const first = this.waiting[0];
      if (first.exclusive && this.sharing > 0) return;
      this.waiting.shift();
      if (first.exclusive) this.alone = true;
      else this.sharing++;
      first.start();
    }
  }
}

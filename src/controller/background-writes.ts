// Writes a reconcile starts and does not wait for: the gates' outcome on status.conditions, after the spec that
// carried it (docs/design/health-gates.md, "The condition off the worker"). At most one per key at a time, so one
// node's writes never race each other, and a few at once, so they do not crowd the workers' own writes out of the
// connections to kube-apiserver. A write must not fail: it handles its own errors (the caller knows what to do
// with them). Nothing is lost if the process dies first: the state it writes is recorded elsewhere already.

export interface BackgroundWritesOptions {
  /** Writes running at once; the others wait, first come first served. */
  readonly inFlight: number;
  /** Called once a key's write has ended (so its key can be looked at again); must not throw. */
  readonly onSettled: (key: string) => void;
}

export class BackgroundWrites {
  readonly #inFlight: number;
  readonly #onSettled: (key: string) => void;
  readonly #running = new Map<string, Promise<void>>();
  /** In the order added. */
  readonly #waiting = new Map<string, () => Promise<void>>();

  constructor(options: BackgroundWritesOptions) {
    this.#inFlight = options.inFlight;
    this.#onSettled = options.onSettled;
  }

  /** Runs `write` for `key` when a place is free; refused (false, nothing done) while one for `key` is pending. */
  add(key: string, write: () => Promise<void>): boolean {
    if (this.pending(key)) return false;
    this.#waiting.set(key, write);
    this.#pump();
    return true;
  }

  /** A write for `key` is running or waiting. */
  pending(key: string): boolean {
    return this.#running.has(key) || this.#waiting.has(key);
  }

  /** Resolves once no write is running or waiting (graceful shutdown). */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  #pump(): void {
    for (const [key, write] of this.#waiting) {
      if (this.#running.size >= this.#inFlight) return;
      this.#waiting.delete(key);
      const running = Promise.resolve()
        .then(write)
        .catch(() => undefined) // a write handles its own errors; one that throws must not stop the others
        .then(() => {
          this.#running.delete(key);
          try {
            this.#onSettled(key);
          } finally {
            this.#pump(); // the writes waiting go on whatever happened
          }
        });
      this.#running.set(key, running);
    }
  }
}

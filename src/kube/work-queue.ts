// A keyed work queue with client-go's semantics, the heart of a level-triggered controller:
// - adding a key that is already waiting is a no-op (events coalesce);
// - a key being processed is never handed to a second worker; if it is added meanwhile, it is handed out again
//   once the first worker is done (so no change is lost);
// - `addAfter` schedules a key (timers: timeouts, windows, backoff), keeping only the earliest time per key;
// - `addRateLimited` backs a failing key off exponentially until `forget` resets it.

export interface WorkQueueOptions<K extends string = string> {
  /** First retry delay after a failure. Default 200 ms. */
  readonly baseDelayMs?: number;
  /** Largest retry delay. Default 5 min. */
  readonly maxDelayMs?: number;
  /** Called as a key is handed out, with how long it waited ready for a worker (client-go's queue duration). */
  readonly onWait?: (key: K, waitedMs: number) => void;
}

export class WorkQueue<K extends string = string> {
  readonly #queue: K[] = [];
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<K, number>();
  readonly #waiters: ((key: K | undefined) => void)[] = [];
  /** When each key in #queue became ready. */
  readonly #readyAt = new Map<K, number>();
  readonly #onWait: ((key: K, waitedMs: number) => void) | undefined;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.#baseDelayMs = options.baseDelayMs ?? 200;
    this.#maxDelayMs = options.maxDelayMs ?? 5 * 60_000;
    this.#onWait = options.onWait;
  }

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // handed out again by done()
    this.#push(key);
  }

  /** Adds `key` after `delayMs`, unless it is already due earlier. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Adds `key` after an exponential backoff that grows with each failure since the last `forget`. */
  addRateLimited(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** failures);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure history of `key` (after a success). */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, waiting if none is ready; undefined once the queue shuts down. */
  get(): Promise<K | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) return Promise.resolve(this.#take(key));
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it becomes ready again. */
  done(key: K): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
  }

  /** Keys waiting to be processed (not counting scheduled ones). */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys waiting or scheduled for later. */
  get scheduled(): number {
    return this.#timers.size;
  }

  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }

  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  #push(key: K): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(this.#take(key));
      return;
    }
    this.#readyAt.set(key, performance.now());
    this.#queue.push(key);
  }

  #take(key: K): K {
    const readyAt = this.#readyAt.get(key);
    this.#readyAt.delete(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#onWait?.(key, readyAt === undefined ? 0 : performance.now() - readyAt);
    return key;
  }
}

/** What a reconcile asks for after success: nothing, or another look after a delay (a timer). */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

/**
 * What to do with a key whose reconcile threw (kube-rs' `error_policy`): `"backoff"` retries it with exponential
 * backoff; a result requeues it as a success would (e.g. after a write conflict: decide again soon, no backoff).
 */
export type ErrorPolicy<K extends string> = (key: K, error: unknown) => ReconcileResult | "backoff";

export interface WorkerHooks<K extends string> {
  /** Called after each reconcile, e.g. for metrics and logs. */
  readonly onResult?: (key: K, outcome: { error?: unknown; durationMs: number; retryInMs?: number }) => void;
  /** Default: every error backs off. */
  readonly errorPolicy?: ErrorPolicy<K>;
  /** Passed to every reconcile; aborted, the workers stop taking keys (and a reconcile should stop writing). */
  readonly signal?: AbortSignal;
}

/**
 * Runs `concurrency` workers until the queue shuts down. A reconcile that succeeds has its backoff reset and is
 * requeued after `requeueAfterMs` when it asks for it; one that throws goes to the error policy.
 */
export async function runWorkers<K extends string>(
  queue: WorkQueue<K>,
  concurrency: number,
  reconcile: (key: K, signal: AbortSignal) => Promise<ReconcileResult | undefined>,
  hooks: WorkerHooks<K> = {},
): Promise<void> {
  const signal = hooks.signal ?? new AbortController().signal;
  const settle = (key: K, result: ReconcileResult | undefined) => {
    queue.forget(key);
    if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
  };
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        if (signal.aborted) continue; // handed out before the abort; nobody may act on it now
        settle(key, await reconcile(key, signal));
        hooks.onResult?.(key, { durationMs: performance.now() - started });
      } catch (error) {
        const policy = signal.aborted ? undefined : (hooks.errorPolicy?.(key, error) ?? "backoff");
        if (policy === "backoff") {
          const retryInMs = queue.addRateLimited(key);
          hooks.onResult?.(key, { error, durationMs: performance.now() - started, retryInMs });
        } else {
          if (policy !== undefined) settle(key, policy);
          hooks.onResult?.(key, { durationMs: performance.now() - started });
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

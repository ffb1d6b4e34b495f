// Pacing by what the work takes, for work that would otherwise run back to back (the fleet pass, its consistent
// read: fleet-reconciler.ts).

/**
 * Work that takes at most one part in `parts` of the time: after a run of T ms, the next waits (parts - 1) * T ms,
 * at most `maxPauseMs`.
 */
export class DutyCycle {
  readonly #parts: number;
  readonly #maxPauseMs: number;
  #nextAt = 0;
  #lastPauseMs = 0;

  constructor(parts: number, maxPauseMs: number) {
    this.#parts = parts;
    this.#maxPauseMs = maxPauseMs;
  }

  /** How long to wait at `now` (ms since the epoch) before the next run; 0: run now. */
  pause(now: number): number {
    const pause = this.#nextAt - now;
    // Longer than the last run asked for: the clock was set back, which is no reason to stop working.
    return pause > 0 && pause <= this.#lastPauseMs ? pause : 0;
  }

  took(began: number, ended: number): void {
    this.#lastPauseMs = Math.min(this.#maxPauseMs, Math.max(0, ended - began) * (this.#parts - 1));
    this.#nextAt = ended + this.#lastPauseMs;
  }
}

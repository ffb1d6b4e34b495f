// The per-node rate limit: a token bucket per node (`burst` tokens, refilled at `perMinute`), the least recently seen
// nodes forgotten beyond a bound (they start afresh). Pure but for the clock, which the caller passes.
import { LruMap } from "./lru-map.ts";

export interface RateLimit {
  /** Requests a node may send at once. */
  burst: number;
  /** Requests per minute a node may sustain. */
  perMinute: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was counted (ms). */
  at: number;
}

export type RateVerdict = { ok: true } | { ok: false; retryAfterSeconds: number };

export class NodeRateLimiter {
  readonly #burst: number;
  /** Tokens per millisecond. */
  readonly #rate: number;
  readonly #buckets: LruMap<string, Bucket>;

  constructor({ burst, perMinute }: RateLimit, maxNodes: number) {
    if (!(burst >= 1) || !(perMinute > 0)) throw new RangeError("rate limit needs burst >= 1 and perMinute > 0");
    this.#burst = burst;
    this.#rate = perMinute / 60_000;
    this.#buckets = new LruMap(maxNodes);
  }

  /** Takes a token of `node`'s bucket at `nowMs`, or says how long until the next one (whole seconds, at least 1). */
  take(node: string, nowMs: number): RateVerdict {
    const bucket = this.#buckets.get(node) ?? { tokens: this.#burst, at: nowMs };
    const tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, nowMs - bucket.at) * this.#rate);
    if (tokens >= 1) {
      this.#buckets.set(node, { tokens: tokens - 1, at: nowMs });
      return { ok: true };
    }
    this.#buckets.set(node, { tokens, at: nowMs });
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.#rate / 1000)) };
  }
}

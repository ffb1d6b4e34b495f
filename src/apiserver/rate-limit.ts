// Per-node request budget (a token bucket per key). brupop's server had none, so one misbehaving agent could keep
// the API server and kube-apiserver busy; we answer 429 with Retry-After instead. Bounded in the number of keys.
import { LRUCache } from "lru-cache";

export interface RateLimitOptions {
  /** Requests allowed in a burst. */
  burst: number;
  /** Sustained requests per minute. */
  perMinute: number;
  /** Keys remembered (least recently used are forgotten, i.e. start with a full bucket). Default 10 000. */
  maxKeys?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class RateLimiter {
  readonly #buckets: LRUCache<string, Bucket>;
  readonly #options: RateLimitOptions;
  readonly #now: () => number;

  constructor(options: RateLimitOptions) {
    if (!(options.burst >= 1) || !(options.perMinute > 0)) {
      throw new RangeError("rate limit needs burst >= 1 and perMinute > 0");
    }
    this.#options = options;
    this.#buckets = new LRUCache({ max: options.maxKeys ?? 10_000 });
    this.#now = options.now ?? Date.now;
  }

  take(key: string): RateDecision {
    const now = this.#now();
    const perMs = this.#options.perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: this.#options.burst, at: now };
    const tokens = Math.min(this.#options.burst, bucket.tokens + (now - bucket.at) * perMs);
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now });
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)) };
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now });
    return { allowed: true };
  }
}

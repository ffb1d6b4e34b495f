// Remembered TokenReview verdicts, so an agent's requests do not each cost a TokenReview (brupop made one per
// request). Accepted tokens are kept until the token expires or a TTL passes, whichever is first; rejected ones only
// briefly, so a bad token cannot hammer kube-apiserver. Bounded (LRU). Keys are SHA-256 digests, never tokens.
//
// Only the token's verdict is cached. Whether its pod and node are still live is checked on every request against
// the informer caches, so a deleted pod or node revokes access at once.
import { createHash } from "node:crypto";
import type { IdentityResult } from "./authorize.ts";
import { LruMap } from "./lru-map.ts";

export interface ReviewCacheOptions {
  /** Default 10 000. */
  maxEntries?: number;
  /** Upper bound for an accepted token, default 5 min. */
  positiveTtlMs?: number;
  /** How long a rejected token stays rejected without asking again, default 10 s. */
  negativeTtlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface Entry {
  result: IdentityResult;
  expiresAt: number;
}

export class ReviewCache {
  readonly #entries: LruMap<string, Entry>;
  readonly #positiveTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #now: () => number;

  constructor(options: ReviewCacheOptions = {}) {
    this.#entries = new LruMap(options.maxEntries ?? 10_000);
    this.#positiveTtlMs = options.positiveTtlMs ?? 5 * 60_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  static key(token: string): string {
    return createHash("sha256").update(token).digest("hex");
  }

  get(key: string): IdentityResult | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.result;
  }

  /** Stores a verdict; `tokenExpiresAt` (the JWT's exp) caps how long an accepted token is trusted. */
  set(key: string, result: IdentityResult, tokenExpiresAt?: Date): void {
    const now = this.#now();
    const ttl = result.ok ? this.#positiveTtlMs : this.#negativeTtlMs;
    const expiresAt = Math.min(now + ttl, result.ok && tokenExpiresAt ? tokenExpiresAt.getTime() : Infinity);
    if (expiresAt <= now) return;
    this.#entries.set(key, { result, expiresAt });
  }

  get size(): number {
    return this.#entries.size;
  }
}

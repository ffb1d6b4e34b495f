import { describe, expect, it } from "vitest";
import type { IdentityResult } from "./authorize.ts";
import { ReviewCache } from "./review-cache.ts";

const accepted: IdentityResult = { ok: true, identity: { username: "u", podName: "p", podUid: "1" } };
const rejected: IdentityResult = { ok: false, status: 401, reason: "TokenRejected", message: "no" };

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("ReviewCache", () => {
  it("keeps an accepted token until its TTL", () => {
    const c = clock();
    const cache = new ReviewCache({ positiveTtlMs: 60_000, now: c.now });
    cache.set("k", accepted);
    c.advance(59_999);
    expect(cache.get("k")).toEqual(accepted);
    c.advance(1);
    expect(cache.get("k")).toBeUndefined();
  });

  it("never keeps an accepted token past its expiry", () => {
    const c = clock();
    const cache = new ReviewCache({ positiveTtlMs: 60_000, now: c.now });
    cache.set("k", accepted, new Date(c.now() + 5_000));
    c.advance(5_000);
    expect(cache.get("k")).toBeUndefined();
    cache.set("expired", accepted, new Date(c.now() - 1));
    expect(cache.get("expired")).toBeUndefined();
  });

  it("keeps a rejection only briefly, whatever the token's expiry", () => {
    const c = clock();
    const cache = new ReviewCache({ negativeTtlMs: 2_000, now: c.now });
    cache.set("k", rejected, new Date(c.now() + 3_600_000));
    c.advance(1_999);
    expect(cache.get("k")).toEqual(rejected);
    c.advance(1);
    expect(cache.get("k")).toBeUndefined();
  });

  it("is bounded", () => {
    const cache = new ReviewCache({ maxEntries: 3 });
    for (const k of ["a", "b", "c", "d"]) cache.set(k, accepted);
    expect(cache.size).toBe(3);
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("d")).toEqual(accepted);
  });

  it("keys by digest, not by the token", () => {
    const key = ReviewCache.key("secret.token.value");
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain("secret");
  });
});

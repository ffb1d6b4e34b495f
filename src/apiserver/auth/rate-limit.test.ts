import { describe, expect, it } from "vitest";
import { NodeRateLimiter } from "./rate-limit.ts";

describe("NodeRateLimiter", () => {
  it("lets a burst through, then one request per refill, and says when the next token comes", () => {
    const limiter = new NodeRateLimiter({ burst: 3, perMinute: 6 }, 100); // a token every 10 s
    expect([0, 0, 0].map((t) => limiter.take("a", t).ok)).toEqual([true, true, true]);
    expect(limiter.take("a", 0)).toEqual({ ok: false, retryAfterSeconds: 10 });
    expect(limiter.take("a", 4_000)).toEqual({ ok: false, retryAfterSeconds: 6 });
    expect(limiter.take("a", 10_000)).toEqual({ ok: true });
    expect(limiter.take("a", 10_000).ok).toBe(false);
    // Idle for long: the bucket is full again, never fuller.
    expect([0, 0, 0, 0].map(() => limiter.take("a", 600_000).ok)).toEqual([true, true, true, false]);
  });

  it("counts each node alone, and forgets the least recently seen beyond its bound", () => {
    const limiter = new NodeRateLimiter({ burst: 1, perMinute: 1 }, 2);
    expect(limiter.take("a", 0).ok).toBe(true);
    expect(limiter.take("b", 0).ok).toBe(true);
    expect(limiter.take("a", 0)).toEqual({ ok: false, retryAfterSeconds: 60 });
    expect(limiter.take("c", 0).ok).toBe(true); // b, least recently seen, is forgotten
    expect(limiter.take("b", 0).ok).toBe(true);
  });

  it("refuses a limit that lets nothing through", () => {
    expect(() => new NodeRateLimiter({ burst: 0, perMinute: 1 }, 1)).toThrow(RangeError);
    expect(() => new NodeRateLimiter({ burst: 1, perMinute: 0 }, 1)).toThrow(RangeError);
  });
});

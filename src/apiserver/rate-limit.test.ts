import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limit.ts";

describe("RateLimiter", () => {
  it("allows a burst, then refuses with Retry-After, then refills", () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 2, perMinute: 6, now: () => now });
    expect(limiter.take("n1")).toEqual({ allowed: true });
    expect(limiter.take("n1")).toEqual({ allowed: true });
    expect(limiter.take("n1")).toEqual({ allowed: false, retryAfterSeconds: 10 });
    expect(limiter.take("n2")).toEqual({ allowed: true }); // per key
    now += 10_000;
    expect(limiter.take("n1")).toEqual({ allowed: true });
    expect(limiter.take("n1").allowed).toBe(false);
  });

  it("rejects nonsense settings", () => {
    expect(() => new RateLimiter({ burst: 0, perMinute: 1 })).toThrow(RangeError);
    expect(() => new RateLimiter({ burst: 1, perMinute: 0 })).toThrow(RangeError);
  });
});

import { describe, expect, it } from "vitest";
import { ReviewArena, type Lease } from "./conversion.ts";

describe("ReviewArena", () => {
  it("lets reviews in while a range of their size is free, in order of arrival, and refuses beyond the waiting room", async () => {
    const budget = new ReviewArena(10, 2);
    const granted: string[] = [];
    const track = (name: string, waiting: Promise<Lease> | undefined) => {
      expect(waiting, `${name} may wait`).toBeDefined();
      return waiting?.then((lease) => {
        granted.push(name);
        return () => lease.release();
      });
    };
    const first = await track("first", budget.acquire(8));
    const second = track("second", budget.acquire(5)); // 8 + 5 > 10: waits
    const third = track("third", budget.acquire(1)); // would fit, but waits behind the second
    expect(budget.acquire(1)).toBeUndefined(); // two wait already: told to retry
    await Promise.resolve();
    expect(granted).toEqual(["first"]);

    first?.();
    first?.(); // releasing twice frees once: 6 bytes stay in flight
    const releases = await Promise.all([second, third]);
    expect(granted).toEqual(["first", "second", "third"]);
    const fourth = track("fourth", budget.acquire(5)); // 6 + 5 > 10: waits
    await Promise.resolve();
    expect(granted).toEqual(["first", "second", "third"]);
    for (const release of releases) release?.();
    (await fourth)?.();
    expect(granted).toEqual(["first", "second", "third", "fourth"]);

    // One review alone always fits.
    const alone = await track("alone", budget.acquire(10));
    expect(granted.at(-1)).toBe("alone");
    alone?.();
    expect(() => budget.acquire(11)).toThrow(RangeError);
  });
});

describe("ReviewArena's memory", () => {
  it("hands out ranges that do not overlap, and reuses one buffer", async () => {
    const arena = new ReviewArena(10, 4);
    const a = await arena.acquire(4);
    const b = await arena.acquire(4);
    a?.bytes.fill(1);
    b?.bytes.fill(2);
    expect([...(a?.bytes ?? [])]).toEqual([1, 1, 1, 1]);
    expect(b?.bytes.buffer).toBe(a?.bytes.buffer);
    a?.release();
    // A 5-byte review does not fit in the 4 freed bytes before b, nor the 2 after it: it waits for b.
    const c = arena.acquire(5);
    let cGranted = false;
    void c?.then(() => (cGranted = true));
    await Promise.resolve();
    expect(cGranted).toBe(false);
    b?.release();
    expect((await c)?.bytes.buffer).toBe(a?.bytes.buffer);
  });
});

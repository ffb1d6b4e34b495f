import { describe, expect, it } from "vitest";
import { ReviewBudget } from "./conversion.ts";

describe("ReviewBudget", () => {
  it("lets reviews in while their bytes fit, in order of arrival, and refuses beyond the waiting room", async () => {
    const budget = new ReviewBudget(10, 2);
    const granted: string[] = [];
    const track = (name: string, waiting: Promise<() => void> | undefined) => {
      expect(waiting, `${name} may wait`).toBeDefined();
      return waiting?.then((release) => {
        granted.push(name);
        return release;
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

    // One review alone always fits, however large.
    const alone = await track("alone", budget.acquire(50));
    expect(granted.at(-1)).toBe("alone");
    alone?.();
  });
});

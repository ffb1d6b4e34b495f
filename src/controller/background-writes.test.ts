import { describe, expect, it } from "vitest";
import { BackgroundWrites } from "./background-writes.ts";

/** A write that ends when the test says so. */
function held() {
  const done = Promise.withResolvers<undefined>();
  let started = false;
  return {
    write: () => {
      started = true;
      return done.promise;
    },
    started: () => started,
    end: () => done.resolve(undefined),
    fail: () => done.reject(new Error("refused")),
  };
}

describe("BackgroundWrites", () => {
  it("runs a few at once, the others in the order added, each key's end reported", async () => {
    const settled: string[] = [];
    const writes = new BackgroundWrites({ inFlight: 2, onSettled: (key) => settled.push(key) });
    const [a, b, c, d] = [held(), held(), held(), held()];
    for (const [key, w] of [
      ["a", a],
      ["b", b],
      ["c", c],
      ["d", d],
    ] as const)
      expect(writes.add(key, w.write)).toBe(true);
    await Promise.resolve();
    expect([a.started(), b.started(), c.started(), d.started()]).toEqual([true, true, false, false]);
    b.end();
    await expect.poll(() => c.started()).toBe(true);
    expect(d.started()).toBe(false);
    expect(settled).toEqual(["b"]);
    a.fail(); // a write that throws frees its place too
    await expect.poll(() => d.started()).toBe(true);
    c.end();
    d.end();
    await writes.settled();
    expect(settled).toEqual(["b", "a", "c", "d"]);
    expect(["a", "b", "c", "d"].map((k) => writes.pending(k))).toEqual([false, false, false, false]);
  });

  it("one write per key at a time: another is refused while it runs or waits", async () => {
    const writes = new BackgroundWrites({ inFlight: 1, onSettled: () => undefined });
    const [a, b, again] = [held(), held(), held()];
    writes.add("a", a.write);
    writes.add("b", b.write);
    expect(writes.add("a", again.write)).toBe(false); // running
    expect(writes.add("b", again.write)).toBe(false); // waiting
    expect(writes.pending("b")).toBe(true);
    a.end();
    b.end();
    await writes.settled();
    expect(again.started()).toBe(false);
    expect(writes.add("a", again.write)).toBe(true); // once it ended
    again.end();
    await writes.settled();
  });
});

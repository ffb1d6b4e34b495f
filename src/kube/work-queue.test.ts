import { describe, it, expect, vi, afterEach } from "vitest";
import { WorkQueue, runWorkers } from "./work-queue.ts";

afterEach(() => {
  vi.useRealTimers();
});

describe("WorkQueue", () => {
  it("coalesces repeated adds of a waiting key", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("reports how long each key waited ready for a worker", async () => {
    const waits: [string, number][] = [];
    const q = new WorkQueue<string>({ onWait: (key, ms) => waits.push([key, ms]) });
    const waiting = q.get(); // a worker already waits: "a" goes straight to it
    q.add("a");
    expect(await waiting).toBe("a");
    q.add("b");
    const readyAt = performance.now();
    while (performance.now() - readyAt < 20) await new Promise((r) => setImmediate(r)); // "b" sits in the queue
    expect(await q.get()).toBe("b");
    expect(waits.map(([k]) => k)).toEqual(["a", "b"]);
    expect(waits[0]?.[1]).toBe(0);
    expect(waits[1]?.[1]).toBeGreaterThanOrEqual(20);
  });

  it("never hands a key to two workers; a key added while processing comes back after done", async () => {
    const q = new WorkQueue();
    q.add("a");
    const first = await q.get();
    q.add("a"); // a change arrives while "a" is being reconciled
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(first ?? "");
    await Promise.resolve();
    expect(second).toBe("a");
  });

  it("addAfter keeps the earliest time per key", () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter("a", 1000);
    q.addAfter("a", 5000);
    q.addAfter("a", 300);
    expect(q.scheduled).toBe(1);
    vi.advanceTimersByTime(299);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(q.length).toBe(1);
  });

  it("backs a failing key off exponentially up to the cap, and forget resets it", () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    const delays = [1, 2, 3, 4, 5, 6].map(() => q.addRateLimited("a"));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    q.forget("a");
    expect(q.addRateLimited("a")).toBe(100);
    q.shutDown();
  });

  it("shutDown releases waiting workers", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add("a");
    expect(q.length).toBe(0);
  });
});

describe("runWorkers", () => {
  it("reconciles each key, retries failures with backoff and honours requeueAfter", async () => {
    const q = new WorkQueue({ baseDelayMs: 5 });
    const calls: string[] = [];
    let failOnce = true;
    const running = runWorkers(q, 2, async (key) => {
      calls.push(key);
      if (key === "flaky" && failOnce) {
        failOnce = false;
        throw new Error("transient");
      }
      if (key === "timer" && calls.filter((c) => c === "timer").length === 1) return { requeueAfterMs: 10 };
      return undefined;
    });
    q.add("flaky");
    q.add("timer");
    q.add("plain");
    await vi.waitFor(() => {
      expect(calls.filter((c) => c === "flaky")).toHaveLength(2);
      expect(calls.filter((c) => c === "timer")).toHaveLength(2);
    });
    expect(calls.filter((c) => c === "plain")).toHaveLength(1);
    expect(q.failures("flaky")).toBe(0);
    q.shutDown();
    await running;
  });

  it("processes one key at most once at a time even with many workers", async () => {
    const q = new WorkQueue();
    const started: string[] = [];
    const held: (() => void)[] = [];
    const inProcess = new Set<string>();
    const twice: string[] = [];
    // Every reconcile holds its key until the test lets go, so "while it is processed" is a fact, not a race.
    const running = runWorkers(q, 4, async (key) => {
      started.push(key);
      if (inProcess.has(key)) twice.push(key);
      inProcess.add(key);
      await new Promise<void>((release) => held.push(release));
      inProcess.delete(key);
      return undefined;
    });
    const startedAre = (...keys: string[]) => vi.waitFor(() => expect(started).toEqual(keys));
    q.add("same");
    await startedAre("same");
    for (let i = 0; i < 19; i++) q.add("same"); // changes arrive while it is being reconciled
    q.add("other");
    await startedAre("same", "other"); // a free worker took the next key, not the one in process
    held[0]?.(); // the first reconcile of "same" ends
    await startedAre("same", "other", "same"); // the 19 changes, coalesced, come back once
    q.add("marker");
    await startedAre("same", "other", "same", "marker"); // and nothing else was waiting before the marker
    expect(twice).toEqual([]);
    q.shutDown();
    for (const release of held) release();
    await running;
  });
});

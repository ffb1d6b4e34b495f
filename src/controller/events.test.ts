// The recorder's sending: a burst of Events goes out a few at a time, in order, so the controller's spec writes,
// which share its connections, never wait behind it; and flush() waits for every one of them.
import { describe, expect, it } from "vitest";
import type { KubeClient } from "../kube/client.ts";
import { EventRecorder } from "./events.ts";

function slowClient() {
  const calls: { reason: string; done: () => void }[] = [];
  const client = {
    create: (_path: string, body: { reason: string }) =>
      new Promise<void>((resolve) => calls.push({ reason: body.reason, done: resolve })),
  } as unknown as KubeClient;
  return { client, calls };
}

const node = { kind: "Node" as const, apiVersion: "v1", name: "n1" };
const note = (i: number) => ({ type: "Normal" as const, reason: `R${i}`, message: "m", action: "A" });

describe("EventRecorder", () => {
  it("records a blocking reason once until it changes or is forgotten, and says what it recorded", () => {
    const { client, calls } = slowClient();
    const events = new EventRecorder({ client, instance: "test" });
    expect(events.hasRecorded("n1", "budget-full")).toBe(false);
    expect(events.recordOnChange("n1", "budget-full", [node], note(1))).toBe(true);
    expect(events.hasRecorded("n1", "budget-full")).toBe(true);
    expect(events.hasRecorded("n1", "paused")).toBe(false);
    expect(events.recordOnChange("n1", "budget-full", [node], note(2))).toBe(false);
    expect(events.recordOnChange("n1", "paused", [node], note(3))).toBe(true);
    events.forget("n1");
    expect(events.hasRecorded("n1", "paused")).toBe(false);
    expect(events.recordOnChange("n1", "paused", [node], note(4))).toBe(true);
    expect(calls.map((c) => c.reason)).toEqual(["R1", "R3", "R4"]);
  });

  it("sends a burst a few at a time, in the order recorded, and flush waits for all of it", async () => {
    const { client, calls } = slowClient();
    const events = new EventRecorder({ client, instance: "test" });
    for (let i = 0; i < 10; i++) events.record([node], note(i));
    expect(calls.map((c) => c.reason)).toEqual(["R0", "R1", "R2", "R3"]);

    const state = { flushed: false };
    const flushing = events.flush().then(() => (state.flushed = true));
    calls[0]?.done();
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(calls.map((c) => c.reason)).toEqual(["R0", "R1", "R2", "R3", "R4"]);

    // Answer every request as it comes, until the last is answered.
    const answered = new Set<number>([0]);
    while (!state.flushed) {
      calls.forEach((c, i) => {
        if (answered.has(i)) return;
        answered.add(i);
        c.done();
      });
      await new Promise((r) => setImmediate(r));
    }
    await flushing;
    expect(state.flushed).toBe(true);
    expect(calls.map((c) => c.reason)).toEqual(Array.from({ length: 10 }, (_, i) => `R${i}`));
    expect(events.sent).toBe(10);
  });
});

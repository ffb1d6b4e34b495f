import { describe, expect, it } from "vitest";
import type { DrainStatus } from "../../api/drain.ts";
import { DrainRegistry, type DrainRunner } from "./registry.ts";

const status = (node: string, phase: DrainStatus["phase"], id = "d"): DrainStatus => ({
  id,
  node,
  phase,
  startedAt: "",
  message: phase,
  pods: [],
  skipped: [],
});

/** A drain that runs until aborted, reporting progress at once. */
const endless: DrainRunner = ({ node, id }, signal, onUpdate) => {
  onUpdate(status(node, "evicting", id));
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(status(node, "cancelled", id))));
};

describe("DrainRegistry", () => {
  it("runs one drain per node: a second start joins it", async () => {
    let runs = 0;
    const registry = new DrainRegistry({ run: (...args) => (runs++, endless(...args)) });
    const first = registry.start("a");
    const second = registry.start("a");
    expect([first.started, second.started]).toEqual([true, false]);
    expect(second.status().phase).toBe("evicting");
    expect(second.status().id).toBe(first.status().id); // joined: the same drain, the same identity
    registry.start("b");
    expect(runs).toBe(2);
    expect(registry.running).toBe(2);
    await registry.close();
    expect((await first.done).phase).toBe("cancelled");
    expect(registry.running).toBe(0);
  });

  it("starts anew after a drain finished, keeping the last result until then", async () => {
    let n = 0;
    const registry = new DrainRegistry({
      run: async ({ node, id }) => status(node, n++ === 0 ? "timed-out" : "drained", id),
    });
    await registry.start("a").done;
    expect(registry.status("a")?.phase).toBe("timed-out");
    const firstId = registry.status("a")?.id;
    const again = registry.start("a");
    expect(again.started).toBe(true);
    expect(again.status().id).not.toBe(firstId); // a new drain, a new identity
    await again.done;
    expect(registry.status("a")).toMatchObject({ phase: "drained", id: again.status().id });
  });

  it("forgets finished drains after the retention time", async () => {
    let now = 0;
    const registry = new DrainRegistry({
      run: async ({ node, id }) => status(node, "drained", id),
      retainMs: 1_000,
      now: () => now,
    });
    await registry.start("a").done;
    now = 999;
    expect(registry.status("a")).toBeDefined();
    now = 1_001;
    expect(registry.status("a")).toBeUndefined();
  });

  it("turns a crashing runner into a failed drain and reports the finish", async () => {
    const finished: string[] = [];
    const registry = new DrainRegistry({
      run: async () => {
        throw new Error("kaput");
      },
      onFinish: (s) => finished.push(s.phase),
    });
    const result = await registry.start("a").done;
    expect(result).toMatchObject({ phase: "failed", message: "drain crashed: kaput" });
    expect(finished).toEqual(["failed"]);
  });

  it("refuses new drains once closed", async () => {
    const registry = new DrainRegistry({ run: endless });
    await registry.close();
    expect(() => registry.start("a")).toThrow(/shutting down/);
  });
});

import { describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import type { PodRef } from "../../api/drain.ts";
import type { DrainPod } from "../../core/drain-plan.ts";
import { DEFAULT_DRAIN_OPTIONS, Drain, type DrainKube, type DrainOptions } from "./executor.ts";

const log = pino({ level: "silent" });
const fast: DrainOptions = {
  ...DEFAULT_DRAIN_OPTIONS,
  timeoutMs: 2_000,
  blockedRetryMs: 20,
  deletionPollMs: 10,
  backoffMinMs: 5,
  backoffMaxMs: 20,
};
const pod = (name: string, extra: Partial<DrainPod> = {}): DrainPod => ({
  namespace: "ns",
  name,
  uid: `uid-${name}`,
  ...extra,
});
const pdbRefusal = Object.assign(new Error("429"), {
  code: 429,
  body: JSON.stringify({
    message: "Cannot evict pod",
    details: {
      causes: [
        { type: "DisruptionBudget", message: "The disruption budget web needs 1 healthy pods and has 1 currently" },
      ],
    },
  }),
});

/** A node whose pods disappear when evicted; `refuse(pod)` returns an error to throw instead. */
function fakeNode(pods: DrainPod[], refuse: (pod: PodRef, attempt: number) => Error | undefined = () => undefined) {
  const onNode = new Map(pods.map((p) => [p.uid, p]));
  const attempts = new Map<string, number>();
  let inFlight = 0;
  const calls = { cordoned: 0, evicted: [] as string[], maxInFlight: 0 };
  /** The Node's drain annotation: set by the cordon, cleared by `uncordon()` (another replica's uncordon route). */
  let holder: string | undefined;
  const kube: DrainKube = {
    cordon: async (_node, id) => {
      calls.cordoned++;
      holder = id;
    },
    holder: async () => holder,
    listPods: async () => [...onNode.values()],
    evict: async (ref, grace) => {
      inFlight++;
      calls.maxInFlight = Math.max(calls.maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      const n = (attempts.get(ref.uid) ?? 0) + 1;
      attempts.set(ref.uid, n);
      const err = refuse(ref, n);
      if (err) throw err;
      calls.evicted.push(`${ref.name}${grace === undefined ? "" : `@${grace}`}`);
      onNode.delete(ref.uid);
    },
    budgetsFor: async () => ["from-lookup"],
  };
  const uncordon = () => (holder = undefined);
  const takeOver = (id: string) => (holder = id);
  return { kube, calls, onNode, attempts, uncordon, takeOver };
}

const run = (kube: DrainKube, options: Partial<DrainOptions> = {}, signal = new AbortController().signal) =>
  new Drain({ id: "d1", node: "n1", kube, options: { ...fast, ...options }, log }).run(signal);

describe("drainNode", () => {
  it("cordons, evicts every planned pod, leaves DaemonSet pods, and reports drained", async () => {
    const { kube, calls } = fakeNode([
      pod("a"),
      pod("b"),
      pod("ds", { ownerReferences: [{ kind: "DaemonSet", name: "agent", controller: true }] }),
    ]);
    const status = await run(kube, { gracePeriodSeconds: 7 });
    expect(calls.cordoned).toBe(1);
    expect(calls.evicted.sort()).toEqual(["a@7", "b@7"]);
    expect(status.phase).toBe("drained");
    expect(status.pods.map((p) => p.state)).toEqual(["gone", "gone"]);
    expect(status.skipped.map((s) => s.name)).toEqual(["ds"]);
  });

  it("bounds the evictions in flight", async () => {
    const { kube, calls } = fakeNode(Array.from({ length: 12 }, (_, i) => pod(`p${i}`)));
    await run(kube, { concurrency: 3 });
    expect(calls.evicted).toHaveLength(12);
    expect(calls.maxInFlight).toBe(3);
  });

  it("retries a budget refusal until it passes", async () => {
    const { kube, attempts } = fakeNode([pod("web")], (_, n) => (n < 3 ? pdbRefusal : undefined));
    const status = await run(kube);
    expect(status.phase).toBe("drained");
    expect(attempts.get("uid-web")).toBe(3);
  });

  it("times out on a budget that never allows, naming it", async () => {
    const { kube } = fakeNode([pod("web"), pod("free")], (ref) => (ref.name === "web" ? pdbRefusal : undefined));
    const status = await run(kube, { timeoutMs: 300 });
    expect(status.phase).toBe("timed-out");
    expect(status.pods.find((p) => p.name === "web")).toMatchObject({ state: "blocked", budgets: ["web"] });
    expect(status.pods.find((p) => p.name === "free")?.state).toBe("gone");
    expect(status.message).toMatch(
      /ns\/web blocked by PodDisruptionBudget web \(needs 1 healthy pods and has 1 currently\)$/,
    );
  });

  it("looks the budgets up when the refusal does not name them", async () => {
    const anonymous = Object.assign(new Error("500"), {
      code: 500,
      body: JSON.stringify({ message: "This pod has more than one PodDisruptionBudget" }),
    });
    const { kube } = fakeNode([pod("web")], () => anonymous);
    const status = await run(kube, { timeoutMs: 200 });
    expect(status.pods[0]).toMatchObject({ state: "blocked", budgets: ["from-lookup"] });
  });

  it("retries transient errors with backoff", async () => {
    const { kube, attempts } = fakeNode([pod("a")], (_, n) => (n < 4 ? new Error("ECONNRESET") : undefined));
    expect((await run(kube)).phase).toBe("drained");
    expect(attempts.get("uid-a")).toBe(4);
  });

  it("fails the drain when an eviction cannot succeed", async () => {
    const invalid = Object.assign(new Error("422"), { code: 422, body: JSON.stringify({ message: "invalid" }) });
    const { kube } = fakeNode([pod("a"), pod("b")], (ref) => (ref.name === "a" ? invalid : undefined));
    const status = await run(kube);
    expect(status.phase).toBe("failed");
    expect(status.message).toMatch(/could not evict 1 pod\(s\): ns\/a failed/);
  });

  it("waits for an evicted pod until its uid is gone, even if its name comes back", async () => {
    const { kube, onNode } = fakeNode([pod("web-0")]);
    const evict = kube.evict.bind(kube);
    // The pod lingers while terminating; then a new pod with the same name (new uid) appears.
    kube.evict = async (ref, grace) => {
      await evict(ref, grace);
      onNode.set(ref.uid, pod("web-0", { deletionTimestamp: new Date() }));
      setTimeout(() => {
        onNode.delete(ref.uid);
        onNode.set("uid-new", { ...pod("web-0"), uid: "uid-new" });
      }, 50);
    };
    const status = await run(kube);
    expect(status.phase).toBe("drained");
    expect(onNode.has("uid-new")).toBe(true);
  });

  it("stops waiting for pods terminating longer than the skip-wait-for-delete timeout", async () => {
    const stuck = pod("stuck", { deletionTimestamp: new Date(Date.now() - 1_000) });
    const { kube } = fakeNode([stuck]);
    const never = await run(kube, { timeoutMs: 200 });
    expect(never.phase).toBe("timed-out");
    const skipped = await run(fakeNode([stuck]).kube, { skipWaitForDeleteTimeoutSeconds: 0.5 });
    expect(skipped.phase).toBe("drained");
    expect(skipped.skipped).toMatchObject([{ name: "stuck", reason: "deletion-overdue" }]);
  });

  it("is cancelled by its signal, with the reason", async () => {
    const controller = new AbortController();
    // Aborted while it runs: at its first eviction, which the budget refuses.
    const { kube } = fakeNode([pod("web")], () => {
      controller.abort(new Error("uncordon requested"));
      return pdbRefusal;
    });
    const status = await run(kube, {}, controller.signal);
    expect(status.phase).toBe("cancelled");
    expect(status.message).toMatch(/uncordon requested/);
  });

  it("keeps retrying a failing cordon until the deadline and says so", async () => {
    const { kube } = fakeNode([]);
    kube.cordon = async () => {
      throw new Error('nodes "n1" is forbidden');
    };
    const status = await run(kube, { timeoutMs: 100 });
    expect(status.phase).toBe("timed-out");
    expect(status.message).toMatch(/while cordoning \(nodes "n1" is forbidden\)/);
  });

  it("marks the node with its identity, and stops when another replica uncordons the node (never 'drained')", async () => {
    const { kube, uncordon } = fakeNode([pod("web")], () => pdbRefusal);
    const drain = new Drain({ id: "d1", node: "n1", kube, options: fast, log });
    const running = drain.run(new AbortController().signal);
    expect(await kube.holder("n1")).toBe("d1");
    uncordon();
    const status = await running;
    expect(status).toMatchObject({ id: "d1", phase: "cancelled" });
    expect(status.message).toMatch(/the node was uncordoned/);
  });

  it("stops when another drain took the node over", async () => {
    const { kube, takeOver, attempts } = fakeNode([pod("web")], () => pdbRefusal);
    const running = new Drain({ id: "d1", node: "n1", kube, options: fast, log }).run(new AbortController().signal);
    // Taken over once the drain has cordoned the node and met the budget, i.e. while it waits to evict again.
    await vi.waitFor(async () => {
      expect(await kube.holder("n1")).toBe("d1");
      expect(attempts.get("uid-web")).toBeGreaterThanOrEqual(1);
    });
    takeOver("d2");
    expect((await running).message).toMatch(/another drain \(d2\) took the node over/);
  });

  it("is not 'drained' when the node was given back before it finished, even with nothing to evict", async () => {
    const { kube, uncordon } = fakeNode([]);
    const cordon = kube.cordon.bind(kube);
    kube.cordon = async (node, id) => {
      await cordon(node, id);
      uncordon(); // an uncordon that lands right after the cordon
    };
    expect((await run(kube)).phase).toBe("cancelled");
  });
});

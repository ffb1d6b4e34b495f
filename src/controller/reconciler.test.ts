// The Reconciler with in-memory caches and a recording client: what it writes, from which state, and what it
// refuses to write.
import { describe, expect, it } from "vitest";
import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import { EventRecorder } from "./events.ts";
import { ControllerMetrics } from "./metrics.ts";
import { FLEET_KEY, Reconciler, nodeKey, type Cache } from "./reconciler.ts";
import type { ShadowClient, ShadowWrite } from "./shadow-client.ts";

const NOW = new Date("2024-06-03T10:00:00.000Z");
const NS = "ops";

function cache<T extends { metadata?: { name?: string } }>(items: T[]): Cache<T> {
  return {
    get: (name) => items.find((i) => i.metadata?.name === name),
    list: () => items,
  };
}

function brs(node: string, state: "Idle" | "StagedAndPerformedUpdate", rv = "1", current = state): BottlerocketShadow {
  return {
    apiVersion: "brupop.bottlerocket.aws/v2",
    kind: "BottlerocketShadow",
    metadata: {
      name: `brs-${node}`,
      namespace: NS,
      uid: `uid-${node}`,
      resourceVersion: rv,
      ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: `node-${node}` }],
    },
    spec:
      state === "Idle"
        ? { state, version: null, state_transition_timestamp: null }
        : { state, version: "1.1.0", state_transition_timestamp: formatTimestamp(NOW) },
    status: { current_version: "1.0.0", target_version: "1.1.0", current_state: current, crash_count: 0 },
  };
}

function managedNode(name: string, labelled = true): V1Node {
  return {
    metadata: {
      name,
      uid: `node-${name}`,
      labels: labelled ? { "bottlerocket.aws/updater-interface-version": "2.0.0" } : {},
    },
  };
}

function setup(options: {
  cached: BottlerocketShadow[];
  fresh?: BottlerocketShadow[];
  nodes?: V1Node[];
  env?: Record<string, string>;
  conflictOn?: string;
  readNode?: V1Node;
}) {
  const writes: ShadowWrite[] = [];
  const deleted: string[] = [];
  const events: { namespace: string; reason: string; name: string }[] = [];
  const client = {
    list: async () => options.fresh ?? options.cached,
    writeSpec: async (write: ShadowWrite) => {
      if (write.name === options.conflictOn) throw Object.assign(new Error("conflict"), { code: 409 });
      writes.push(write);
      return {} as BottlerocketShadow;
    },
    delete: async (name: string) => {
      deleted.push(name);
    },
    writePolicyStatus: async () => undefined,
  } as unknown as ShadowClient;
  const core = {
    createNamespacedEvent: async (req: {
      namespace: string;
      body: { reason: string; involvedObject: { name: string } };
    }) => {
      events.push({ namespace: req.namespace, reason: req.body.reason, name: req.body.involvedObject.name });
      return {};
    },
  } as unknown as CoreV1Api;
  const recorder = new EventRecorder({ core, instance: "test" });
  let fleetEnqueued = 0;
  const reconciler = new Reconciler({
    namespace: NS,
    controllerNodeName: null,
    env: options.env ?? { MAX_CONCURRENT_UPDATE: "2" },
    shadows: cache(options.cached),
    nodes: cache(options.nodes ?? options.cached.map((s) => managedNode(s.metadata.ownerReferences?.[0]?.name ?? ""))),
    policies: cache<BottlerocketUpdatePolicy>([]),
    client,
    readNode: async () => options.readNode,
    events: recorder,
    metrics: new ControllerMetrics(),
    log: { info: () => undefined, warn: () => undefined },
    clock: () => NOW,
    enqueueFleet: () => fleetEnqueued++,
  });
  return { reconciler, writes, deleted, events, recorder, fleetEnqueued: () => fleetEnqueued };
}

describe("Reconciler: the fleet", () => {
  it("starts up to the budget, in order, each write carrying the resourceVersion it decided from", async () => {
    const { reconciler, writes } = setup({ cached: ["a", "b", "c"].map((n) => brs(n, "Idle", `rv-${n}`)) });
    await reconciler.reconcile(FLEET_KEY);
    expect(writes.map((w) => [w.name, w.resourceVersion, w.spec.state, w.spec.version])).toEqual([
      ["brs-a", "rv-a", "StagedAndPerformedUpdate", "1.1.0"],
      ["brs-b", "rv-b", "StagedAndPerformedUpdate", "1.1.0"],
    ]);
  });

  it("grants budget from the consistent read, not from a lagging cache", async () => {
    // The cache has not seen that a and b already started (say, by the previous leader); the API server has.
    const cached = ["a", "b", "c"].map((n) => brs(n, "Idle"));
    const fresh = [
      brs("a", "StagedAndPerformedUpdate", "7"),
      brs("b", "StagedAndPerformedUpdate", "8"),
      brs("c", "Idle"),
    ];
    const { reconciler, writes } = setup({ cached, fresh });
    await reconciler.reconcile(FLEET_KEY);
    expect(writes).toEqual([]);
  });

  it("stops granting at a conflict and asks to decide again", async () => {
    const { reconciler, writes } = setup({ cached: ["a", "b", "c"].map((n) => brs(n, "Idle")), conflictOn: "brs-a" });
    expect(await reconciler.reconcile(FLEET_KEY)).toEqual({ requeueAfterMs: 50 });
    expect(writes).toEqual([]);
  });

  it("explains a wait once per reason, on the shadow and on the Node (in default)", async () => {
    const { reconciler, events, recorder } = setup({
      cached: ["a", "b", "c"].map((n) => brs(n, "Idle")),
      env: { MAX_CONCURRENT_UPDATE: "0" },
    });
    await reconciler.reconcile(FLEET_KEY);
    await reconciler.reconcile(FLEET_KEY);
    await recorder.flush();
    const budgetFull = events.filter((e) => e.reason === "BudgetFull");
    expect(budgetFull).toHaveLength(6);
    expect(budgetFull.filter((e) => e.namespace === "default").map((e) => e.name)).toEqual(["a", "b", "c"]);
  });

  it("starts nothing while the policy is invalid", async () => {
    const { reconciler, writes, events, recorder } = setup({
      cached: [brs("a", "Idle")],
      env: { MAX_CONCURRENT_UPDATE: "lots" },
    });
    await reconciler.reconcile(FLEET_KEY);
    await recorder.flush();
    expect(writes).toEqual([]);
    expect(events).toEqual([]); // no policy object to put the Event on; the error is logged
  });
});

describe("Reconciler: one node", () => {
  it("advances a node that reached its desired state, and never starts one", async () => {
    const reached = brs("a", "StagedAndPerformedUpdate", "5");
    const { reconciler, writes, fleetEnqueued } = setup({ cached: [reached, brs("b", "Idle")] });
    await reconciler.reconcile(nodeKey("a"));
    expect(writes.map((w) => [w.name, w.resourceVersion, w.spec.state])).toEqual([
      ["brs-a", "5", "RebootedIntoUpdate"],
    ]);
    await reconciler.reconcile(nodeKey("b"));
    expect(writes).toHaveLength(1); // b wants to start: that is the fleet's decision
    expect(fleetEnqueued()).toBe(2);
  });

  it("asks to be requeued at the step's timeout", async () => {
    const inProgress = brs("a", "StagedAndPerformedUpdate", "5", "Idle");
    const { reconciler } = setup({ cached: [inProgress] });
    expect(await reconciler.reconcile(nodeKey("a"))).toEqual({ requeueAfterMs: 720_000 });
  });

  it("deletes the shadow of an existing node without the label, but not of a deleted or labelled one", async () => {
    const lost = setup({ cached: [brs("a", "Idle")], nodes: [], readNode: managedNode("a", false) });
    await lost.reconciler.reconcile(nodeKey("a"));
    expect(lost.deleted).toEqual(["brs-a"]);
    const gone = setup({ cached: [brs("a", "Idle")], nodes: [] });
    await gone.reconciler.reconcile(nodeKey("a"));
    expect(gone.deleted).toEqual([]);
    const lagging = setup({ cached: [brs("a", "Idle")], nodes: [], readNode: managedNode("a") });
    await lagging.reconciler.reconcile(nodeKey("a"));
    expect(lagging.deleted).toEqual([]);
  });
});

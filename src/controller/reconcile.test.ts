// The node and fleet reconciles with in-memory caches and recording clients: what they write, from which state,
// and what they refuse to write. (test/integration/controller*.test.ts run them against the real API server.)
import { describe, expect, it } from "vitest";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import { ANNOTATION_DRAIN } from "../api/constants.ts";
import type { BottlerocketShadow, Condition } from "../api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyStatus } from "../api/update-policy.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import type { AnnotationPatch } from "../core/model.ts";
import { EventRecorder } from "./events.ts";
import { ControllerMetrics } from "./metrics.ts";
import { FleetReconciler } from "./fleet-reconciler.ts";
import { gateNode, gatePod } from "./gate-observer.ts";
import type { FleetState } from "./fleet-state.ts";
import type { NodeClient } from "./node-client.ts";
import { NodeReconciler } from "./node-reconciler.ts";
import { PolicySource } from "./policy-source.ts";
import { FLEET_KEY, errorPolicy, type Cache } from "./reconcile.ts";
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

function managedNode(
  name: string,
  labelled = true,
  o: { cordonedByDrain?: boolean; ready?: "True" | "False" } = {},
): V1Node {
  return {
    metadata: {
      name,
      uid: `node-${name}`,
      resourceVersion: `node-rv-${name}`,
      labels: labelled ? { "bottlerocket.aws/updater-interface-version": "2.0.0" } : {},
      annotations: o.cordonedByDrain === true ? { [ANNOTATION_DRAIN]: "d-1" } : {},
    },
    spec: { unschedulable: o.cordonedByDrain === true },
    status: { conditions: [{ type: "Ready", status: o.ready ?? "True" }] },
  };
}

/** A shadow whose spec went back to Idle `secondsAgo` while its agent still reports `current`. */
function returning(node: string, secondsAgo: number, current: "RebootedIntoUpdate" | "ErrorReset"): BottlerocketShadow {
  const base = brs(node, "Idle");
  return {
    ...base,
    spec: {
      state: "Idle",
      version: "1.1.0",
      state_transition_timestamp: formatTimestamp(new Date(NOW.getTime() - secondsAgo * 1000)),
    },
    status: { current_version: "1.0.0", target_version: "1.1.0", current_state: current, crash_count: 1 },
  };
}

function setup(options: {
  cached: BottlerocketShadow[];
  fresh?: BottlerocketShadow[];
  nodes?: V1Node[];
  env?: Record<string, string>;
  conflictOn?: string;
  /** A Node whose annotation patch answers 409. */
  conflictOnNode?: string;
  readNode?: V1Node;
  policy?: BottlerocketUpdatePolicy;
  triggerConsumedAt?: Date;
  /** The controller's clock (default: NOW, standing still). */
  clock?: () => Date;
  /** Runs at each consistent read (e.g. moves the clock on, as a read takes time). */
  onList?: () => void;
  /** Runs at each spec write (e.g. moves the clock on, as a write takes time). */
  onWrite?: () => void;
  /** Pods on every node, for the health gates. */
  pods?: V1Pod[];
  /** The HTTP code the conditions written after a spec answer with (a failed JSON patch test is 422). */
  conditionsAfterFail?: number;
  /** Holds each write of the conditions after a spec until it resolves (or rejects with what it rejects with). */
  conditionsAfterHeld?: Promise<void>;
  /** The reconciles' signal (aborted: the lease was lost). */
  signal?: AbortSignal;
}) {
  const writes: ShadowWrite[] = [];
  let lists = 0;
  /** Every write, shadow spec, shadow conditions or Node annotation, in order: `spec brs-a`, `conditions brs-a`, `annotate a`. */
  const order: string[] = [];
  const annotated: [string, string, AnnotationPatch][] = [];
  const deleted: string[] = [];
  const released: [string, string][] = [];
  const conditions: [string, Condition[]][] = [];
  const consumed: Date[] = [];
  const events: { namespace: string; reason: string; name: string }[] = [];
  const statuses: UpdatePolicyStatus[] = [];
  const client = {
    list: async () => {
      lists++;
      options.onList?.();
      return options.fresh ?? options.cached;
    },
    writeSpec: async (write: ShadowWrite) => {
      if (write.name === options.conflictOn) throw Object.assign(new Error("conflict"), { code: 409 });
      options.onWrite?.();
      writes.push(write);
      order.push(`spec ${write.name}`);
      const before = [...(options.fresh ?? []), ...options.cached].find((c) => c.metadata.name === write.name);
      // A spec change raises the generation, as kube-apiserver does.
      const generation = (before?.metadata.generation ?? 0) + 1;
      const annotations = Object.fromEntries(
        Object.entries({ ...before?.metadata.annotations, ...write.annotations }).filter(
          (entry): entry is [string, string] => entry[1] !== null,
        ),
      );
      return {
        ...before,
        metadata: { ...before?.metadata, resourceVersion: "written", generation, annotations },
        spec: write.spec,
      };
    },
    delete: async (name: string) => {
      deleted.push(name);
    },
    writePolicyStatus: async (_policy: BottlerocketUpdatePolicy, status: UpdatePolicyStatus) => {
      statuses.push(status);
    },
    writeConditionsAfter: async (shadow: BottlerocketShadow, written: Condition[]) => {
      const name = shadow.metadata.name ?? "";
      await options.conditionsAfterHeld;
      if (options.conditionsAfterFail !== undefined) {
        throw Object.assign(new Error("refused"), { code: options.conditionsAfterFail });
      }
      conditions.push([name, written]);
      order.push(`conditions after ${name}`);
      return { ...shadow, status: { ...shadow.status, conditions: written } };
    },
    writeConditions: async (name: string, _resourceVersion: string, written: Condition[]) => {
      conditions.push([name, written]);
      order.push(`conditions ${name}`);
      const before = [...(options.fresh ?? []), ...options.cached].find((c) => c.metadata.name === name);
      return {
        ...before,
        metadata: { ...before?.metadata, resourceVersion: "conditions-written" },
        status: { ...before?.status, conditions: written },
      };
    },
  } as unknown as ShadowClient;
  const kube = {
    create: async (path: string, body: { reason: string; involvedObject: { name: string } }) => {
      const namespace = /\/namespaces\/([^/]+)\/events$/.exec(path)?.[1] ?? "";
      events.push({ namespace, reason: body.reason, name: body.involvedObject.name });
      return {};
    },
  } as unknown as KubeClient;
  const recorder = new EventRecorder({ client: kube, instance: "test" });
  const log = { info: () => undefined, warn: () => undefined };
  const nodes = options.nodes ?? options.cached.map((s) => managedNode(s.metadata.ownerReferences?.[0]?.name ?? ""));
  const nodeClient = {
    read: async (name: string) => nodes.find((n) => n.metadata?.name === name) ?? options.readNode,
    release: async (name: string, resourceVersion: string) => {
      released.push([name, resourceVersion]);
    },
    annotate: async (name: string, resourceVersion: string, patch: AnnotationPatch) => {
      if (name === options.conflictOnNode) throw Object.assign(new Error("conflict"), { code: 409 });
      annotated.push([name, resourceVersion, patch]);
      order.push(`annotate ${name}`);
    },
  } as unknown as NodeClient;
  const fleetState: FleetState = {
    triggerConsumedAt: async (now) => options.triggerConsumedAt ?? now,
    consumeTrigger: async (at) => {
      consumed.push(at);
    },
  };
  let fleetEnqueued = 0;
  const enqueuedNodes: string[] = [];
  const context = {
    namespace: NS,
    controllerNodeName: null,
    shadows: cache(options.cached),
    nodes: cache(nodes),
    policy: new PolicySource({
      env: options.env ?? { MAX_CONCURRENT_UPDATE: "2" },
      policies: cache<BottlerocketUpdatePolicy>(options.policy === undefined ? [] : [options.policy]),
      namespace: NS,
      events: recorder,
      log,
    }),
    shadowClient: client,
    nodeClient,
    // What the API server would answer, without the HTTP (gate-observer.ts's reading of it is its own).
    gateObserver: {
      observe: async (_gates: unknown, subject: { node: V1Node | undefined }) => ({
        node: subject.node === undefined ? null : gateNode(subject.node),
        pods: { ok: true as const, value: (options.pods ?? []).map(gatePod) },
      }),
    },
    // No policy here has hooks (docs/design/hooks.md; test/e2e/hooks.test.ts calls real ones).
    callHook: () => Promise.reject(new Error("no hook is configured in these tests")),
    fleetState,
    events: recorder,
    metrics: new ControllerMetrics(),
    log,
    clock: options.clock ?? (() => NOW),
    enqueueFleet: () => fleetEnqueued++,
    enqueueNode: (name: string) => enqueuedNodes.push(name),
  };
  const signal = options.signal ?? new AbortController().signal;
  const fleet = new FleetReconciler(context);
  const node = new NodeReconciler(context);
  const reconciler = {
    fleet: () => fleet.reconcile(signal),
    /** One node reconcile, and the writes it left running in the background. */
    node: async (name: string) => {
      const result = await node.reconcile(name, signal);
      await node.outcomesWritten();
      return result;
    },
    /** One node reconcile alone: what the worker waits for. */
    nodeOnly: (name: string) => node.reconcile(name, signal),
    outcomesWritten: () => node.outcomesWritten(),
  };
  return {
    reconciler,
    writes,
    order,
    annotated,
    deleted,
    released,
    conditions,
    consumed,
    events,
    statuses,
    recorder,
    fleetEnqueued: () => fleetEnqueued,
    enqueuedNodes,
    lists: () => lists,
  };
}

describe("Reconciler: the fleet", () => {
  it("starts up to the budget, in order, each write carrying the resourceVersion it decided from", async () => {
    const { reconciler, writes } = setup({ cached: ["a", "b", "c"].map((n) => brs(n, "Idle", `rv-${n}`)) });
    await reconciler.fleet();
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
    await reconciler.fleet();
    expect(writes).toEqual([]);
  });

  it("fails the pass at a conflict, and the error policy has it decide again at once", async () => {
    const { reconciler, writes } = setup({ cached: ["a", "b", "c"].map((n) => brs(n, "Idle")), conflictOn: "brs-a" });
    const conflict = await reconciler.fleet().catch((error: unknown) => error);
    expect(errorPolicy(FLEET_KEY, conflict)).toEqual({ requeueAfterMs: 50 });
    // The starts are written together: b's, already in flight, lands; a's conflicted.
    expect(writes.map((w) => w.name)).toEqual(["brs-b"]);
  });

  it("explains a wait once per reason, on the shadow and on the Node (in default)", async () => {
    const { reconciler, events, recorder } = setup({
      cached: ["a", "b", "c"].map((n) => brs(n, "Idle")),
      env: { MAX_CONCURRENT_UPDATE: "0" },
    });
    await reconciler.fleet();
    await reconciler.fleet();
    await recorder.flush();
    const budgetFull = events.filter((e) => e.reason === "BudgetFull");
    expect(budgetFull).toHaveLength(6);
    expect(budgetFull.filter((e) => e.namespace === "default").map((e) => e.name)).toEqual(["a", "b", "c"]);
  });

  it("paces its consistent reads: a pass within three read-times of the last read waits for the next", async () => {
    let now = NOW.getTime();
    const cached = ["a", "b", "c", "d"].map((n) => brs(n, "Idle"));
    const { reconciler, writes, lists } = setup({
      cached,
      clock: () => new Date(now),
      onList: () => (now += 400), // each read takes 400 ms
      env: { MAX_CONCURRENT_UPDATE: "1" },
    });
    await reconciler.fleet();
    expect([lists(), writes.length]).toEqual([1, 1]);
    // A start is still wanted (the cache has not seen a's): the next pass may run a second after this one (its
    // own pacing stops there), but no read is due before 1.2 s after the last.
    now += 1_000;
    expect(await reconciler.fleet()).toEqual({ requeueAfterMs: 200 });
    expect([lists(), writes.length]).toEqual([1, 1]);
    now += 200;
    await reconciler.fleet();
    expect(lists()).toBe(2);
  });

  it("paces its passes: the next pass waits three times as long as the last took, at most a second", async () => {
    let now = NOW.getTime();
    const { reconciler, writes, lists } = setup({
      cached: ["a", "b"].map((n) => brs(n, "Idle")),
      clock: () => new Date(now),
      onList: () => (now += 10),
      onWrite: () => (now += 90), // the pass took 100 ms: a read and a start
      env: { MAX_CONCURRENT_UPDATE: "1" },
    });
    await reconciler.fleet();
    expect([lists(), writes.length]).toEqual([1, 1]);
    // A read would be due 30 ms after the last one ended; the pass waits 300 ms after the last pass ended.
    now += 50;
    expect(await reconciler.fleet()).toEqual({ requeueAfterMs: 250 });
    expect([lists(), writes.length]).toEqual([1, 1]);
    now += 250;
    await reconciler.fleet();
    expect(lists()).toBe(2);

    // A pass that waited on writes for long is followed by a pause of a second, not three times as long.
    const slow = setup({
      cached: ["a", "b"].map((n) => brs(n, "Idle")),
      clock: () => new Date(now),
      onWrite: () => (now += 5_000),
      env: { MAX_CONCURRENT_UPDATE: "1" },
    });
    await slow.reconciler.fleet();
    now += 400;
    expect(await slow.reconciler.fleet()).toEqual({ requeueAfterMs: 600 });

    // The clock set back an hour: the pass and its read run at once (a starts again: this API server never took
    // the first start).
    now -= 3_600_000;
    await slow.reconciler.fleet();
    expect(slow.writes.map((w) => w.name)).toEqual(["brs-a", "brs-a"]);
  });

  it("starts nothing while the policy is invalid", async () => {
    const { reconciler, writes, events, recorder } = setup({
      cached: [brs("a", "Idle")],
      env: { MAX_CONCURRENT_UPDATE: "lots" },
    });
    await reconciler.fleet();
    await recorder.flush();
    expect(writes).toEqual([]);
    expect(events).toEqual([]); // no policy object to put the Event on; the error is logged
  });
});

describe("a dry run (policy spec.dryRun)", () => {
  const policy = (spec: Record<string, unknown>): BottlerocketUpdatePolicy => ({
    apiVersion: "brupop.bottlerocket.aws/v1alpha1",
    kind: "BottlerocketUpdatePolicy",
    metadata: { name: "default", namespace: NS, generation: 1, uid: "policy-uid" },
    spec,
  });

  it("starts nothing, publishes the plan in the policy status and one PlanPublished Event per change", async () => {
    const inFlight = brs("a", "StagedAndPerformedUpdate", "5", "Idle");
    const { reconciler, writes, statuses, events, recorder } = setup({
      cached: [inFlight, ...["b", "c", "d"].map((n) => brs(n, "Idle"))],
      policy: policy({ dryRun: true }),
    });
    await reconciler.fleet();
    await reconciler.fleet();
    await recorder.flush();
    expect(writes).toEqual([]);
    const status = statuses.at(-1);
    expect(status?.dryRun).toBe(true);
    // Budget 2 with a in flight (started now, as b would): b now, then c and d once both finish.
    expect(status?.plan).toMatchObject({ waves: 2, nodes: 3, inFlight: 1, notPlanned: 0 });
    expect(status?.plan?.entries.map((e) => [e.wave, e.node, e.estimated])).toEqual([
      [1, "b", false],
      [2, "c", true],
      [2, "d", true],
    ]);
    expect(events.filter((e) => e.reason === "PlanPublished").map((e) => e.name)).toEqual(["default"]);
  });

  it("turned off: the nodes the plan had first start, and the status drops the plan", async () => {
    const { reconciler, writes, statuses } = setup({
      cached: [brs("a", "StagedAndPerformedUpdate", "5", "Idle"), ...["b", "c", "d"].map((n) => brs(n, "Idle"))],
      policy: policy({ dryRun: false }),
    });
    await reconciler.fleet();
    expect(writes.map((w) => w.name)).toEqual(["brs-b"]);
    expect(statuses.at(-1)?.plan).toBeUndefined();
    expect(statuses.at(-1)?.dryRun).toBeUndefined();
  });
});

describe("Reconciler: one node", () => {
  it("advances a node that reached its desired state, and never starts one", async () => {
    const reached = brs("a", "StagedAndPerformedUpdate", "5");
    const { reconciler, writes, fleetEnqueued } = setup({ cached: [reached, brs("b", "Idle")] });
    await reconciler.node("a");
    expect(writes.map((w) => [w.name, w.resourceVersion, w.spec.state])).toEqual([
      ["brs-a", "5", "RebootedIntoUpdate"],
    ]);
    await reconciler.node("b");
    expect(writes).toHaveLength(1); // b wants to start: that is the fleet's decision
    expect(fleetEnqueued()).toBe(2);
  });

  it("decides nothing from a cache that does not hold its last spec write yet; a shadow made again is its own", async () => {
    const base = brs("a", "StagedAndPerformedUpdate", "5");
    const reached = { ...base, metadata: { ...base.metadata, generation: 3 } };
    const cached: BottlerocketShadow[] = [reached];
    const { reconciler, writes } = setup({ cached });
    await reconciler.node("a");
    // Another event of the node (its Node, a status) before the watch brings the write back: nothing to decide.
    await reconciler.node("a");
    expect(writes.map((w) => w.spec.state)).toEqual(["RebootedIntoUpdate"]);
    // The write arrives (generation 4), and the agent reaches it: the next step.
    const rebooted: BottlerocketShadow = {
      ...reached,
      metadata: { ...reached.metadata, resourceVersion: "6", generation: 4 },
      spec: { ...reached.spec, state: "RebootedIntoUpdate" },
      status: {
        current_version: "1.0.0",
        target_version: "1.1.0",
        current_state: "RebootedIntoUpdate",
        crash_count: 0,
      },
    };
    cached[0] = rebooted;
    await reconciler.node("a");
    expect(writes.map((w) => [w.spec.state, w.resourceVersion])).toEqual([
      ["RebootedIntoUpdate", "5"],
      ["MonitoringUpdate", "6"],
    ]);
    // Deleted and made again (a new uid, generation 1), caught mid-update: decided at once.
    cached[0] = { ...reached, metadata: { ...reached.metadata, uid: "uid-a-2", resourceVersion: "9", generation: 1 } };
    await reconciler.node("a");
    expect(writes).toHaveLength(3);
    expect(writes[2]).toMatchObject({ resourceVersion: "9", spec: { state: "RebootedIntoUpdate" } });
  });

  it("asks to be requeued at the step's timeout", async () => {
    const inProgress = brs("a", "StagedAndPerformedUpdate", "5", "Idle");
    const { reconciler } = setup({ cached: [inProgress] });
    expect(await reconciler.node("a")).toEqual({ requeueAfterMs: 900_000 });
  });

  it("deletes the shadow of an existing node without the label, but not of a deleted or labelled one", async () => {
    const lost = setup({ cached: [brs("a", "Idle")], nodes: [], readNode: managedNode("a", false) });
    await lost.reconciler.node("a");
    expect(lost.deleted).toEqual(["brs-a"]);
    const gone = setup({ cached: [brs("a", "Idle")], nodes: [] });
    await gone.reconciler.node("a");
    expect(gone.deleted).toEqual([]);
    const lagging = setup({ cached: [brs("a", "Idle")], nodes: [], readNode: managedNode("a") });
    await lagging.reconciler.node("a");
    expect(lagging.deleted).toEqual([]);
  });
});

describe("a stuck node (its agent has not reported Idle within the Idle timeout)", () => {
  it("is uncordoned by the controller when Ready and cordoned by the operator's drain", async () => {
    const stuck = returning("a", 600, "ErrorReset");
    const ours = setup({ cached: [stuck], nodes: [managedNode("a", true, { cordonedByDrain: true })] });
    await ours.reconciler.node("a");
    await ours.recorder.flush();
    expect(ours.released).toEqual([["a", "node-rv-a"]]); // conditional on the Node it decided from
    expect(ours.events.filter((e) => e.reason === "NodeReleased").map((e) => e.name)).toEqual(["brs-a", "a"]);
    expect(ours.writes).toEqual([]);
    // Reported on the shadow: Stuck=True, with the reason the Event gives.
    expect(ours.conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "Stuck", status: "True", reason: "AgentUnresponsive" })]],
    ]);
  });

  it("is left cordoned while NotReady, while its agent may still come back, or when someone else cordoned it", async () => {
    const notReady = setup({
      cached: [returning("a", 600, "ErrorReset")],
      nodes: [managedNode("a", true, { cordonedByDrain: true, ready: "False" })],
    });
    await notReady.reconciler.node("a");
    const early = setup({
      cached: [returning("a", 60, "ErrorReset")],
      nodes: [managedNode("a", true, { cordonedByDrain: true })],
    });
    await early.reconciler.node("a");
    const cordonedByOthers = managedNode("a");
    cordonedByOthers.spec = { unschedulable: true };
    const others = setup({ cached: [returning("a", 600, "ErrorReset")], nodes: [cordonedByOthers] });
    await others.reconciler.node("a");
    expect([notReady.released, early.released, others.released]).toEqual([[], [], []]);
  });

  it("uses budget only while disrupted: a Ready, schedulable stuck node lets the others go on", async () => {
    const env = { MAX_CONCURRENT_UPDATE: "1" };
    const free = setup({ cached: [returning("a", 600, "RebootedIntoUpdate"), brs("b", "Idle")], env });
    await free.reconciler.fleet();
    expect(free.writes.map((w) => w.name)).toEqual(["brs-b"]);
    const down = setup({
      cached: [returning("a", 600, "RebootedIntoUpdate"), brs("b", "Idle")],
      nodes: [managedNode("a", true, { ready: "False" }), managedNode("b")],
      env,
    });
    await down.reconciler.fleet();
    expect(down.writes).toEqual([]);
    await down.recorder.flush();
    expect(down.events.filter((e) => e.reason === "NodeStuck").map((e) => e.name)).toEqual(["brs-a", "a"]);
  });
});

describe("a node that left MANAGED_NODE_SELECTOR (labelled, not in the managed cache)", () => {
  it("is seen through an update already started, and left alone once idle", async () => {
    const labelled = managedNode("a");
    const inFlight = setup({ cached: [brs("a", "StagedAndPerformedUpdate", "5")], nodes: [], readNode: labelled });
    await inFlight.reconciler.node("a");
    expect(inFlight.writes.map((w) => w.spec.state)).toEqual(["RebootedIntoUpdate"]);
    const finished = brs("a", "Idle");
    finished.spec = { state: "Idle", version: "1.1.0", state_transition_timestamp: formatTimestamp(NOW) };
    finished.status = { current_version: "1.1.0", target_version: "1.1.0", current_state: "Idle", crash_count: 0 };
    const idle = setup({ cached: [finished], nodes: [], readNode: labelled });
    await idle.reconciler.node("a");
    expect(idle.writes).toEqual([]); // not even the clearing of its finished spec: it is not this controller's
  });
});

describe("one-shot schedules", () => {
  it("start nothing from a trigger the fleet's record says was consumed, and record a session that ran dry", async () => {
    // Fires every day at 09:00:00; NOW is 10:00 on a Monday.
    const env = { MAX_CONCURRENT_UPDATE: "1", SCHEDULER_CRON_EXPRESSION: "0 0 9 * * *" };
    const consumedAfterTrigger = setup({
      cached: [brs("a", "Idle")],
      env,
      triggerConsumedAt: new Date(NOW.getTime() - 30 * 60_000),
    });
    await consumedAfterTrigger.reconciler.fleet();
    expect(consumedAfterTrigger.writes).toEqual([]);
    const open = setup({ cached: [brs("a", "Idle")], env, triggerConsumedAt: new Date(NOW.getTime() - 2 * 3600_000) });
    await open.reconciler.fleet();
    expect(open.writes.map((w) => w.name)).toEqual(["brs-a"]);
    const dry = setup({ cached: [brs("a", "StagedAndPerformedUpdate")], env, triggerConsumedAt: new Date(0) });
    await dry.reconciler.fleet();
    expect(dry.consumed).toEqual([NOW]);
  });
});

describe("the do-not-disrupt annotations (src/core/do-not-disrupt.ts)", () => {
  const KARPENTER = "karpenter.sh/do-not-disrupt";
  const CA = "cluster-autoscaler.kubernetes.io/scale-down-disabled";
  const ADDED = "brupop.bottlerocket.aws/added-annotations";
  const GUARD = { [KARPENTER]: "true", [CA]: "true", [ADDED]: `${CA},${KARPENTER}` };
  const UNGUARD = { [KARPENTER]: null, [CA]: null, [ADDED]: null };
  const guarded = (name: string): V1Node => {
    const node = managedNode(name);
    return { ...node, metadata: { ...node.metadata, annotations: { ...GUARD } } };
  };
  const policy = (spec: BottlerocketUpdatePolicy["spec"]): BottlerocketUpdatePolicy => ({
    apiVersion: "brupop.bottlerocket.aws/v1alpha1",
    kind: "BottlerocketUpdatePolicy",
    metadata: { name: "default", namespace: NS },
    spec,
  });

  it("are on each node before its start is written, conditional on the Node's resourceVersion", async () => {
    const { reconciler, order, annotated } = setup({ cached: ["a", "b", "c"].map((n) => brs(n, "Idle")) });
    await reconciler.fleet();
    expect(annotated).toEqual([
      ["a", "node-rv-a", GUARD],
      ["b", "node-rv-b", GUARD],
    ]);
    for (const n of ["a", "b"]) expect(order.indexOf(`annotate ${n}`)).toBeLessThan(order.indexOf(`spec brs-${n}`));
    expect(order).not.toContain("spec brs-c");
  });

  it("a node whose annotations cannot be written is not started", async () => {
    const { reconciler, writes } = setup({
      cached: ["a", "b"].map((n) => brs(n, "Idle")),
      env: { MAX_CONCURRENT_UPDATE: "1" },
      conflictOnNode: "a",
    });
    const conflict = await reconciler.fleet().catch((error: unknown) => error);
    expect(errorPolicy(FLEET_KEY, conflict)).toEqual({ requeueAfterMs: 50 });
    expect(writes).toEqual([]);
  });

  it("are removed from a finished node only when a consistent read says it finished", async () => {
    // The cache shows b finished, but it has not seen b's new start (written by a previous leader, say).
    const lagging = setup({
      cached: [brs("a", "StagedAndPerformedUpdate"), brs("b", "Idle")],
      fresh: [brs("a", "StagedAndPerformedUpdate"), brs("b", "StagedAndPerformedUpdate")],
      nodes: [guarded("a"), guarded("b")],
      env: { MAX_CONCURRENT_UPDATE: "2" },
    });
    await lagging.reconciler.fleet();
    expect(lagging.annotated).toEqual([]);
    const finished = setup({
      cached: [brs("a", "StagedAndPerformedUpdate"), brs("b", "Idle")],
      nodes: [guarded("a"), guarded("b")],
      env: { MAX_CONCURRENT_UPDATE: "1" },
    });
    await finished.reconciler.fleet();
    expect(finished.annotated).toEqual([["b", "node-rv-b", UNGUARD]]);
  });

  it("a disrupted node without them (a crash, another controller's start) gets them", async () => {
    const { reconciler, annotated } = setup({
      cached: [brs("a", "StagedAndPerformedUpdate"), brs("b", "Idle")],
      env: { MAX_CONCURRENT_UPDATE: "1" },
    });
    await reconciler.fleet();
    expect(annotated).toEqual([["a", "node-rv-a", GUARD]]);
  });

  it("a failed write elsewhere does not hold up the starts; the pass fails after, for the error policy", async () => {
    // a finished (up to date) and still carries them: their removal conflicts. b starts all the same.
    const a = brs("a", "Idle");
    const finished = { ...a, status: { ...a.status, current_version: "1.1.0" } } as BottlerocketShadow;
    const { reconciler, writes } = setup({
      cached: [finished, brs("b", "Idle")],
      nodes: [guarded("a"), managedNode("b")],
      env: { MAX_CONCURRENT_UPDATE: "1" },
      conflictOnNode: "a",
    });
    const failure = await reconciler.fleet().catch((error: unknown) => error);
    expect(errorPolicy(FLEET_KEY, failure)).toEqual({ requeueAfterMs: 50 });
    expect(writes.map((w) => w.name)).toEqual(["brs-b"]);
  });

  it("turned off by the policy: starts without them, and the operator's own are removed", async () => {
    const { reconciler, writes, annotated } = setup({
      cached: [brs("a", "Idle"), brs("b", "StagedAndPerformedUpdate")],
      nodes: [managedNode("a"), guarded("b")],
      policy: policy({ annotateDoNotDisrupt: false, maxConcurrentUpdates: 2 }),
    });
    await reconciler.fleet();
    expect(writes.map((w) => w.name)).toEqual(["brs-a"]);
    expect(annotated).toEqual([["b", "node-rv-b", UNGUARD]]);
  });
});

describe("a node in MonitoringUpdate: the health gates", () => {
  const monitoring = (secondsAgo: number): BottlerocketShadow => {
    const base = brs("a", "Idle");
    const since = formatTimestamp(new Date(NOW.getTime() - secondsAgo * 1000));
    return {
      ...base,
      metadata: {
        ...base.metadata,
        annotations: {
          "brupop.bottlerocket.aws/previous-version": "1.0.0",
          "brupop.bottlerocket.aws/update-started": formatTimestamp(new Date(NOW.getTime() - 3600_000)),
        },
      },
      spec: { state: "MonitoringUpdate", version: "1.1.0", state_transition_timestamp: since },
      status: { current_version: "1.1.0", target_version: "1.1.0", current_state: "MonitoringUpdate", crash_count: 0 },
    };
  };
  const daemonSetPod = (ready: boolean): V1Pod => ({
    metadata: {
      name: "log-a",
      namespace: "kube-system",
      ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "log", uid: "ds", controller: true }],
    },
    status: {
      conditions: [
        {
          type: "Ready",
          status: ready ? "True" : "False",
          reason: ready ? undefined : "ContainersNotReady",
          lastTransitionTime: formatTimestamp(new Date(NOW.getTime() - 30_000)) as unknown as Date,
        },
      ],
    },
  });

  it("while a DaemonSet pod is not Ready: Unknown on the shadow, looked at again within seconds", async () => {
    const { reconciler, writes, conditions } = setup({ cached: [monitoring(60)], pods: [daemonSetPod(false)] });
    const result = await reconciler.node("a");
    expect(writes).toEqual([]);
    expect(result?.requeueAfterMs).toBeLessThanOrEqual(5_000);
    expect(conditions[0]?.[1]).toEqual([
      expect.objectContaining({ type: "UpdateHealthy", status: "Unknown", reason: "GatesPending" }),
    ]);
    expect(conditions[0]?.[1][0]?.message).toMatch(
      /daemonset-pods waiting: 1 DaemonSet pod not Ready: kube-system\/log-a/,
    );
  });

  it("past the timeout: the update failed, the node rolled back, the gate named on the shadow and in an Event", async () => {
    const { reconciler, writes, conditions, events, recorder } = setup({
      cached: [{ ...monitoring(601), metadata: { ...monitoring(601).metadata, generation: 7 } }],
      pods: [daemonSetPod(false)],
    });
    await reconciler.node("a");
    expect(
      writes.map((w) => [w.spec.state, w.spec.version, w.annotations["brupop.bottlerocket.aws/rollback-to"]]),
    ).toEqual([["StagedAndPerformedUpdate", "1.0.0", "1.0.0"]]);
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "False", reason: "GateFailed" })]],
    ]);
    // The rollback spec carried the outcome, for a crash before the condition.
    expect(JSON.parse(writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "null")).toMatchObject({
      status: "False",
      message: "health gate daemonset-pods failed after the update to 1.1.0",
    });
    await recorder.flush();
    expect(events.map((e) => [e.reason, e.name])).toEqual([
      ["HealthGateFailed", "brs-a"],
      ["HealthGateFailed", "a"],
    ]);
  });

  it("once they pass: Idle carrying the pass, then True on the shadow for this generation of the spec", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const { reconciler, writes, conditions, order } = setup({ cached: [shadow], pods: [daemonSetPod(true)] });
    await reconciler.node("a");
    // The finish first (the step's one round trip), the condition on the shadow that write returned.
    expect(order).toEqual(["spec brs-a", "conditions after brs-a"]);
    expect(writes.map((w) => [w.spec.state, w.resourceVersion])).toEqual([["Idle", "1"]]);
    const carried: unknown = JSON.parse(writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "null");
    expect(carried).toEqual({
      status: "True",
      message: "health gates passed after the update to 1.1.0",
      observedGeneration: 7,
    });
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("a pass whose spec write conflicts writes nothing: the next reconcile looks at the gates again", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const { reconciler, writes, conditions } = setup({
      cached: [shadow],
      pods: [daemonSetPod(true)],
      conflictOn: "brs-a",
    });
    await expect(reconciler.node("a")).rejects.toMatchObject({ code: 409 });
    expect(writes).toEqual([]);
    expect(conditions).toEqual([]);
  });

  /** The finishing spec written (generation 8, carrying the pass of generation 7), the condition not: a crash between. */
  const pass = JSON.stringify({
    status: "True",
    message: "health gates passed after the update to 1.1.0",
    observedGeneration: 7,
  });
  const finished = (
    agentState: "MonitoringUpdate" | "Idle",
    condition: Condition | null,
    carried = pass,
  ): BottlerocketShadow => {
    const shadow = monitoring(60);
    return {
      ...shadow,
      metadata: {
        ...shadow.metadata,
        generation: 8,
        annotations: { ...shadow.metadata.annotations, "brupop.bottlerocket.aws/update-healthy": carried },
      },
      spec: { state: "Idle", version: "1.1.0", state_transition_timestamp: formatTimestamp(NOW) },
      status: {
        current_version: "1.1.0",
        target_version: "1.1.0",
        current_state: agentState,
        crash_count: 0,
        ...(condition === null ? {} : { conditions: [condition] }),
      },
    };
  };
  const pending: Condition = {
    type: "UpdateHealthy",
    status: "Unknown",
    reason: "GatesPending",
    message: "checking the health gates after the update to 1.1.0",
    lastTransitionTime: formatTimestamp(NOW),
    observedGeneration: 7,
  };

  it("a crash after the finishing spec: the next reconcile writes the pass it carried", async () => {
    const { reconciler, writes, conditions } = setup({
      cached: [finished("MonitoringUpdate", pending)],
      pods: [daemonSetPod(false)],
    });
    await reconciler.node("a");
    expect(writes).toEqual([]);
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("…and when the agent already reported Idle: the spec cleared, then the pass on the shadow", async () => {
    const { reconciler, writes, conditions, order } = setup({ cached: [finished("Idle", null)] });
    await reconciler.node("a");
    expect(order).toEqual(["spec brs-a", "conditions after brs-a"]);
    expect(writes.map((w) => w.spec.state)).toEqual(["Idle"]);
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("a pass this controller wrote is not written again while the cache is behind", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const cached: BottlerocketShadow[] = [shadow];
    const { reconciler, conditions, writes } = setup({ cached, pods: [daemonSetPod(true)] });
    await reconciler.node("a");
    expect(conditions).toHaveLength(1);
    // The cache now holds the finishing spec (its watch event) but not yet the condition written after it.
    const carried = writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "";
    cached[0] = finished("MonitoringUpdate", pending, carried);
    await reconciler.node("a");
    expect(conditions).toHaveLength(1);
  });

  it("…and when the node has left MANAGED_NODE_SELECTOR since: the pass still goes on its shadow", async () => {
    const { reconciler, writes, conditions } = setup({
      cached: [finished("Idle", pending)],
      nodes: [], // not in the managed-node cache: read from the API server
      readNode: managedNode("a"),
    });
    await reconciler.node("a");
    expect(writes).toEqual([]);
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("…and on a shadow with no status: left to the annotation until the agent reports", async () => {
    const { status: _none, ...noStatus } = finished("Idle", null);
    const { reconciler, writes, order } = setup({ cached: [noStatus] });
    await reconciler.node("a");
    // The CRD requires the agent's fields of a status: a condition alone cannot make one.
    expect(order).toEqual(["spec brs-a"]);
    expect(writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"]).toBeUndefined(); // kept as it is
  });

  it("the spec moved on before the condition (422): left to the annotation, for the next reconcile", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const cached: BottlerocketShadow[] = [shadow];
    const { reconciler, writes, conditions, enqueuedNodes } = setup({
      cached,
      pods: [daemonSetPod(true)],
      conditionsAfterFail: 422,
    });
    await reconciler.node("a"); // no error: nothing to retry that the annotation does not cover
    expect(writes.map((w) => w.spec.state)).toEqual(["Idle"]);
    expect(conditions).toEqual([]);
    expect(enqueuedNodes).toEqual(["a"]);
    // The next reconcile, from the cache with the finishing spec: not taken for written.
    const carried = writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "";
    cached[0] = finished("MonitoringUpdate", pending, carried);
    await reconciler.node("a");
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("the worker does not wait for the condition; the node's reconciles do, and its end brings the node back", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const cached: BottlerocketShadow[] = [shadow];
    const held = Promise.withResolvers<undefined>();
    const { reconciler, writes, conditions, enqueuedNodes } = setup({
      cached,
      pods: [daemonSetPod(true)],
      conditionsAfterHeld: held.promise,
    });
    await reconciler.nodeOnly("a");
    expect(writes.map((w) => w.spec.state)).toEqual(["Idle"]);
    expect(conditions).toEqual([]); // still being written
    // The agent reports the finishing spec: nothing is decided (nor written) while the condition is under way.
    const carried = writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "";
    cached[0] = finished("Idle", pending, carried);
    expect(await reconciler.nodeOnly("a")).toBeUndefined();
    expect(writes).toHaveLength(1);
    expect(enqueuedNodes).toEqual([]);
    held.resolve(undefined);
    await reconciler.outcomesWritten();
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
    expect(enqueuedNodes).toEqual(["a"]);
  });

  it("a condition that could not be written is written by the node's next reconcile, from the annotation", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const cached: BottlerocketShadow[] = [shadow];
    const { reconciler, writes, conditions, order, enqueuedNodes } = setup({
      cached,
      pods: [daemonSetPod(true)],
      conditionsAfterFail: 503,
    });
    await reconciler.node("a");
    expect(conditions).toEqual([]);
    expect(enqueuedNodes).toEqual(["a"]);
    const carried = writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"] ?? "";
    cached[0] = finished("MonitoringUpdate", pending, carried);
    await reconciler.node("a");
    expect(order).toEqual(["spec brs-a", "conditions brs-a"]);
    expect(conditions).toEqual([
      ["brs-a", [expect.objectContaining({ type: "UpdateHealthy", status: "True", observedGeneration: 7 })]],
    ]);
  });

  it("a condition refused once the lease is lost is left to whoever leads next", async () => {
    const shadow = { ...monitoring(60), metadata: { ...monitoring(60).metadata, generation: 7 } };
    const lease = new AbortController();
    const held = Promise.withResolvers<undefined>();
    const { reconciler, conditions, enqueuedNodes } = setup({
      cached: [shadow],
      pods: [daemonSetPod(true)],
      conditionsAfterHeld: held.promise,
      signal: lease.signal,
    });
    await reconciler.nodeOnly("a");
    lease.abort(new Error("lease lost"));
    held.reject(new Error("not leading: request refused")); // as the fenced client answers
    await reconciler.outcomesWritten();
    expect(conditions).toEqual([]);
    expect(enqueuedNodes).toEqual([]);
  });

  it("a write waiting for a place puts its node off too, and is not sent once the lease is lost", async () => {
    const on = (node: string): BottlerocketShadow => {
      const { metadata } = brs(node, "Idle");
      const shadow = monitoring(60);
      return { ...shadow, metadata: { ...shadow.metadata, ...metadata, generation: 7 } };
    };
    const names = ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"];
    const lease = new AbortController();
    const held = Promise.withResolvers<undefined>();
    const { reconciler, writes, conditions, enqueuedNodes } = setup({
      cached: names.map(on),
      pods: [daemonSetPod(true)],
      conditionsAfterHeld: held.promise,
      signal: lease.signal,
    });
    for (const name of names) await reconciler.nodeOnly(name);
    expect(writes).toHaveLength(9);
    // Eight writes are under way, the ninth waits for a place: its node is put off all the same.
    expect(await reconciler.nodeOnly("n9")).toBeUndefined();
    expect(writes).toHaveLength(9);
    lease.abort(new Error("lease lost"));
    held.resolve(undefined); // the eight were sent before the lease was lost
    await reconciler.outcomesWritten();
    expect(conditions.map(([name]) => name)).toEqual(names.slice(0, 8).map((n) => `brs-${n}`));
    expect(enqueuedNodes).toEqual(["n9"]); // brought back as it was put off (a queue shut down takes nothing)
  });

  it("brupop's clear of the finished spec drops the outcome once the conditions say it", async () => {
    const said: Condition = { ...pending, status: "True", reason: "GatesPassed", message: "health gates passed" };
    const { reconciler, writes, conditions } = setup({ cached: [finished("Idle", said)] });
    await reconciler.node("a");
    expect(writes.map((w) => [w.spec.version, w.annotations["brupop.bottlerocket.aws/update-healthy"]])).toEqual([
      [null, null],
    ]);
    expect(conditions).toEqual([]);
  });

  it("an outcome a later look at the gates replaced is not written back", async () => {
    const later: Condition = { ...pending, observedGeneration: 9 };
    const { reconciler, conditions } = setup({ cached: [finished("MonitoringUpdate", later)] });
    await reconciler.node("a");
    expect(conditions).toEqual([]);
  });

  /** A pass recorded on the shadow while the spec is still MonitoringUpdate: post-reboot hooks came between. */
  const recorded = (generation: number, observedGeneration: number): BottlerocketShadow => {
    const shadow = monitoring(60);
    const passed: Condition = {
      type: "UpdateHealthy",
      status: "True",
      reason: "GatesPassed",
      message: "health gates passed after the update to 1.1.0: daemonset-pods passed: 1 DaemonSet pod Ready",
      lastTransitionTime: formatTimestamp(NOW),
      observedGeneration,
    };
    return {
      ...shadow,
      metadata: { ...shadow.metadata, generation },
      status: {
        ...(shadow.status ?? { current_version: "", target_version: "", current_state: "Idle" }),
        crash_count: 0,
        conditions: [passed],
      },
    };
  };

  it("a recorded pass stands: finished from it without looking at the gates again", async () => {
    // A pod not Ready now: read again, the gates would wait (and past their timeout, fail).
    const { reconciler, writes, conditions } = setup({ cached: [recorded(7, 7)], pods: [daemonSetPod(false)] });
    await reconciler.node("a");
    expect(writes.map((w) => w.spec.state)).toEqual(["Idle"]);
    expect(writes[0]?.annotations["brupop.bottlerocket.aws/update-healthy"]).toBe(pass);
    expect(conditions).toEqual([]); // they say it already, with the gates' details
  });

  it("a pass recorded for an earlier spec (another generation) counts for nothing", async () => {
    const { reconciler, writes, conditions } = setup({ cached: [recorded(8, 7)], pods: [daemonSetPod(false)] });
    await reconciler.node("a");
    expect(writes).toEqual([]);
    expect(conditions[0]?.[1]).toEqual([
      expect.objectContaining({ type: "UpdateHealthy", status: "Unknown", observedGeneration: 8 }),
    ]);
  });
});

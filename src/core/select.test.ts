import { describe, expect, it } from "vitest";
import type { BrsState } from "../api/state-machine.ts";
import { budgetLimit } from "./budget.ts";
import { readFailures } from "./failures.ts";
import { ANNOTATIONS, type FleetView, type NodeView, type ShadowView } from "./model.ts";
import { compareCandidates } from "./order.ts";
import type { UpdatePolicySpec } from "./policy.ts";
import { selectNodesToStart, type NotStartedCode, type Selection } from "./select.ts";
import {
  T0,
  after,
  fleetPolicy,
  iso,
  node,
  prng,
  shadow,
  type ShadowOptions,
} from "../../test/support/core-fixtures.ts";

const UPDATE: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.20.0" } };
const IN_FLIGHT: ShadowOptions = {
  spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
  status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
};

function fleet(shadows: ShadowView[], extra: Partial<FleetView> = {}): FleetView {
  return { shadows, nodes: shadows.map((s) => node(s.nodeName)), controllerNodeName: null, ...extra };
}

function select(view: FleetView, spec: UpdatePolicySpec = {}, now = T0): Selection {
  return selectNodesToStart(view, fleetPolicy(spec), now);
}

function codes(selection: Selection): Record<string, NotStartedCode> {
  return Object.fromEntries(selection.notStarted.map((n) => [n.nodeName, n.reason.code]));
}

function started(selection: Selection): string[] {
  return selection.start.map((s) => s.nodeName);
}

describe("budget (state-machine.md#fleet-selection)", () => {
  it("MAX_CONCURRENT_UPDATE 1 with a node in flight: nothing starts", () => {
    const result = select(fleet([shadow("a", IN_FLIGHT), shadow("b", UPDATE), shadow("c", UPDATE)]), {
      maxConcurrentUpdates: 1,
    });
    expect(started(result)).toEqual([]);
    expect(codes(result)).toEqual({ a: "in-progress", b: "budget-full", c: "budget-full" });
    expect(result.notStarted.find((n) => n.nodeName === "b")?.reason).toMatchObject({ inUse: 1, limit: 1 });
  });

  it("fills the budget at once (brupop started one node per 2 s iteration)", () => {
    const result = select(fleet(["a", "b", "c", "d", "e"].map((n) => shadow(n, UPDATE))), { maxConcurrentUpdates: 2 });
    expect(started(result)).toEqual(["a", "b"]);
    expect(result.start[0]).toMatchObject({
      shadowName: "brs-a",
      spec: { state: "StagedAndPerformedUpdate", version: "1.20.0" },
      from: "1.19.0",
      to: "1.20.0",
    });
    expect(codes(result)).toEqual({ c: "budget-full", d: "budget-full", e: "budget-full" });
  });

  it("a node in ErrorReset counts until its agent reports Idle", () => {
    const crashed = shadow("a", {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
      status: { current_state: "ErrorReset", crash_count: 1, target_version: "1.20.0" },
    });
    const result = select(fleet([crashed, shadow("b", UPDATE)]), { maxConcurrentUpdates: 1 });
    expect(result.budget.inUse).toBe(1);
    expect(started(result)).toEqual([]);
  });

  it("0 starts nothing", () => {
    const result = select(fleet([shadow("a", UPDATE)]), { maxConcurrentUpdates: "0" });
    expect(started(result)).toEqual([]);
    expect(result.notStarted[0]?.reason).toMatchObject({ code: "budget-full", limit: 0 });
  });

  it("unlimited starts every ready node", () => {
    const result = select(fleet(["a", "b", "c"].map((n) => shadow(n, UPDATE))), { maxConcurrentUpdates: "unlimited" });
    expect(started(result)).toEqual(["a", "b", "c"]);
  });

  it("a percentage of the managed nodes, rounded down but at least 1", () => {
    const shadows = Array.from({ length: 10 }, (_, i) => shadow(`n${i}`, UPDATE));
    expect(started(select(fleet(shadows), { maxConcurrentUpdates: "25%" }))).toHaveLength(2);
    expect(started(select(fleet(shadows.slice(0, 3)), { maxConcurrentUpdates: "10%" }))).toHaveLength(1);
  });

  it("over budget already (budget lowered mid-rollout): nothing starts", () => {
    const result = select(fleet([shadow("a", IN_FLIGHT), shadow("b", IN_FLIGHT), shadow("c", UPDATE)]), {
      maxConcurrentUpdates: 1,
    });
    expect(result.budget).toMatchObject({ inUse: 2, limit: 1 });
    expect(started(result)).toEqual([]);
  });

  it("clearing a finished spec does not use a pick (brupop spent one on it)", () => {
    const finished = shadow("a", {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
      status: { current_version: "1.20.0", target_version: "1.20.0" },
    });
    const result = select(fleet([finished, shadow("b", UPDATE)]), { maxConcurrentUpdates: 1 });
    expect(started(result)).toEqual(["b"]);
    expect(codes(result)).toEqual({ a: "up-to-date" });
  });
});

describe("order (state-machine.md#fleet-selection)", () => {
  const failedLongAgo = (crashes: number): ShadowOptions => ({
    status: {
      current_version: "1.19.0",
      target_version: "1.20.0",
      crash_count: crashes,
      state_transition_failure_timestamp: iso(after(-3 * 86400)),
    },
  });

  it("fewest failures first, own node last, then name", () => {
    const result = select(
      fleet(
        [shadow("own", UPDATE), shadow("z", UPDATE), shadow("a", failedLongAgo(2)), shadow("m", failedLongAgo(1))],
        {
          controllerNodeName: "own",
        },
      ),
      { maxConcurrentUpdates: 3 },
    );
    expect(started(result)).toEqual(["z", "m", "a"]);
    expect(codes(result)).toEqual({ own: "budget-full" });
  });

  it("the controller's own node only alone: not beside a start, nor while another node updates", () => {
    const withRoom = { maxConcurrentUpdates: 5 };
    const beside = select(fleet([shadow("own", UPDATE), shadow("z", UPDATE)], { controllerNodeName: "own" }), withRoom);
    expect(started(beside)).toEqual(["z"]);
    expect(codes(beside)).toEqual({ own: "controller-node-alone" });

    const whileBusy = select(
      fleet([shadow("own", UPDATE), shadow("z", IN_FLIGHT)], { controllerNodeName: "own" }),
      withRoom,
    );
    expect(started(whileBusy)).toEqual([]);
    expect(codes(whileBusy)).toEqual({ own: "controller-node-alone", z: "in-progress" });

    const alone = select(fleet([shadow("own", UPDATE), shadow("z")], { controllerNodeName: "own" }), withRoom);
    expect(started(alone)).toEqual(["own"]);
  });

  it("the controller's own node does not wait for a stuck node: it would wait for ever", () => {
    // A hung boot: the agent never reported Idle, the Node is NotReady and cordoned; it still uses up budget.
    const hung = shadow("z", {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-3600)) },
      status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
    });
    const view: FleetView = {
      shadows: [shadow("own", UPDATE), hung],
      nodes: [node("own"), node("z", { ready: false, unschedulable: true, drainedByOperator: true })],
      controllerNodeName: "own",
    };
    const result = select(view, { maxConcurrentUpdates: 2 });
    expect(result.budget.inUse).toBe(1);
    expect(codes(result)).toEqual({ z: "stuck" });
    expect(started(result)).toEqual(["own"]);
  });
});

describe("gates: pause, window, opt-out, management", () => {
  it("global pause stops starts, not updates in flight", () => {
    const result = select(fleet([shadow("a", IN_FLIGHT), shadow("b", UPDATE)]), {
      paused: true,
      maxConcurrentUpdates: 5,
    });
    expect(started(result)).toEqual([]);
    expect(codes(result)).toEqual({ a: "in-progress", b: "paused" });
    expect(result.recheckAt).toBeNull();
  });

  it("outside the window: reason carries the next opening, which is also the recheck time", () => {
    const result = select(fleet([shadow("a", UPDATE)]), { schedulerCronExpression: "* * 22-23 * * *" });
    const reason = result.notStarted[0]?.reason;
    expect(reason).toMatchObject({ code: "outside-window", nextOpen: new Date("2024-06-03T22:00:00Z") });
    expect(result.recheckAt).toEqual(new Date("2024-06-03T22:00:00Z"));
  });

  it("inside an explicit window: starts", () => {
    const result = select(fleet([shadow("a", UPDATE)]), {
      windows: [{ schedule: "0 9 * * 1", duration: "2h", timeZone: "UTC" }],
    });
    expect(started(result)).toEqual(["a"]);
  });

  it.each([
    ["true", "opted-out"],
    ["yes", "opted-out"],
    ["false", null],
    ["FALSE", null],
  ])("node annotation paused=%s", (value, code) => {
    const view = fleet([shadow("a", UPDATE)], {
      nodes: [node("a", { annotations: { [ANNOTATIONS.nodePaused]: value } })],
    });
    const result = select(view);
    expect(codes(result).a ?? null).toBe(code);
    expect(started(result)).toEqual(code === null ? ["a"] : []);
  });

  it("a node without the label, or unknown, is not managed; a labelled node without shadow has no agent", () => {
    const view: FleetView = {
      shadows: [shadow("unlabelled", UPDATE), shadow("gone", UPDATE)],
      nodes: [node("unlabelled", { labelled: false }), node("lonely")],
      controllerNodeName: null,
    };
    const result = select(view, { maxConcurrentUpdates: 5 });
    expect(started(result)).toEqual([]);
    expect(codes(result)).toEqual({ unlabelled: "not-managed", gone: "not-managed", lonely: "agent-missing" });
    expect(result.notStarted.find((n) => n.nodeName === "lonely")?.shadowName).toBeNull();
    expect(result.budget.managed).toBe(1);
  });

  it("per-node reasons come before fleet reasons", () => {
    const backingOff = shadow("b", {
      status: {
        current_version: "1.19.0",
        target_version: "1.20.0",
        crash_count: 1,
        state_transition_failure_timestamp: iso(after(-60)),
      },
    });
    const quarantined = shadow("q", {
      status: {
        current_version: "1.19.0",
        target_version: "1.20.0",
        crash_count: 6,
        state_transition_failure_timestamp: iso(after(-60)),
      },
    });
    const downgrade = shadow("d", { status: { current_version: "1.20.0", target_version: "1.19.0" } });
    const noStatus = shadow("s", { status: null });
    const upToDate = shadow("u", {});
    const result = select(fleet([backingOff, quarantined, downgrade, noStatus, upToDate]), { paused: true });
    expect(codes(result)).toEqual({
      b: "backoff",
      q: "quarantined",
      d: "downgrade-refused",
      s: "no-status",
      u: "up-to-date",
    });
    expect(result.recheckAt).toEqual(after(120));
    expect(result.ready).toBe(0);
  });

  it("a node whose agent did not come back is reported stuck", () => {
    const stuck = shadow("a", {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-3600)) },
      status: { current_state: "RebootedIntoUpdate" },
    });
    expect(codes(select(fleet([stuck])))).toEqual({ a: "stuck" });
  });
});

describe("one-shot sessions", () => {
  const trigger = { schedulerCronExpression: "0 0 10 * * Mon" }; // fires at T0

  it("open with nodes left: not drained", () => {
    const result = select(
      fleet([shadow("a", UPDATE), shadow("b", UPDATE)], { triggerConsumedAt: after(-86400) }),
      trigger,
    );
    expect(started(result)).toEqual(["a"]);
    expect(result.sessionDrained).toBe(false);
  });

  it("open with nothing left to start: drained", () => {
    const result = select(
      fleet([shadow("a", IN_FLIGHT), shadow("b", {})], { triggerConsumedAt: after(-86400) }),
      trigger,
    );
    expect(result.ready).toBe(0);
    expect(result.sessionDrained).toBe(true);
  });

  it("closed: waits for the next trigger", () => {
    const result = select(fleet([shadow("a", UPDATE)], { triggerConsumedAt: after(60) }), trigger, after(120));
    expect(codes(result)).toEqual({ a: "outside-window" });
    expect(result.sessionDrained).toBe(false);
    expect(result.recheckAt).toEqual(new Date("2024-06-10T10:00:00Z"));
  });

  it("closed with nothing waiting: still looks again at the next trigger, so that its session can end there", () => {
    const upToDate = fleet([shadow("a", {}), shadow("b", {})], { triggerConsumedAt: after(60) });
    const result = select(upToDate, trigger, after(120));
    expect(result.ready).toBe(0);
    expect(result.recheckAt).toEqual(new Date("2024-06-10T10:00:00Z"));
    // At the firing, nothing to start: the session is drained at once (the controller records it).
    const atFiring = select(upToDate, trigger, new Date("2024-06-10T10:00:00Z"));
    expect(atFiring.gate.open).toBe(true);
    expect(atFiring.sessionDrained).toBe(true);
  });

  it("windowed schedules never report a drained session", () => {
    expect(select(fleet([shadow("a", {})])).sessionDrained).toBe(false);
  });
});

// Property: over random fleets and budgets, the budget is never exceeded, selection is work-conserving and ordered,
// and every node gets exactly one answer.
describe("invariants over random fleets (seeded)", () => {
  const STATES: BrsState[] = [
    "Idle",
    "StagedAndPerformedUpdate",
    "RebootedIntoUpdate",
    "MonitoringUpdate",
    "ErrorReset",
  ];
  const BUDGETS = ["0", "1", "2", "3", "unlimited", "10%", "25%", "50%", "100%"];

  function randomFleet(random: () => number): { view: FleetView; spec: UpdatePolicySpec } {
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const size = 1 + Math.floor(random() * 25);
    const shadows: ShadowView[] = [];
    const nodes: NodeView[] = [];
    for (let i = 0; i < size; i++) {
      const name = `node-${String(i).padStart(2, "0")}`;
      const specState = random() < 0.6 ? "Idle" : pick(STATES.slice(0, 4));
      const statusState = random() < 0.7 ? specState : pick(STATES);
      const crashes = random() < 0.7 ? 0 : Math.floor(random() * 8);
      const roll = random();
      if (roll < 0.05) {
        nodes.push(node(name)); // labelled, no shadow yet
        continue;
      }
      shadows.push(
        shadow(name, {
          spec: {
            state: specState,
            version: specState === "Idle" && random() < 0.5 ? null : "1.20.0",
            state_transition_timestamp: random() < 0.1 ? null : iso(after(-Math.floor(random() * 2000))),
          },
          status:
            random() < 0.05
              ? null
              : {
                  current_state: statusState,
                  current_version: random() < 0.5 ? "1.19.0" : "1.20.0",
                  target_version: random() < 0.1 ? "1.18.0" : "1.20.0",
                  crash_count: crashes,
                  state_transition_failure_timestamp: crashes > 0 ? iso(after(-Math.floor(random() * 20_000))) : null,
                },
          annotations:
            random() < 0.1 ? { [ANNOTATIONS.timeouts]: "1", [ANNOTATIONS.lastTimeout]: iso(after(-900)) } : {},
        }),
      );
      if (roll < 0.1) continue; // node unknown to the controller
      const cordoned = random() < 0.2;
      nodes.push(
        node(name, {
          labelled: roll > 0.15,
          annotations: random() < 0.1 ? { [ANNOTATIONS.nodePaused]: "true" } : {},
          unschedulable: cordoned,
          drainedByOperator: cordoned && random() < 0.7,
          ready: pick([true, true, true, false, null]),
        }),
      );
    }
    return {
      view: { shadows, nodes, controllerNodeName: random() < 0.5 ? "node-00" : null },
      spec: { maxConcurrentUpdates: pick(BUDGETS), paused: random() < 0.1 },
    };
  }

  /**
   * The budget's definition restated from docs/design/state-machine.md#budget, independently of src/core: a node
   * counts while the controller asked it to move, while its agent is still returning to Idle within the Idle
   * timeout (or without a timestamp to measure it), and after that only while the Node is cordoned or not Ready.
   */
  function usesBudget(s: ShadowView, n: NodeView | undefined): boolean {
    if (inProgress(s)) return true;
    const stuck = s.status != null && s.status.current_state !== "Idle";
    return stuck && n !== undefined && (n.unschedulable || n.ready !== true);
  }

  /** Still on its way through an update: uses budget, and not yet past the Idle timeout (not stuck). */
  function inProgress(s: ShadowView): boolean {
    if (s.spec.state !== "Idle") return true;
    if (s.status == null || s.status.current_state === "Idle") return false;
    const since = Date.parse(s.spec.state_transition_timestamp ?? "");
    return Number.isNaN(since) || T0.getTime() - since < 120_000;
  }

  it("holds for 2000 fleets", () => {
    const random = prng(20240603);
    for (let run = 0; run < 2000; run++) {
      const { view, spec } = randomFleet(random);
      const policy = fleetPolicy(spec);
      const result = selectNodesToStart(view, policy, T0);
      const context = `run ${run}: ${JSON.stringify(spec)}`;

      const nodeOf = (s: ShadowView) => view.nodes.find((n) => n.name === s.nodeName);
      const inUse = view.shadows.filter((s) => usesBudget(s, nodeOf(s))).length;
      const limit = budgetLimit(
        policy.budget,
        view.nodes.filter((n) => n.labels["bottlerocket.aws/updater-interface-version"] === "2.0.0").length,
      );
      expect(result.budget.inUse, context).toBe(inUse);
      expect(result.budget.limit, context).toBe(limit);
      // Never more nodes out of Idle than the budget allows (or than already were, if it was lowered).
      expect(inUse + result.start.length, context).toBeLessThanOrEqual(Math.max(limit, inUse));
      if (inUse >= limit) expect(result.start, context).toHaveLength(0);

      // Work-conserving: with the gate open, ready nodes start up to the budget, but for the controller's own
      // node, which starts only alone: never beside another start or a node still updating (a stuck one is not
      // waited for).
      const room = Math.max(0, limit - inUse);
      const moving = view.shadows.filter(inProgress).length;
      const heldAlone = result.notStarted.filter((n) => n.reason.code === "controller-node-alone");
      expect(heldAlone.every((n) => n.nodeName === view.controllerNodeName)).toBe(true);
      if (heldAlone.length > 0) expect(moving + result.start.length, context).toBeGreaterThan(0);
      if (result.start.some((g) => g.nodeName === view.controllerNodeName)) {
        expect({ moving, starts: result.start.length }, context).toEqual({ moving: 0, starts: 1 });
      }
      const expectedStarts = policy.paused || !result.gate.open ? 0 : Math.min(result.ready - heldAlone.length, room);
      expect(result.start.length, context).toBe(expectedStarts);

      // One answer per shadow, plus one per labelled node without a shadow.
      const answered = [...result.start.map((s) => s.nodeName), ...result.notStarted.map((n) => n.nodeName)];
      expect(new Set(answered).size, context).toBe(answered.length);
      const shadowNodes = new Set(view.shadows.map((s) => s.nodeName));
      const orphans = view.nodes.filter(
        (n) => n.labels["bottlerocket.aws/updater-interface-version"] === "2.0.0" && !shadowNodes.has(n.name),
      );
      expect(answered.length, context).toBe(view.shadows.length + orphans.length);

      // Started nodes were all Idle on both sides, and go before every node held back by the budget.
      const byNode = new Map(view.shadows.map((s) => [s.nodeName, s]));
      const key = (name: string) => ({
        nodeName: name,
        failures: readFailures(byNode.get(name) ?? shadow(name)).failures,
      });
      for (const grant of result.start) {
        const s = byNode.get(grant.nodeName);
        expect(s && usesBudget(s, nodeOf(s)), context).toBe(false);
        expect(grant.spec.version, context).toBe(s?.status?.target_version);
        for (const held of result.notStarted.filter((n) => n.reason.code === "budget-full")) {
          expect(
            compareCandidates(key(grant.nodeName), key(held.nodeName), view.controllerNodeName),
            context,
          ).toBeLessThan(0);
        }
      }
    }
  });
});

import { describe, expect, it } from "vitest";
import type { V1Node } from "@kubernetes/client-node";
import {
  DEFAULT_DISRUPTOR_POLICY,
  heldForOtherDisruptors,
  KARPENTER_DISRUPTED_TAINT,
  resolveDisruptorPolicy,
  type DisruptorPolicySpec,
} from "./disruptors.ts";
import type { FleetView, NodeView } from "./model.ts";
import { resolveFleetPolicy } from "./policy.ts";
import { selectNodesToStart } from "./select.ts";
import { toNodeView } from "./views.ts";
import { T0, after, fleetPolicy, node, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

const UPDATE: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.20.0" } };
const tainted = (name: string, key = KARPENTER_DISRUPTED_TAINT): NodeView => ({ ...node(name), taintKeys: [key] });
const createdAt = (name: string, at: Date): NodeView => ({ ...node(name), createdAt: at });

function resolve(spec: DisruptorPolicySpec) {
  const errors: string[] = [];
  return { policy: resolveDisruptorPolicy(spec, errors), errors };
}

describe("the policy's coordination settings", () => {
  it("default: annotate, no minimum age", () => {
    expect(resolve({})).toEqual({ policy: { annotateDoNotDisrupt: true, minNodeAgeSeconds: 0 }, errors: [] });
    expect(fleetPolicy().disruptors).toEqual(DEFAULT_DISRUPTOR_POLICY);
  });

  it("reads annotateDoNotDisrupt and minNodeAge", () => {
    expect(resolve({ annotateDoNotDisrupt: false, minNodeAge: "1h30m" }).policy).toEqual({
      annotateDoNotDisrupt: false,
      minNodeAgeSeconds: 5400,
    });
    expect(resolve({ minNodeAge: "0s" }).policy.minNodeAgeSeconds).toBe(0);
  });

  it.each([
    [{ annotateDoNotDisrupt: "no" }, /spec\.annotateDoNotDisrupt must be true or false/],
    [{ minNodeAge: "an hour" }, /spec\.minNodeAge: "an hour" is not a duration/],
    [{ minNodeAge: 3600 }, /spec\.minNodeAge: 3600 is not a duration/],
    [{ minNodeAge: "366d" }, /spec\.minNodeAge: "366d" is longer than 365d/],
  ])("refuses %j, naming the field", (spec, error) => {
    const resolution = resolveFleetPolicy({}, spec as DisruptorPolicySpec, T0);
    expect(resolution.ok).toBe(false);
    if (!resolution.ok) expect(resolution.errors.join("; ")).toMatch(error);
  });
});

describe("nodes left alone for other disruptors", () => {
  const policy = { annotateDoNotDisrupt: true, minNodeAgeSeconds: 3600 };

  it("a node Karpenter is disrupting (its karpenter.sh/disrupted taint), whatever the age", () => {
    expect(heldForOtherDisruptors(tainted("a"), DEFAULT_DISRUPTOR_POLICY, T0)).toEqual({
      code: "karpenter-disrupting",
      message: "Karpenter is disrupting node a (taint karpenter.sh/disrupted)",
    });
    expect(heldForOtherDisruptors(tainted("a", "karpenter.sh/unregistered"), DEFAULT_DISRUPTOR_POLICY, T0)).toBe(null);
  });

  it("a node younger than minNodeAge, until it is old enough", () => {
    const young = createdAt("a", after(-600));
    expect(heldForOtherDisruptors(young, policy, T0)).toEqual({
      code: "node-too-young",
      eligibleAt: after(3000),
      message:
        "node a was created at 2024-06-03T09:50:00+00:00, less than minNodeAge 1h ago; it may start from " +
        "2024-06-03T10:50:00+00:00",
    });
    expect(heldForOtherDisruptors(young, policy, after(2999))?.code).toBe("node-too-young");
    expect(heldForOtherDisruptors(young, policy, after(3000))).toBe(null);
    expect(heldForOtherDisruptors(young, DEFAULT_DISRUPTOR_POLICY, T0)).toBe(null); // no minimum
    expect(heldForOtherDisruptors(node("a"), policy, T0)).toBe(null); // creation time unknown
  });

  it("reads the taints and the creation time off a Node, as JSON or as client-node's typed object", () => {
    const json = {
      metadata: { name: "a", creationTimestamp: "2024-06-03T09:50:00Z" },
      spec: { taints: [{ key: KARPENTER_DISRUPTED_TAINT, effect: "NoSchedule" }] },
    } as unknown as V1Node;
    expect(toNodeView(json)).toMatchObject({ taintKeys: [KARPENTER_DISRUPTED_TAINT], createdAt: after(-600) });
    const typed: V1Node = { metadata: { name: "a", creationTimestamp: after(-600) } };
    expect(toNodeView(typed)).toMatchObject({ taintKeys: [], createdAt: after(-600) });
  });
});

describe("selection with other disruptors", () => {
  const fleet = (nodes: NodeView[]): FleetView => ({
    shadows: nodes.map((n) => shadow(n.name, UPDATE)),
    nodes,
    controllerNodeName: null,
  });

  it("does not start a node Karpenter is disrupting; the budget goes to the next one", () => {
    const selection = selectNodesToStart(
      fleet([tainted("a"), node("b")]),
      fleetPolicy({ maxConcurrentUpdates: 1 }),
      T0,
    );
    expect(selection.start.map((s) => s.nodeName)).toEqual(["b"]);
    expect(selection.notStarted).toContainEqual({
      shadowName: "brs-a",
      nodeName: "a",
      reason: {
        code: "karpenter-disrupting",
        message: "Karpenter is disrupting node a (taint karpenter.sh/disrupted)",
      },
    });
    expect(selection.ready).toBe(1); // a is not held by pause, window or budget
  });

  it("starts the node once the taint is gone", () => {
    const selection = selectNodesToStart(fleet([node("a")]), fleetPolicy(), T0);
    expect(selection.start.map((s) => s.nodeName)).toEqual(["a"]);
  });

  it("holds a young node until it is old enough, and asks to look again then", () => {
    const view = fleet([createdAt("a", after(-600)), createdAt("b", after(-7200))]);
    const selection = selectNodesToStart(view, fleetPolicy({ minNodeAge: "1h", maxConcurrentUpdates: 2 }), T0);
    expect(selection.start.map((s) => s.nodeName)).toEqual(["b"]);
    expect(selection.notStarted.find((n) => n.nodeName === "a")?.reason).toMatchObject({
      code: "node-too-young",
      eligibleAt: after(3000),
    });
    expect(selection.recheckAt).toEqual(after(3000));
    const later = selectNodesToStart(view, fleetPolicy({ minNodeAge: "1h", maxConcurrentUpdates: 2 }), after(3000));
    expect(later.start.map((s) => s.nodeName)).toEqual(["a", "b"]);
  });

  it("a node in flight is seen through even when Karpenter taints it meanwhile", () => {
    const inFlight: ShadowOptions = {
      spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: T0.toISOString() },
      status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
    };
    const view: FleetView = { shadows: [shadow("a", inFlight)], nodes: [tainted("a")], controllerNodeName: null };
    const selection = selectNodesToStart(view, fleetPolicy(), T0);
    expect(selection.notStarted[0]?.reason.code).toBe("in-progress");
    expect(selection.budget.inUse).toBe(1);
  });
});

// Recorded histories replayed through the oracle exactly as the live observer feeds it (history.ts): Kubernetes
// objects as the watches deliver them, host effects as the simulated host emits them. Each history that breaks a
// promise must be caught; its twin that keeps the promise must not be.
import { describe, expect, test } from "vitest";
import type { CoreV1Event, V1Node, V1Pod } from "@kubernetes/client-node";
import type { HostEffect } from "../host/host-state.ts";
import { replay, type Observation } from "./history.ts";
import { InvariantOracle, type OracleOptions } from "./invariants.ts";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const S = 1_000;
/** The field manager the API server records for the operator's patches (client-node's user agent). */
const OPERATOR = "kubernetes-client-javascript";
const NS = "brupop-bottlerocket-aws";

function node(name: string, o: { cordonedBy?: string; ready?: boolean; version?: string } = {}): V1Node {
  return {
    metadata: {
      name,
      labels: { "bottlerocket.aws/updater-interface-version": "2.0.0" },
      managedFields:
        o.cordonedBy === undefined
          ? []
          : [
              {
                manager: o.cordonedBy,
                operation: "Update",
                apiVersion: "v1",
                time: new Date(T0),
                fieldsType: "FieldsV1",
                fieldsV1: { "f:spec": { "f:unschedulable": {} } },
              },
            ],
    },
    spec: o.cordonedBy === undefined ? {} : { unschedulable: true },
    status: {
      conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
      nodeInfo: {
        osImage: `Bottlerocket OS ${o.version ?? "1.25.0"} (aws-k8s-1.35)`,
      } as NonNullable<V1Node["status"]>["nodeInfo"],
    },
  };
}

function pod(name: string, nodeName: string): V1Pod {
  return {
    metadata: {
      name,
      namespace: "workloads",
      uid: `uid-${name}`,
      labels: { app: "web" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: "rs", controller: true }],
    },
    spec: { nodeName, containers: [{ name: "web" }] },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
}

/** A shadow as the operator writes it; `state` for both spec and status, `reason` on the documented annotation. */
function shadow(nodeName: string, state: string, reason?: string): unknown {
  return {
    metadata: {
      name: `brs-${nodeName}`,
      namespace: NS,
      ...(reason === undefined ? {} : { annotations: { "brupop.bottlerocket.aws/spec-reason": reason } }),
      ownerReferences: [{ apiVersion: "v1", kind: "Node", name: nodeName, uid: `uid-${nodeName}` }],
    },
    spec: { state, version: state === "Idle" ? null : "1.26.0" },
    status: { current_state: state, current_version: "1.25.0", target_version: "1.26.0", crash_count: 0 },
  };
}

function event(nodeName: string, at: number, reason: string, type = "Normal"): CoreV1Event {
  return {
    metadata: { name: `brs-${nodeName}.${at}`, namespace: NS },
    involvedObject: { kind: "BottlerocketShadow", name: `brs-${nodeName}`, namespace: NS },
    reason,
    type,
    message: reason,
    reportingComponent: "brupop-controller",
    lastTimestamp: new Date(at),
  };
}

const hostEffect = (at: number, nodeName: string, effect: HostEffect): Observation => ({
  at,
  kind: "host",
  node: nodeName,
  effect,
});

/** Nodes n1..nN Idle, uncordoned, Ready, hosts up at 1.25.0, shadows Idle with no reason. */
function start(count: number): Observation[] {
  return Array.from({ length: count }, (_, i) => `n${i + 1}`).flatMap((n): Observation[] => [
    { at: T0, kind: "host-initially", node: n, up: true, version: "1.25.0" },
    { at: T0, kind: "node", object: node(n) },
    { at: T0, kind: "shadow", node: n, object: shadow(n, "Idle") },
  ]);
}

function play(history: readonly Observation[], o: Partial<OracleOptions> = {}): InvariantOracle {
  const oracle = new InvariantOracle({
    budget: 3,
    reasonWithinMs: 30 * S,
    stallMs: 120 * S,
    startedAt: T0,
    ...o,
  });
  for (const observation of history) replay(oracle, observation);
  return oracle;
}

describe("a recorded history replayed through the oracle", () => {
  test("a reboot without a drain (node never cordoned, its pod still bound and listed after) is I1", () => {
    const web = pod("web-a", "n1");
    const rebootWithout: Observation[] = [
      ...start(2),
      { at: T0, kind: "pod", object: web },
      { at: T0 + S, kind: "event", object: event("n1", T0 + S, "UpdateStarted") },
      hostEffect(T0 + 2 * S, "n1", { type: "command-started", at: T0 + 2 * S, command: "prepare" }),
      hostEffect(T0 + 5 * S, "n1", { type: "reboot-requested", at: T0 + 5 * S, downAt: T0 + 6 * S }),
      { at: T0 + 5 * S, kind: "reboot-checked", node: "n1", cached: [web], listed: [web] },
      hostEffect(T0 + 6 * S, "n1", { type: "api-down", at: T0 + 6 * S, keepSocketFile: false }),
    ];
    const caught = play(rebootWithout);
    expect(caught.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I1", ["n1"]]]);
    expect(caught.violations[0]?.message).toMatch(/workloads\/web-a \(Running\)/);

    // Its twin with the drain: cordoned by the operator, the pod evicted and gone before the reboot.
    const drained: Observation[] = [
      ...start(2),
      { at: T0, kind: "pod", object: web },
      { at: T0 + S, kind: "event", object: event("n1", T0 + S, "UpdateStarted") },
      { at: T0 + S, kind: "shadow", node: "n1", object: shadow("n1", "RebootedIntoUpdate", "drain and reboot") },
      { at: T0 + 3 * S, kind: "node", object: node("n1", { cordonedBy: OPERATOR }) },
      { at: T0 + 4 * S, kind: "pod-deleted", uid: "uid-web-a" },
      hostEffect(T0 + 5 * S, "n1", { type: "reboot-requested", at: T0 + 5 * S, downAt: T0 + 6 * S }),
      { at: T0 + 5 * S, kind: "reboot-checked", node: "n1", cached: [], listed: [] },
    ];
    expect(play(drained).violations).toEqual([]);
  });

  test("a node cordoned by the operator while its shadow shows no reason, past the bound, is I3", () => {
    const history: Observation[] = [
      ...start(1),
      { at: T0 + S, kind: "event", object: event("n1", T0 + S, "UpdateStarted") },
      { at: T0 + 2 * S, kind: "node", object: node("n1", { cordonedBy: OPERATOR }) },
      { at: T0 + 20 * S, kind: "tick" },
      { at: T0 + 40 * S, kind: "tick" },
    ];
    const caught = play(history);
    expect(caught.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I3", ["n1"]]]);
    expect(caught.violations[0]?.message).toMatch(/n1 cordoned by kubernetes-client-javascript for 38\.0 s/);

    // The same cordon by a person (kubectl cordon) is not the operator's to explain.
    const byAPerson = history.map((o) =>
      o.kind === "node" && o.at > T0 ? { ...o, object: node("n1", { cordonedBy: "kubectl-cordon" }) } : o,
    );
    expect(play(byAPerson).violations).toEqual([]);
  });

  test("budget 1 exceeded by a node the operator cordons while its shadow reads Idle is I2", () => {
    const history: Observation[] = [
      ...start(3),
      // n1: a real update, shown on its shadow.
      { at: T0 + S, kind: "shadow", node: "n1", object: shadow("n1", "RebootedIntoUpdate", "drain and reboot") },
      { at: T0 + S, kind: "event", object: event("n1", T0 + S, "UpdateStarted") },
      { at: T0 + 2 * S, kind: "node", object: node("n1", { cordonedBy: OPERATOR }) },
      // n2: cordoned by the operator, its shadow still Idle in spec and status.
      { at: T0 + 3 * S, kind: "node", object: node("n2", { cordonedBy: OPERATOR }) },
    ];
    // A check that counted shadows out of Idle would see one node, within the budget.
    const shadowsOutOfIdle = new Set(
      history.flatMap((o) =>
        o.kind === "shadow" && (o.object as { spec: { state: string } }).spec.state !== "Idle" ? [o.node] : [],
      ),
    );
    expect(shadowsOutOfIdle.size).toBe(1);
    const caught = play(history, { budget: 1, reasonWithinMs: 3_600 * S });
    expect(caught.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I2", ["n1", "n2"]]]);
    expect(caught.maxDisrupted).toBe(2);

    // The same history where n1's update is over (uncordoned) before n2 is cordoned stays within the budget.
    const oneAtATime: Observation[] = [
      ...history.slice(0, -1),
      { at: T0 + 2.5 * S, kind: "node", object: node("n1") },
      history[history.length - 1] as Observation,
    ];
    expect(play(oneAtATime, { budget: 1, reasonWithinMs: 3_600 * S }).violations).toEqual([]);
  });

  test("a rollout stalled behind a node whose boot hangs (budget 1, others waiting) is I4, and they end lost", () => {
    const history: Observation[] = [
      ...start(3),
      { at: T0, kind: "publish", version: "1.26.0" },
      { at: T0 + S, kind: "event", object: event("n1", T0 + S, "UpdateStarted") },
      { at: T0 + S, kind: "shadow", node: "n1", object: shadow("n1", "RebootedIntoUpdate", "drain and reboot") },
      hostEffect(T0 + 2 * S, "n1", { type: "command-started", at: T0 + 2 * S, command: "prepare" }),
      { at: T0 + 4 * S, kind: "node", object: node("n1", { cordonedBy: OPERATOR }) },
      hostEffect(T0 + 5 * S, "n1", { type: "reboot-requested", at: T0 + 5 * S, downAt: T0 + 6 * S }),
      { at: T0 + 5 * S, kind: "reboot-checked", node: "n1", cached: [], listed: [] },
      hostEffect(T0 + 6 * S, "n1", { type: "api-down", at: T0 + 6 * S, keepSocketFile: false }),
      hostEffect(T0 + 7 * S, "n1", { type: "boot-failed", at: T0 + 7 * S, version: "1.26.0", mode: "hang" }),
      { at: T0 + 30 * S, kind: "node", object: node("n1", { cordonedBy: OPERATOR, ready: false }) },
      { at: T0 + 100 * S, kind: "tick" },
      { at: T0 + 130 * S, kind: "tick" },
    ];
    const caught = play(history, { budget: 1 });
    expect(caught.violations.map((v) => v.invariant)).toEqual(["I4"]);
    expect(caught.violations[0]?.message).toMatch(/no node made progress for 12\d\.0 s while 3 could/);
    // Nobody said n1 is stuck (no Warning), and n2, n3 never started: all three lost.
    expect(caught.finish(T0 + 131 * S).map((x) => [x.node, x.outcome])).toEqual([
      ["n1", "lost"],
      ["n2", "lost"],
      ["n3", "lost"],
    ]);

    // Reported stuck (a Warning and a reason), n1 keeps its place in the budget and nobody is owed progress.
    const reported: Observation[] = [
      ...history.slice(0, -2),
      { at: T0 + 60 * S, kind: "event", object: event("n1", T0 + 60 * S, "NodeStuck", "Warning") },
      { at: T0 + 60 * S, kind: "shadow", node: "n1", object: shadow("n1", "Idle", "stuck: the agent never reported") },
      { at: T0 + 130 * S, kind: "tick" },
    ];
    const held = play(reported, { budget: 1 });
    expect(held.violations).toEqual([]);
    expect(held.reportedStuck("n1")).toBe(true);
  });
});

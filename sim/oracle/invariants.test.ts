// The oracle's decisions on hand-built observations: what it must report (a reboot with a pod still bound, a node
// cordoned past the bound with no reason, four nodes disrupted at budget 3 while every shadow reads Idle, ...) and
// what it must not (a cache that lags, DaemonSet pods, someone else's cordon).
import { describe, expect, test } from "vitest";
import { budgetLimit, InvariantOracle, type OracleOptions } from "./invariants.ts";
import type { EventView, NodeView, PdbView, PodView } from "./views.ts";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const S = 1_000;
const OPERATOR = "kubernetes-client-javascript";

function oracle(o: Partial<OracleOptions> = {}): InvariantOracle {
  return new InvariantOracle({ budget: 3, reasonWithinMs: 30 * S, stallMs: 120 * S, startedAt: T0, ...o });
}

function node(name: string, o: Partial<NodeView> = {}): NodeView {
  return {
    name,
    labels: {},
    unschedulable: false,
    cordonManager: undefined,
    ready: true,
    osVersion: "1.25.0",
    ...o,
  };
}

const cordoned = (name: string, o: Partial<NodeView> = {}) =>
  node(name, { unschedulable: true, cordonManager: OPERATOR, ...o });

function pod(name: string, nodeName: string, o: Partial<PodView> = {}): PodView {
  return {
    uid: `uid-${name}`,
    namespace: "workloads",
    name,
    nodeName,
    phase: "Running",
    labels: { app: "web" },
    daemonSet: false,
    mirror: false,
    deletingSince: undefined,
    ready: true,
    ...o,
  };
}

function event(nodeName: string, at: number, o: Partial<EventView> = {}): EventView {
  return { node: nodeName, type: "Normal", reason: "UpdateStarted", message: "", at, ...o };
}

/** Nodes n1..nN seen Idle, uncordoned, hosts up at 1.25.0. */
function fleet(o: InvariantOracle, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  for (const n of names) {
    o.hostInitially(n, true, "1.25.0");
    o.node(T0, node(n));
    o.shadowReason(T0, n, undefined);
  }
  return names;
}

/** A node's whole successful update, as an observer sees it. */
function update(o: InvariantOracle, n: string, at: number): number {
  o.event(at, event(n, at));
  o.shadowReason(at, n, "update to 1.26.0 started");
  o.host(at + S, n, { kind: "command", command: "prepare" });
  o.host(at + 4 * S, n, { kind: "command", command: "activate" });
  o.node(at + 5 * S, cordoned(n));
  o.host(at + 6 * S, n, { kind: "reboot-requested" });
  o.rebootChecked(at + 6 * S, n, [], []);
  o.host(at + 7 * S, n, { kind: "down" });
  o.host(at + 12 * S, n, { kind: "up", version: "1.26.0" });
  o.node(at + 13 * S, cordoned(n, { osVersion: "1.26.0" }));
  o.node(at + 14 * S, node(n, { osVersion: "1.26.0", cordonManager: OPERATOR }));
  return at + 14 * S;
}

describe("I1: no reboot while a pod the drain must evict is still bound", () => {
  test("a reboot with a workload pod still bound (cache and a fresh list agree) is a violation", () => {
    const o = oracle();
    fleet(o, 2);
    o.node(T0 + S, cordoned("n1"));
    const web = pod("web-1", "n1");
    o.host(T0 + 2 * S, "n1", { kind: "reboot-requested" });
    o.rebootChecked(T0 + 2 * S, "n1", [web], [web]);
    expect(o.violations).toHaveLength(1);
    expect(o.violations[0]).toMatchObject({ invariant: "I1", nodes: ["n1"] });
    expect(o.violations[0]?.message).toMatch(/workloads\/web-1 \(Running\)/);
  });

  test("a terminating pod still bound counts: kubectl drain waits until it is gone", () => {
    const o = oracle();
    fleet(o, 1);
    const terminating = pod("db-0", "n1", { deletingSince: T0 + S });
    o.rebootChecked(T0 + 3 * S, "n1", [terminating], [terminating]);
    expect(o.violations.map((v) => v.invariant)).toEqual(["I1"]);
    expect(o.violations[0]?.message).toMatch(/terminating for 2\.0 s/);
    expect(o.violations[0]?.message).toMatch(/not even cordoned/);
  });

  test("a pod terminating longer than --skip-wait-for-delete-timeout is not waited for", () => {
    const o = oracle({ drain: { skipWaitForDeleteTimeoutSeconds: 1 } });
    const terminating = pod("db-0", "n1", { deletingSince: T0 });
    o.rebootChecked(T0 + 3 * S, "n1", [terminating], [terminating]);
    expect(o.violations).toEqual([]);
  });

  test("a pod the cache still showed but a fresh list no longer has is a cache artefact, not a violation", () => {
    const o = oracle();
    fleet(o, 1);
    o.rebootChecked(T0 + S, "n1", [pod("web-1", "n1")], [pod("web-1-new", "n1", { uid: "other" })]);
    expect(o.violations).toEqual([]);
    expect(o.rebootChecks).toEqual({ reboots: 1, podsCachedButGone: 1, unchecked: 0 });
  });

  test("DaemonSet pods, mirror pods and finished pods stay bound without a violation", () => {
    const o = oracle();
    const pods = [
      pod("agent", "n1", { daemonSet: true }),
      pod("static", "n1", { mirror: true }),
      pod("job", "n1", { phase: "Succeeded" }),
      pod("failed", "n1", { phase: "Failed" }),
      pod("elsewhere", "n2"),
    ];
    o.rebootChecked(T0 + S, "n1", pods, pods);
    expect(o.violations).toEqual([]);
  });
});

describe("I2T: nodes actually disrupted per value of a budgeted label never exceed its budget", () => {
  const ZONE = "topology.kubernetes.io/zone";
  const labels = (zone: string | undefined): Record<string, string> => (zone === undefined ? {} : { [ZONE]: zone });
  const zoned = (o: InvariantOracle, layout: Record<string, string | undefined>) => {
    for (const [n, zone] of Object.entries(layout)) {
      o.hostInitially(n, true, "1.25.0");
      o.node(T0, node(n, { labels: labels(zone) }));
    }
  };

  test("two nodes of one zone disrupted at once at 1 per zone is a violation naming the zone; other zones are not", () => {
    const o = oracle({ budget: 10, topologyBudgets: [{ key: ZONE, budget: 1 }] });
    zoned(o, { a1: "a", a2: "a", b1: "b", c1: "c" });
    o.node(T0 + S, cordoned("a1", { labels: labels("a") }));
    o.node(T0 + S, cordoned("b1", { labels: labels("b") }));
    o.host(T0 + 2 * S, "c1", { kind: "reboot-requested" });
    expect(o.violations).toEqual([]);
    o.node(T0 + 3 * S, cordoned("a2", { labels: labels("a") }));
    expect(o.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I2T", ["a1", "a2"]]]);
    expect(o.violations[0]?.message).toMatch(
      /^2 nodes of topology\.kubernetes\.io\/zone=a disrupted at once, budget 1/,
    );
    expect(o.maxDisruptedByGroup).toEqual(
      new Map([
        [`${ZONE}=a`, 2],
        [`${ZONE}=b`, 1],
        [`${ZONE}=c`, 1],
      ]),
    );
    // Once per stretch: a third change while still over is not a second violation; a new stretch is.
    o.node(T0 + 4 * S, cordoned("a2", { labels: labels("a") }));
    o.node(T0 + 5 * S, node("a2", { labels: labels("a"), cordonManager: OPERATOR }));
    o.node(T0 + 6 * S, cordoned("a2", { labels: labels("a") }));
    expect(o.violations.map((v) => v.invariant)).toEqual(["I2T", "I2T"]);
  });

  test("a percentage is of the zone's managed nodes (rounded down, at least 1); nodes without the label are a group", () => {
    const o = oracle({ budget: 10, topologyBudgets: [{ key: ZONE, budget: "50%" }] });
    zoned(o, { a1: "a", a2: "a", a3: "a", a4: "a", b1: "b", u1: undefined, u2: undefined, u3: undefined });
    o.node(T0 + S, cordoned("a1", { labels: labels("a") }));
    o.node(T0 + S, cordoned("a2", { labels: labels("a") })); // 50% of 4 = 2
    o.node(T0 + S, cordoned("b1", { labels: labels("b") })); // 50% of 1: at least 1
    o.node(T0 + S, cordoned("u1"));
    expect(o.violations).toEqual([]);
    o.node(T0 + 2 * S, cordoned("u2")); // 50% of 3 = 1
    expect(o.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I2T", ["u1", "u2"]]]);
    expect(o.violations[0]?.message).toMatch(/topology\.kubernetes\.io\/zone unset .* \(1 of its 3 nodes\)/);
  });
});

describe("I2: nodes actually disrupted never exceed the budget", () => {
  test("four nodes cordoned by the operator at budget 3 while every shadow reads Idle (no reason) is a violation", () => {
    const o = oracle({ reasonWithinMs: 3_600 * S });
    const names = fleet(o, 5);
    for (const [i, n] of names.slice(0, 4).entries()) o.node(T0 + (i + 1) * S, cordoned(n));
    expect(o.violations.map((v) => v.invariant)).toEqual(["I2"]);
    expect(o.violations[0]?.nodes).toEqual(["n1", "n2", "n3", "n4"]);
    expect(o.maxDisrupted).toBe(4);
  });

  test("a node in a reboot the operator asked for counts even when it is not cordoned, until it is up and Ready", () => {
    const o = oracle({ budget: 1 });
    fleet(o, 2);
    o.host(T0 + S, "n1", { kind: "reboot-requested" });
    o.node(T0 + 2 * S, node("n1")); // the Node changes before the host goes down: still in the reboot
    o.host(T0 + 3 * S, "n1", { kind: "down" });
    o.node(T0 + 4 * S, cordoned("n2"));
    expect(o.violations.map((v) => v.invariant)).toEqual(["I2"]);
    expect(o.disrupted()).toEqual(["n1", "n2"]);
    o.node(T0 + 5 * S, node("n2", { cordonManager: OPERATOR }));
    o.host(T0 + 6 * S, "n1", { kind: "up", version: "1.26.0" });
    expect(o.disrupted()).toEqual([]);
  });

  test("a node NotReady after the reboot still counts until it is Ready", () => {
    const o = oracle({ budget: 1 });
    fleet(o, 1);
    o.host(T0 + S, "n1", { kind: "reboot-requested" });
    o.host(T0 + 2 * S, "n1", { kind: "down" });
    o.node(T0 + 3 * S, node("n1", { ready: false }));
    o.host(T0 + 4 * S, "n1", { kind: "up", version: "1.26.0" });
    expect(o.disrupted()).toEqual(["n1"]);
    o.node(T0 + 5 * S, node("n1", { ready: true }));
    expect(o.disrupted()).toEqual([]);
  });

  test("a cordon set by someone else (kubectl cordon) is not the operator's and does not count", () => {
    const o = oracle({ budget: 1 });
    fleet(o, 2);
    o.node(T0 + S, cordoned("n1", { cordonManager: "kubectl-cordon" }));
    o.node(T0 + 2 * S, cordoned("n2"));
    expect(o.violations).toEqual([]);
    expect(o.disrupted()).toEqual(["n2"]);
  });

  test("an external power cycle (no reboot request) is not a disruption by the operator", () => {
    const o = oracle({ budget: 1 });
    fleet(o, 2);
    o.host(T0 + S, "n1", { kind: "down" });
    o.node(T0 + 2 * S, cordoned("n2"));
    expect(o.violations).toEqual([]);
  });

  test("a percentage budget is of the managed nodes, rounded down, at least 1", () => {
    expect(budgetLimit("25%", 20)).toBe(5);
    expect(budgetLimit("25%", 10)).toBe(2);
    expect(budgetLimit("10%", 3)).toBe(1);
    expect(budgetLimit("unlimited", 3)).toBe(Infinity);
    const o = oracle({ budget: "25%", managed: (labels) => labels.pool === "blue" });
    for (let i = 1; i <= 8; i++) o.node(T0, node(`n${i}`, { labels: { pool: i <= 4 ? "blue" : "green" } }));
    o.node(T0 + S, cordoned("n1", { labels: { pool: "blue" } }));
    expect(o.violations).toEqual([]);
    o.node(T0 + 2 * S, cordoned("n2", { labels: { pool: "blue" } }));
    expect(o.violations[0]?.message).toMatch(/budget 25% \(1 nodes\)/);
  });

  test("a violation is reported once per stretch over the budget, and again after the next one begins", () => {
    const o = oracle({ budget: 1, reasonWithinMs: 3_600 * S });
    fleet(o, 3);
    o.node(T0 + S, cordoned("n1"));
    o.node(T0 + 2 * S, cordoned("n2"));
    o.node(T0 + 3 * S, cordoned("n3"));
    o.node(T0 + 4 * S, node("n3", { cordonManager: OPERATOR }));
    o.node(T0 + 5 * S, node("n2", { cordonManager: OPERATOR }));
    o.node(T0 + 6 * S, cordoned("n2"));
    expect(o.violations.map((v) => v.nodes)).toEqual([
      ["n1", "n2"],
      ["n1", "n2"],
    ]);
  });

  test("a deleted node no longer counts", () => {
    const o = oracle({ budget: 1 });
    fleet(o, 2);
    o.node(T0 + S, cordoned("n1"));
    o.nodeDeleted(T0 + 2 * S, "n1");
    o.node(T0 + 3 * S, cordoned("n2"));
    expect(o.violations).toEqual([]);
  });
});

describe("I3: no node cordoned by the operator past the bound without a reason and an Event", () => {
  test("a node cordoned past the bound with no reason on its shadow is a violation, once", () => {
    const o = oracle({ reasonWithinMs: 30 * S });
    fleet(o, 1);
    o.event(T0 + S, event("n1", T0 + S));
    o.node(T0 + 2 * S, cordoned("n1"));
    o.tick(T0 + 20 * S);
    expect(o.violations).toEqual([]);
    o.tick(T0 + 33 * S);
    o.tick(T0 + 60 * S);
    expect(o.violations.map((v) => v.invariant)).toEqual(["I3"]);
    expect(o.violations[0]?.message).toMatch(/n1 cordoned by kubernetes-client-javascript for 31\.0 s with no reason/);
  });

  test("a reason on the shadow but no Event since the last uncordon is a violation", () => {
    const o = oracle({ reasonWithinMs: 30 * S });
    fleet(o, 1);
    o.event(T0 + S, event("n1", T0 + S));
    o.shadowReason(T0 + S, "n1", "update started");
    o.node(T0 + 2 * S, cordoned("n1"));
    o.node(T0 + 10 * S, node("n1", { cordonManager: OPERATOR }));
    o.node(T0 + 20 * S, cordoned("n1")); // cordoned again, nothing said since
    o.tick(T0 + 60 * S);
    expect(o.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/no Event about it since its last uncordon/),
    ]);
  });

  test("a reason and an Event: no violation however long the cordon lasts", () => {
    const o = oracle({ reasonWithinMs: 30 * S });
    fleet(o, 1);
    o.event(T0 + S, event("n1", T0 + S, { reason: "RequestedRebootedIntoUpdate" }));
    o.shadowReason(T0 + S, "n1", "drain and reboot");
    o.node(T0 + 2 * S, cordoned("n1"));
    o.tick(T0 + 600 * S);
    expect(o.violations).toEqual([]);
  });

  test("a reason out of sight for less than the grace (a shadow being rewritten) is not missing", () => {
    const o = oracle({ reasonWithinMs: 30 * S, reasonGraceMs: 5 * S });
    fleet(o, 1);
    o.event(T0 + S, event("n1", T0 + S));
    o.shadowReason(T0 + S, "n1", "drain and reboot");
    o.node(T0 + 2 * S, cordoned("n1"));
    o.shadowReason(T0 + 40 * S, "n1", undefined);
    o.tick(T0 + 42 * S);
    o.shadowReason(T0 + 43 * S, "n1", "reset after a failure");
    o.tick(T0 + 60 * S);
    expect(o.violations).toEqual([]);
  });
});

describe("I4: every node reaches the target or is reported stuck, and the fleet keeps going", () => {
  test("a full update ends updated, with no violation", () => {
    const o = oracle();
    fleet(o, 1);
    o.publish(T0, "1.26.0");
    const end = update(o, "n1", T0 + S);
    expect(o.finish(end)).toEqual([{ node: "n1", outcome: "updated" }]);
    expect(o.violations).toEqual([]);
  });

  test("a node neither updated nor reported stuck is lost; one reported but left cordoned while Ready is stranded", () => {
    const o = oracle({ reasonWithinMs: 3_600 * S });
    fleet(o, 3);
    o.publish(T0, "1.26.0");
    o.host(T0 + S, "n1", { kind: "command", command: "prepare" });
    o.node(T0 + 2 * S, cordoned("n2"));
    o.shadowReason(T0 + 3 * S, "n2", "prepare failed");
    o.event(T0 + 3 * S, event("n2", T0 + 3 * S, { type: "Warning", reason: "UpdateFailed" }));
    o.shadowReason(T0 + 3 * S, "n3", "host hangs at boot");
    o.event(T0 + 3 * S, event("n3", T0 + 3 * S, { type: "Warning", reason: "AgentUnresponsive" }));
    o.node(T0 + 3 * S, cordoned("n3"));
    o.host(T0 + 4 * S, "n3", { kind: "reboot-requested" });
    o.host(T0 + 5 * S, "n3", { kind: "down" });
    o.host(T0 + 5 * S, "n3", { kind: "boot-hung" });
    const outcomes = o.finish(T0 + 10 * S);
    expect(outcomes.map((x) => [x.node, x.outcome])).toEqual([
      ["n1", "lost"],
      ["n2", "stranded"],
      ["n3", "stuck"],
    ]);
    expect(o.violations.filter((v) => v.invariant === "I4").map((v) => v.nodes)).toEqual([["n1"], ["n2"]]);
  });

  test("a Warning from before the node's latest attempt does not make it reported", () => {
    const o = oracle({ attemptGapMs: 60 * S });
    fleet(o, 1);
    o.publish(T0, "1.26.0");
    o.shadowReason(T0, "n1", "failed");
    o.event(T0 + S, event("n1", T0 + S, { type: "Warning", reason: "UpdateFailed" }));
    expect(o.reportedStuck("n1")).toBe(true);
    o.host(T0 + 200 * S, "n1", { kind: "command", command: "prepare" }); // the retry, after the backoff
    expect(o.reportedStuck("n1")).toBe(false);
  });

  test("a stuck node holding the fleet up: no progress past the bound while others could is a violation", () => {
    const o = oracle({ budget: 1, stallMs: 120 * S, reasonWithinMs: 3_600 * S });
    fleet(o, 3);
    o.publish(T0, "1.26.0");
    o.node(T0 + S, cordoned("n1"));
    o.host(T0 + 2 * S, "n1", { kind: "reboot-requested" });
    o.host(T0 + 3 * S, "n1", { kind: "down" });
    o.host(T0 + 3 * S, "n1", { kind: "boot-hung" });
    o.tick(T0 + 100 * S);
    expect(o.violations).toEqual([]);
    o.tick(T0 + 124 * S);
    expect(o.violations.map((v) => v.invariant)).toEqual(["I4"]);
    expect(o.violations[0]?.message).toMatch(
      /no node made progress for 122\.0 s while 3 could \(n1, n2, n3\); disrupted meanwhile: n1/,
    );
  });

  test("a zone held by a disrupted node reported stuck waits on purpose; the other zones must go on", () => {
    const ZONE = "topology.kubernetes.io/zone";
    const zoned = (n: string, zone: string, o: Partial<NodeView> = {}) => node(n, { labels: { [ZONE]: zone }, ...o });
    const o = oracle({
      budget: 3,
      topologyBudgets: [{ key: ZONE, budget: 1 }],
      stallMs: 120 * S,
      reasonWithinMs: 3_600 * S,
    });
    for (const [n, z] of [
      ["a1", "a"],
      ["a2", "a"],
      ["b1", "b"],
    ] as const) {
      o.hostInitially(n, true, "1.25.0");
      o.node(T0, zoned(n, z));
    }
    o.publish(T0, "1.26.0");
    // a1 hangs at boot, cordoned, and is reported stuck: a2 waits for zone a on purpose.
    o.node(T0 + S, zoned("a1", "a", { unschedulable: true, cordonManager: OPERATOR }));
    o.host(T0 + 2 * S, "a1", { kind: "reboot-requested" });
    o.host(T0 + 3 * S, "a1", { kind: "down" });
    o.host(T0 + 3 * S, "a1", { kind: "boot-hung" });
    o.shadowReason(T0 + 4 * S, "a1", "timed out in RebootedIntoUpdate");
    o.event(T0 + 4 * S, event("a1", T0 + 4 * S, { type: "Warning", reason: "UpdateTimedOut" }));
    // b1 could go and does not: a stall.
    o.tick(T0 + 200 * S);
    expect(o.violations.map((v) => v.invariant)).toEqual(["I4"]);
    expect(o.violations[0]?.message).toMatch(/while 1 could \(b1\)/);
  });

  test("no stall while every node not updated is reported (backing off, stuck), nor while the schedule is closed", () => {
    const o = oracle({ stallMs: 60 * S });
    fleet(o, 2);
    o.publish(T0, "1.26.0");
    for (const n of ["n1", "n2"]) {
      o.shadowReason(T0 + S, n, "failed, backing off");
      o.event(T0 + S, event(n, T0 + S, { type: "Warning", reason: "UpdateFailed" }));
    }
    o.tick(T0 + 300 * S);
    expect(o.violations).toEqual([]);
    const closed = oracle({ stallMs: 60 * S, scheduleOpen: (t) => t < T0 + 10 * S });
    fleet(closed, 1);
    closed.publish(T0, "1.26.0");
    closed.tick(T0 + 300 * S);
    expect(closed.violations).toEqual([]);
  });

  test("a deleted node is no longer owed an update; a node that left the managed nodes only must not stay cordoned", () => {
    const o = oracle({ managed: (l) => l.pool === "blue" });
    for (const n of ["n1", "n2", "n3"]) o.node(T0, node(n, { labels: { pool: "blue" } }));
    o.publish(T0, "1.26.0");
    o.nodeDeleted(T0 + S, "n1");
    o.node(T0 + S, node("n2", { labels: { pool: "green" } }));
    o.node(T0 + S, cordoned("n3", { labels: { pool: "green" } }));
    expect(o.finish(T0 + 2 * S).map((x) => [x.node, x.outcome])).toEqual([
      ["n1", "deleted"],
      ["n2", "left"],
      ["n3", "lost"],
    ]);
  });
});

describe("I5: updates start only while the schedule allows", () => {
  const open = (t: number) => (t - T0) % (60 * S) < 45 * S; // 45 s of every minute

  test("a prepare that begins an attempt outside the window (beyond the slack) is a violation", () => {
    const o = oracle({ scheduleOpen: open, startSlackMs: 5 * S });
    fleet(o, 2);
    o.host(T0 + 10 * S, "n1", { kind: "command", command: "prepare" });
    o.host(T0 + 48 * S, "n2", { kind: "command", command: "prepare" }); // within the slack after :45
    expect(o.violations).toEqual([]);
    o.host(T0 + 55 * S, "n1", { kind: "command", command: "activate" });
    o.host(T0 + 56 * S, "n1", { kind: "command", command: "prepare" }); // same attempt: not a start
    expect(o.violations).toEqual([]);
    o.host(T0 + 170 * S, "n2", { kind: "command", command: "prepare" }); // :50 of the third minute, a new attempt
    expect(o.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I5", ["n2"]]]);
    expect(o.starts).toBe(3);
  });

  test("a start is dated from when the spec asked to stage, however late the host prepares", () => {
    const o = oracle({ scheduleOpen: open, startSlackMs: 5 * S });
    fleet(o, 3);
    o.shadowSpec(T0 + 43 * S, "n1", "StagedAndPerformedUpdate"); // asked inside the window
    o.shadowSpec(T0 + 50 * S, "n1", "StagedAndPerformedUpdate"); // the same ask, rewritten
    o.host(T0 + 56 * S, "n1", { kind: "command", command: "prepare" }); // the host API was down until now
    expect(o.violations).toEqual([]);
    o.shadowSpec(T0 + 52 * S, "n2", "StagedAndPerformedUpdate"); // asked outside it
    o.host(T0 + 53 * S, "n2", { kind: "command", command: "prepare" });
    o.shadowSpec(T0 + 40 * S, "n3", "StagedAndPerformedUpdate");
    o.shadowSpec(T0 + 41 * S, "n3", "Idle"); // withdrawn: a later prepare is dated by itself
    o.host(T0 + 56 * S, "n3", { kind: "command", command: "prepare" });
    expect(o.violations.map((v) => [v.invariant, v.nodes, v.message])).toEqual([
      ["I5", ["n2"], expect.stringContaining("asked for 1.0 s earlier")],
      ["I5", ["n3"], expect.not.stringContaining("asked")],
    ]);
  });
});

describe("I5 after a one-shot trigger whose session found nothing to start", () => {
  test("a start after the session, before the next trigger, is a violation once the schedule says so", () => {
    const o = oracle({ startSlackMs: 10 * S });
    fleet(o, 2);
    o.host(T0 + 10 * S, "n1", { kind: "command", command: "prepare" }); // no schedule yet: any time
    const fire = T0 + 300 * S;
    o.schedule((t) => t >= fire && t <= fire + 5 * S);
    o.host(fire + 12 * S, "n2", { kind: "command", command: "prepare" }); // within the slack of the session
    expect(o.violations).toEqual([]);
    o.host(fire + 200 * S, "n1", { kind: "command", command: "prepare" }); // a standby reopening the session
    expect(o.violations.map((v) => [v.invariant, v.nodes])).toEqual([["I5", ["n1"]]]);
  });
});

describe("PodDisruptionBudgets", () => {
  const pdb = (o: Partial<PdbView> = {}): PdbView => ({
    namespace: "workloads",
    name: "web",
    selector: { matchLabels: { app: "web" }, matchExpressions: [] },
    desiredHealthy: 2,
    expectedPods: 3,
    ...o,
  });

  test("once all its pods were healthy, a drop below desiredHealthy is a violation", () => {
    const o = oracle();
    fleet(o, 3);
    o.pdb(T0, pdb());
    for (const i of [1, 2, 3]) o.pod(T0, pod(`web-${i}`, `n${i}`));
    o.podDeleted(T0 + S, "uid-web-1");
    expect(o.violations).toEqual([]);
    o.pod(T0 + 2 * S, pod("web-2", "n2", { deletingSince: T0 + 2 * S }));
    expect(o.violations.map((v) => v.invariant)).toEqual(["PDB"]);
    expect(o.violations[0]?.message).toMatch(/down: web-2 on n2 \(terminating\)$/);
    expect(o.violations[0]?.nodes).toEqual(["n2"]);
    expect(o.pdbLowest().get("workloads/web")).toBe(1);
  });

  test("a NotReady node takes its pods' readiness with it (involuntary): not checked until all are healthy again", () => {
    const o = oracle();
    fleet(o, 3);
    o.pdb(T0, pdb());
    for (const i of [1, 2, 3]) o.pod(T0, pod(`web-${i}`, `n${i}`));
    o.node(T0 + S, node("n1", { ready: false }));
    o.pod(T0 + S, pod("web-1", "n1", { ready: false }));
    o.pod(T0 + 2 * S, pod("web-2", "n2", { ready: false }));
    expect(o.violations).toEqual([]);
  });

  test("a deleted node's pods are down from its deletion, not from pod GC's removal of them (40 s or more later)", () => {
    const o = oracle();
    fleet(o, 3);
    o.pdb(T0, pdb());
    for (const [p, n] of [
      ["web-1", "n1"],
      ["web-2", "n1"],
      ["web-3", "n2"],
    ] as const)
      o.pod(T0, pod(p, n));
    o.nodeDeleted(T0 + S, "n1");
    o.pod(T0 + 2 * S, pod("web-3", "n2")); // any later change: the API still lists web-1 and web-2 Ready
    o.podDeleted(T0 + 50 * S, "uid-web-1"); // pod GC
    o.podDeleted(T0 + 50 * S, "uid-web-2");
    expect(o.violations).toEqual([]);
    // Replaced and healthy again: checked again from here.
    o.pod(T0 + 60 * S, pod("web-4", "n2"));
    o.pod(T0 + 60 * S, pod("web-5", "n3"));
    o.pod(T0 + 70 * S, pod("web-4", "n2", { deletingSince: T0 + 70 * S }));
    o.pod(T0 + 70 * S, pod("web-5", "n3", { deletingSince: T0 + 70 * S }));
    expect(o.violations.map((v) => v.invariant)).toEqual(["PDB"]);
  });
});

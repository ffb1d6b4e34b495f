import { describe, expect, it } from "vitest";
import { formatTimestamp } from "../api/timestamps.ts";
import { ANNOTATIONS, DEFAULT_SPEC } from "./model.ts";
import { decideNextSpec, type NodePolicy } from "./next-spec.ts";
import type { GateVerdict } from "./health-gates.ts";
import { NODE_POLICY, T0, after, iso, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

/** brupop's MonitoringUpdate: no gates at all (healthGates.builtIn false and none listed). */
const NO_GATES: Partial<NodePolicy> = { healthGates: { gates: [], prometheusUrl: null } };

const NOW = formatTimestamp(T0);

interface Case {
  name: string;
  node: ShadowOptions;
  policy?: Partial<NodePolicy>;
  now?: Date;
  expected: Record<string, unknown>;
}

function check(cases: Case[]): void {
  it.each(cases)("$name", ({ node, policy, now, expected }) => {
    const decision = decideNextSpec(shadow("n1", node), { ...NODE_POLICY, ...policy }, now ?? T0);
    expect(decision).toMatchObject(expected);
  });
}

// docs/design/state-machine.md#next-spec, rule by rule. `spec` is compared in full wherever brupop defines it.
describe("brupop's determine_next_node_spec cases", () => {
  check([
    {
      name: "rule 1: no status and a default spec: nothing to write",
      node: { status: null },
      expected: { kind: "keep", why: "no-status" },
    },
    {
      name: "rule 1: no status and a non-default spec: back to the default spec",
      node: { status: null, spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-60)) } },
      expected: { kind: "reset", cause: "no-status", spec: DEFAULT_SPEC },
    },
    {
      name: "rule 2: not reached, not crashed: spec kept",
      node: {
        spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-60)) },
        status: { current_state: "Idle", target_version: "1.20.0" },
      },
      expected: { kind: "keep", why: "in-progress" },
    },
    {
      name: "rule 2: crashed: Idle now, version kept",
      node: {
        spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-60)) },
        status: { current_state: "ErrorReset", crash_count: 2, target_version: "1.20.0" },
      },
      expected: {
        kind: "reset",
        cause: "crashed",
        spec: { state: "Idle", state_transition_timestamp: NOW, version: "1.20.0" },
      },
    },
    {
      name: "rule 3 Idle: versions differ, no failure: start, version pinned to the target",
      node: { spec: { version: "1.18.0" }, status: { current_version: "1.19.0", target_version: "1.20.0" } },
      expected: {
        kind: "start",
        spec: { state: "StagedAndPerformedUpdate", state_transition_timestamp: NOW, version: "1.20.0" },
        from: "1.19.0",
        to: "1.20.0",
      },
    },
    {
      name: "rule 3 Idle: versions differ, backoff not elapsed: spec kept (wait)",
      node: {
        status: {
          target_version: "1.20.0",
          crash_count: 1,
          state_transition_failure_timestamp: iso(after(-119)),
        },
      },
      expected: { kind: "wait", until: after(-119 + 180) },
    },
    {
      name: "rule 3 Idle: versions equal, spec carries a version: back to the default spec",
      node: {
        spec: { state: "Idle", version: "1.19.0", state_transition_timestamp: iso(after(-5)) },
        status: { current_version: "1.19.0", target_version: "1.19.0" },
      },
      expected: { kind: "advance", step: "clear", spec: DEFAULT_SPEC },
    },
    {
      name: "rule 3 Idle: versions equal, default spec: nothing to write",
      node: {},
      expected: { kind: "keep", why: "up-to-date" },
    },
    {
      name: "rule 3: StagedAndPerformedUpdate reached: RebootedIntoUpdate",
      node: {
        spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
      },
      expected: {
        kind: "advance",
        step: "next",
        spec: { state: "RebootedIntoUpdate", state_transition_timestamp: NOW, version: "1.20.0" },
      },
    },
    {
      name: "rule 3: RebootedIntoUpdate reached: MonitoringUpdate",
      node: {
        spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "RebootedIntoUpdate", current_version: "1.20.0", target_version: "1.20.0" },
      },
      expected: {
        kind: "advance",
        step: "next",
        spec: { state: "MonitoringUpdate", state_transition_timestamp: NOW, version: "1.20.0" },
      },
    },
    {
      name: "rule 3: MonitoringUpdate reached, no health gates: Idle, version kept",
      node: {
        spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
      },
      policy: NO_GATES,
      expected: {
        kind: "advance",
        step: "finish",
        spec: { state: "Idle", state_transition_timestamp: NOW, version: "1.20.0" },
      },
    },
    {
      name: "rule 3: an ErrorReset spec (never written by a controller) that is reached: Idle (on_success)",
      node: {
        spec: { state: "ErrorReset", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "ErrorReset" },
      },
      expected: {
        kind: "advance",
        step: "next",
        spec: { state: "Idle", state_transition_timestamp: NOW, version: "1.20.0" },
      },
    },
    {
      name: "semver inequality, not 'greater': same precedence, other build metadata starts",
      node: { status: { current_version: "1.20.0", target_version: "1.20.0+b2" } },
      expected: { kind: "start", to: "1.20.0+b2" },
    },
  ]);
});

describe("crash backoff (state-machine.md#crash-backoff): 2^n minutes must be exceeded, capped at 1440", () => {
  const failedAt = T0;
  const crashed = (count: number): ShadowOptions => ({
    status: { target_version: "1.20.0", crash_count: count, state_transition_failure_timestamp: iso(failedAt) },
  });
  check([
    { name: "count 1 at 2:59 waits", node: crashed(1), now: after(179), expected: { kind: "wait", until: after(180) } },
    { name: "count 1 at 3:00 starts", node: crashed(1), now: after(180), expected: { kind: "start" } },
    { name: "count 3 at 8:59 waits", node: crashed(3), now: after(539), expected: { kind: "wait" } },
    { name: "count 3 at 9:00 starts", node: crashed(3), now: after(540), expected: { kind: "start" } },
    {
      name: "count 4, quarantine disabled, at 16:59 waits",
      node: crashed(4),
      policy: { quarantineAfterFailures: null },
      now: after(16 * 60 + 59),
      expected: { kind: "wait" },
    },
    {
      name: "count 30 (cap) at 1440 min waits",
      node: crashed(30),
      policy: { quarantineAfterFailures: null },
      now: after(1440 * 60),
      expected: { kind: "wait", until: after(1441 * 60) },
    },
    {
      name: "count 30 (cap) at 1441 min starts",
      node: crashed(30),
      policy: { quarantineAfterFailures: null },
      now: after(1441 * 60),
      expected: { kind: "start" },
    },
    {
      name: "FAILURE_BACKOFF_UNIT 2s: count 1 waits 3 units, 6 s",
      node: crashed(1),
      policy: { backoffUnitMs: 2_000 },
      now: after(5),
      expected: { kind: "wait", until: after(6) },
    },
    {
      name: "FAILURE_BACKOFF_UNIT 2s: count 3 starts after 9 units, 18 s",
      node: crashed(3),
      policy: { backoffUnitMs: 2_000 },
      now: after(18),
      expected: { kind: "start" },
    },
    {
      name: "a crash count without a failure timestamp does not back off (brupop)",
      node: { status: { target_version: "1.20.0", crash_count: 3, state_transition_failure_timestamp: null } },
      expected: { kind: "start" },
    },
    {
      name: "an unparsable failure timestamp does not back off",
      node: { status: { target_version: "1.20.0", crash_count: 3, state_transition_failure_timestamp: "yesterday" } },
      expected: { kind: "start" },
    },
  ]);
});

describe("per-state timeouts (state-machine.md#timeouts)", () => {
  const stuck = (state: "StagedAndPerformedUpdate" | "RebootedIntoUpdate" | "MonitoringUpdate", since: Date) => ({
    spec: { state, version: "1.20.0", state_transition_timestamp: iso(since) },
    status: { current_state: "StagedAndPerformedUpdate" as const, target_version: "1.20.0" },
  });
  check([
    {
      name: "StagedAndPerformedUpdate 1 s before 900 s: kept, recheck at the deadline",
      node: { ...stuck("StagedAndPerformedUpdate", after(-899)), status: { current_state: "Idle" } },
      expected: { kind: "keep", why: "in-progress", recheckAt: after(1) },
    },
    {
      name: "StagedAndPerformedUpdate at 900 s: reset to Idle, timeout recorded",
      node: { ...stuck("StagedAndPerformedUpdate", after(-900)), status: { current_state: "Idle" } },
      expected: {
        kind: "reset",
        cause: "timed-out",
        spec: { state: "Idle", state_transition_timestamp: NOW, version: "1.20.0" },
        reason: "timed out in StagedAndPerformedUpdate after 15m (agent still reports Idle); back to Idle",
        annotations: {
          [ANNOTATIONS.timeouts]: "1",
          [ANNOTATIONS.lastTimeout]: NOW,
          [ANNOTATIONS.lastFailureReason]: "timed out in StagedAndPerformedUpdate",
        },
      },
    },
    {
      name: "RebootedIntoUpdate at 1799 s: kept",
      node: stuck("RebootedIntoUpdate", after(-1799)),
      expected: { kind: "keep", why: "in-progress", recheckAt: after(1) },
    },
    {
      name: "RebootedIntoUpdate at 1800 s: reset; the timeout count goes up",
      node: { ...stuck("RebootedIntoUpdate", after(-1800)), annotations: { [ANNOTATIONS.timeouts]: "2" } },
      expected: {
        kind: "reset",
        cause: "timed-out",
        reason: expect.stringMatching(/^timed out in RebootedIntoUpdate after 30m/),
        annotations: { [ANNOTATIONS.timeouts]: "3" },
      },
    },
    {
      name: "MonitoringUpdate at 300 s: reset",
      node: { ...stuck("MonitoringUpdate", after(-300)), status: { current_state: "RebootedIntoUpdate" } },
      expected: { kind: "reset", cause: "timed-out" },
    },
    {
      name: "a configured timeout replaces the default",
      node: stuck("RebootedIntoUpdate", after(-900)),
      policy: { stateTimeouts: { ...NODE_POLICY.stateTimeouts, RebootedIntoUpdate: 1800 } },
      expected: { kind: "keep", why: "in-progress", recheckAt: after(900) },
    },
    {
      name: "no timestamp to measure from: stamp one (so the wait stays bounded)",
      node: {
        spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: null },
        status: { current_state: "StagedAndPerformedUpdate" },
      },
      expected: {
        kind: "advance",
        step: "restamp",
        spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: NOW },
      },
    },
    {
      name: "a crash is a crash even past the timeout",
      node: { ...stuck("RebootedIntoUpdate", after(-3600)), status: { current_state: "ErrorReset", crash_count: 1 } },
      expected: { kind: "reset", cause: "crashed" },
    },
  ]);
});

describe("after a reset: the agent has to report Idle (no churn, bounded)", () => {
  check([
    {
      name: "spec Idle, status ErrorReset: left alone (brupop rewrote it every 2 s)",
      node: {
        spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-10)) },
        status: { current_state: "ErrorReset", crash_count: 1 },
      },
      expected: { kind: "keep", why: "awaiting-agent", recheckAt: after(110) },
    },
    {
      name: "spec Idle, status MonitoringUpdate (finishing): waiting for the agent",
      node: {
        spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-10)) },
        status: { current_state: "MonitoringUpdate" },
      },
      expected: { kind: "keep", why: "awaiting-agent" },
    },
    {
      name: "spec Idle without a timestamp while the agent is not Idle: stamp it so the wait is bounded",
      node: {
        spec: { state: "Idle", version: null, state_transition_timestamp: null },
        status: { current_state: "ErrorReset" },
      },
      expected: {
        kind: "advance",
        step: "restamp",
        spec: { state: "Idle", version: null, state_transition_timestamp: NOW },
      },
    },
    {
      name: "past the Idle timeout: stuck",
      node: {
        spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-120)) },
        status: { current_state: "RebootedIntoUpdate" },
      },
      expected: { kind: "keep", why: "stuck", recheckAt: null },
    },
  ]);
});

/** What a finished (or found up to date) update removes: every failure count and the attempt's bookkeeping. */
const CLEARED = {
  [ANNOTATIONS.timeouts]: null,
  [ANNOTATIONS.lastTimeout]: null,
  [ANNOTATIONS.gateFailures]: null,
  [ANNOTATIONS.lastGateFailure]: null,
  [ANNOTATIONS.hookFailures]: null,
  [ANNOTATIONS.lastHookFailure]: null,
  [ANNOTATIONS.lastFailureReason]: null,
  [ANNOTATIONS.acknowledgedFailures]: null,
  [ANNOTATIONS.previousVersion]: null,
  [ANNOTATIONS.updateStarted]: null,
  [ANNOTATIONS.rollbackTo]: null,
  [ANNOTATIONS.rollbackFrom]: null,
};

describe("finishing clears the controller's failure bookkeeping", () => {
  it("removes the timeout count, the last timeout and the acknowledgement", () => {
    const decision = decideNextSpec(
      shadow("n1", {
        spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
        annotations: { [ANNOTATIONS.timeouts]: "2", [ANNOTATIONS.acknowledgedFailures]: "5" },
      }),
      NODE_POLICY,
      T0,
      { kind: "passed", results: [] },
    );
    expect(decision.kind === "advance" && decision.annotations).toEqual({
      ...CLEARED,
      [ANNOTATIONS.specReason]: "update to 1.20.0 complete; health gates passed",
      // The record a canary's soak counts from (canary.ts).
      [ANNOTATIONS.completedVersion]: "1.20.0",
      [ANNOTATIONS.completedAt]: formatTimestamp(T0),
    });
  });

  it("records how long the update took, from its start annotation (what the plan assumes next: plan.ts)", () => {
    const decision = decideNextSpec(
      shadow("n1", {
        spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
        annotations: { [ANNOTATIONS.updateStarted]: iso(after(-421)) },
      }),
      NODE_POLICY,
      T0,
      { kind: "passed", results: [] },
    );
    expect(decision.kind === "advance" && decision.annotations).toMatchObject({
      [ANNOTATIONS.lastUpdateSeconds]: "421",
      [ANNOTATIONS.updateStarted]: null,
    });
  });

  it("so does clearing the spec of a node found up to date after a timed-out attempt (no count carries over)", () => {
    const decision = decideNextSpec(
      shadow("n1", {
        spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "Idle", current_version: "1.20.0", target_version: "1.20.0" },
        annotations: { [ANNOTATIONS.timeouts]: "1", [ANNOTATIONS.lastTimeout]: iso(after(-30)) },
      }),
      NODE_POLICY,
      T0,
    );
    expect(decision).toMatchObject({ kind: "advance", step: "clear" });
    expect(decision.kind === "advance" && decision.annotations).toEqual({
      ...CLEARED,
      [ANNOTATIONS.specReason]: "up to date at 1.20.0; clearing the finished spec",
    });
  });

  it("a reset after a crash carries the agent's failure reason, clipped", () => {
    const failure = `drain timed out; blocked by shop/db-0 (PodDisruptionBudget db-pdb)${" and more".repeat(100)}`;
    const decision = decideNextSpec(
      shadow("n1", {
        spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
        status: { current_state: "ErrorReset", crash_count: 1, target_version: "1.20.0", failure_reason: failure },
      }),
      NODE_POLICY,
      T0,
    );
    expect(decision.kind).toBe("reset");
    expect(decision.reason).toMatch(
      /^agent failed while moving to RebootedIntoUpdate \(crash count 1\): drain timed out; blocked by shop\/db-0 \(PodDisruptionBudget db-pdb\)/,
    );
    expect(decision.reason).toMatch(/…; back to Idle$/);
    expect(decision.reason.length).toBeLessThan(520);
  });

  it("every write says why in the spec-reason annotation", () => {
    const decision = decideNextSpec(shadow("n1", { status: { target_version: "1.20.0" } }), NODE_POLICY, T0);
    expect(decision.kind === "start" && decision.annotations[ANNOTATIONS.specReason]).toBe(
      "updating from 1.19.0 to 1.20.0",
    );
  });
});

describe("downgrades (state-machine.md#differences-from-brupop)", () => {
  check([
    {
      name: "a lower target is refused by default",
      node: { status: { current_version: "1.20.0", target_version: "1.19.5" } },
      expected: { kind: "keep", why: "downgrade-refused" },
    },
    {
      name: "a prerelease of the current version is lower too",
      node: { status: { current_version: "1.20.0", target_version: "1.20.0-rc.1" } },
      expected: { kind: "keep", why: "downgrade-refused" },
    },
    {
      name: "allowed by policy: started, pinned to the lower version",
      node: { status: { current_version: "1.20.0", target_version: "1.19.5" } },
      policy: { allowDowngrade: true },
      expected: { kind: "start", spec: { version: "1.19.5" } },
    },
  ]);
});

describe("quarantine", () => {
  const failing = (crashCount: number, annotations: Record<string, string> = {}): ShadowOptions => ({
    status: {
      target_version: "1.20.0",
      crash_count: crashCount,
      state_transition_failure_timestamp: iso(after(-2 * 86400)),
    },
    annotations,
  });
  check([
    { name: "4 failures of 5: not yet", node: failing(4), expected: { kind: "start" } },
    { name: "5 failures: quarantined", node: failing(5), expected: { kind: "quarantined", failures: 5 } },
    {
      name: "timeouts count as failures",
      node: failing(3, { [ANNOTATIONS.timeouts]: "2", [ANNOTATIONS.lastTimeout]: iso(after(-2 * 86400)) }),
      expected: { kind: "quarantined", failures: 5 },
    },
    {
      name: "acknowledged by a person: may retry",
      node: failing(5, { [ANNOTATIONS.acknowledgedFailures]: "5" }),
      expected: { kind: "start" },
    },
    {
      name: "acknowledged, then 5 more failures: quarantined again",
      node: failing(10, { [ANNOTATIONS.acknowledgedFailures]: "5" }),
      expected: { kind: "quarantined", failures: 10 },
    },
    {
      name: "an acknowledgement above the count is stale and ignored",
      node: failing(6, { [ANNOTATIONS.acknowledgedFailures]: "9" }),
      expected: { kind: "quarantined" },
    },
    {
      name: "a garbage acknowledgement reads as none",
      node: failing(5, { [ANNOTATIONS.acknowledgedFailures]: "lots" }),
      expected: { kind: "quarantined" },
    },
    {
      name: "disabled (null): never quarantined",
      node: failing(50),
      policy: { quarantineAfterFailures: null },
      expected: { kind: "start" },
    },
    {
      name: "an in-flight node is not stopped by quarantine",
      node: {
        ...failing(7),
        spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
      },
      expected: { kind: "keep", why: "in-progress" },
    },
  ]);
});

describe("timeouts back off like crashes", () => {
  check([
    {
      name: "two timeouts, the last 4 min ago: wait until 5 min after it",
      node: {
        status: { target_version: "1.20.0" },
        annotations: { [ANNOTATIONS.timeouts]: "2", [ANNOTATIONS.lastTimeout]: iso(after(-240)) },
      },
      expected: { kind: "wait", until: after(60) },
    },
    {
      name: "the later of crash and timeout counts",
      node: {
        status: { target_version: "1.20.0", crash_count: 1, state_transition_failure_timestamp: iso(after(-3600)) },
        annotations: { [ANNOTATIONS.timeouts]: "1", [ANNOTATIONS.lastTimeout]: iso(after(-60)) },
      },
      // 2 failures: more than 4 whole minutes after the timeout.
      expected: { kind: "wait", until: after(-60 + 300) },
    },
  ]);
});

describe("bad data gives a decision, not an exception", () => {
  check([
    {
      name: "current_version not semver",
      node: { status: { current_version: "latest", target_version: "1.20.0" } },
      expected: {
        kind: "keep",
        why: "invalid-status",
        reason: 'status.current_version "latest" is not a semantic version',
      },
    },
    {
      name: "target_version not semver",
      node: { status: { target_version: "1.20" } },
      expected: { kind: "keep", why: "invalid-status" },
    },
    {
      name: "negative crash count reads as 0",
      node: { status: { target_version: "1.20.0", crash_count: -3, state_transition_failure_timestamp: iso(T0) } },
      expected: { kind: "wait", until: after(120) },
    },
  ]);
});

// docs/design/health-gates.md: MonitoringUpdate holds until the gates pass; a failed gate rolls the node back.
describe("health gates after the reboot", () => {
  const monitoring = (annotations: Record<string, string> = {}): ShadowOptions => ({
    spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
    status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
    annotations: { [ANNOTATIONS.previousVersion]: "1.19.0", ...annotations },
  });
  const decide = (node: ShadowOptions, gates?: GateVerdict, policy: Partial<NodePolicy> = {}) =>
    decideNextSpec(shadow("n1", node), { ...NODE_POLICY, ...policy }, T0, gates);
  const failed: GateVerdict = {
    kind: "failed",
    gate: "daemonset-pods",
    reason: "not passed within 10m: 1 DaemonSet pod not Ready: kube-system/log-x (DaemonSet log)",
    results: [],
  };

  it("without a verdict (the fleet pass), a node with gates to pass is kept in progress", () => {
    expect(decide(monitoring())).toMatchObject({ kind: "keep", why: "in-progress", recheckAt: null });
  });

  it("waits while a gate waits, naming it, until its deadline", () => {
    const decision = decide(monitoring(), {
      kind: "waiting",
      results: [
        { gate: "node-ready", state: "passed", message: "the Node is Ready and schedulable" },
        { gate: "daemonset-pods", state: "waiting", message: "1 DaemonSet pod not Ready: kube-system/log-x" },
      ],
      recheckAt: after(570),
    });
    expect(decision).toMatchObject({ kind: "keep", why: "in-progress", recheckAt: after(570) });
    expect(decision.reason).toMatch(/waiting for daemonset-pods \(1 DaemonSet pod not Ready: kube-system\/log-x\)/);
    expect(decision.reason).not.toMatch(/node-ready/);
  });

  it("finishes once they pass", () => {
    expect(decide(monitoring(), { kind: "passed", results: [] })).toMatchObject({
      kind: "advance",
      step: "finish",
      spec: { state: "Idle", version: "1.20.0" },
    });
  });

  it("a failed gate is a failed update: counted, and the node rolled back to the version it ran before", () => {
    const decision = decide(monitoring({ [ANNOTATIONS.gateFailures]: "1" }), failed);
    expect(decision).toMatchObject({
      kind: "reset",
      cause: "gate-failed",
      spec: { state: "StagedAndPerformedUpdate", state_transition_timestamp: NOW, version: "1.19.0" },
      annotations: {
        [ANNOTATIONS.gateFailures]: "2",
        [ANNOTATIONS.lastGateFailure]: NOW,
        [ANNOTATIONS.lastFailureReason]: "health gate daemonset-pods failed",
        [ANNOTATIONS.rollbackTo]: "1.19.0",
        [ANNOTATIONS.rollbackFrom]: "1.20.0",
      },
    });
    expect(decision.reason).toBe(
      "health gate daemonset-pods failed after the update to 1.20.0: not passed within 10m: 1 DaemonSet pod not " +
        "Ready: kube-system/log-x (DaemonSet log); rolling back to 1.19.0",
    );
  });

  it("without the version it ran before (an update started elsewhere), it fails back to Idle, counted", () => {
    const node = { ...monitoring(), annotations: {} };
    const decision = decide(node, failed);
    expect(decision).toMatchObject({
      kind: "reset",
      cause: "gate-failed",
      spec: { state: "Idle", version: "1.20.0" },
      annotations: { [ANNOTATIONS.gateFailures]: "1" },
    });
    expect(decision.reason).toMatch(/not rolled back: the version it ran before is not known/);
  });

  it("the rollback goes through the usual steps, and ends in Idle with the failure still counted", () => {
    const rollback = (state: "StagedAndPerformedUpdate" | "RebootedIntoUpdate") => ({
      spec: { state, version: "1.19.0", state_transition_timestamp: iso(after(-30)) },
      status: { current_state: state, current_version: "1.20.0", target_version: "1.20.0" },
      annotations: {
        [ANNOTATIONS.rollbackTo]: "1.19.0",
        [ANNOTATIONS.previousVersion]: "1.19.0",
        [ANNOTATIONS.gateFailures]: "1",
      },
    });
    const staged = decide(rollback("StagedAndPerformedUpdate"));
    expect(staged).toMatchObject({ kind: "advance", step: "next", spec: { state: "RebootedIntoUpdate" } });
    expect(staged.reason).toMatch(/rolling back to 1\.19\.0/);
    const rebooted = decide(rollback("RebootedIntoUpdate"));
    expect(rebooted).toMatchObject({
      kind: "advance",
      step: "rolled-back",
      spec: { state: "Idle", state_transition_timestamp: NOW, version: "1.19.0" },
    });
    // The attempt's bookkeeping goes; the failure count stays for backoff and quarantine, rollback-from for the halt.
    expect(rebooted.kind === "advance" && rebooted.annotations).toEqual({
      [ANNOTATIONS.previousVersion]: null,
      [ANNOTATIONS.updateStarted]: null,
      [ANNOTATIONS.rollbackTo]: null,
      [ANNOTATIONS.specReason]: "rolled back to 1.19.0 after a failed health gate or post-reboot hook",
    });
  });

  it("a rolled-back node backs off from its failed gate", () => {
    const decision = decide({
      status: { current_version: "1.19.0", target_version: "1.20.0" },
      annotations: { [ANNOTATIONS.gateFailures]: "1", [ANNOTATIONS.lastGateFailure]: iso(after(-60)) },
    });
    expect(decision).toMatchObject({ kind: "wait", until: after(120) });
  });

  it("a start records the version the node runs and when, for a rollback", () => {
    const decision = decide({ status: { current_version: "1.19.0", target_version: "1.20.0" } });
    expect(decision).toMatchObject({
      kind: "start",
      annotations: {
        [ANNOTATIONS.previousVersion]: "1.19.0",
        [ANNOTATIONS.updateStarted]: NOW,
        [ANNOTATIONS.rollbackTo]: null,
        [ANNOTATIONS.rollbackFrom]: null,
      },
    });
  });
});

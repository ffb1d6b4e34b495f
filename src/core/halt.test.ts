import { describe, expect, it } from "vitest";
import { Compile } from "typebox/compile";
import { HaltStatusSchema, validateUpdatePolicyStatus, type UpdatePolicyStatus } from "../api/update-policy.ts";
import {
  decideHalt,
  failureLimit,
  haltCondition,
  haltStatus,
  NO_HALT_MEMORY,
  parseFailureLimit,
  readHaltMemory,
  type FailureLimit,
  type HaltDecision,
  type HaltMemory,
} from "./halt.ts";
import { ANNOTATIONS, type FleetView, type ShadowView } from "./model.ts";
import { buildPolicyStatus } from "./policy-status.ts";
import { resolveFleetPolicy, type UpdatePolicySpec } from "./policy.ts";
import { selectNodesToStart, type Selection } from "./select.ts";
import { T0, after, fleetPolicy, iso, node, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

const FROM = "1.19.0";
const TO = "1.20.0";
const NEXT = "1.21.0";

/** Waiting for TO, never tried. */
const WAITING: ShadowOptions = { status: { current_version: FROM, target_version: TO } };
/** Updating to TO now. */
const IN_FLIGHT: ShadowOptions = {
  spec: { state: "StagedAndPerformedUpdate", version: TO, state_transition_timestamp: iso(after(-10)) },
  status: { current_version: FROM, target_version: TO },
};

/** The agent reported a failure toward `version` at `at`; the controller has not reset the spec yet. */
function crashed(at: Date, version = TO, crashes = 1): ShadowOptions {
  return {
    spec: { state: "StagedAndPerformedUpdate", version, state_transition_timestamp: iso(after(-60, at)) },
    status: {
      current_state: "ErrorReset",
      current_version: FROM,
      target_version: version,
      crash_count: crashes,
      state_transition_failure_timestamp: iso(at),
    },
  };
}

/** After the controller's reset: spec Idle, still naming the version that failed. */
function reset(at: Date, version = TO, target = version): ShadowOptions {
  return {
    spec: { state: "Idle", version, state_transition_timestamp: iso(after(1, at)) },
    status: {
      current_state: "Idle",
      current_version: FROM,
      target_version: target,
      crash_count: 1,
      state_transition_failure_timestamp: iso(at),
    },
  };
}

/** A step timeout the controller recorded (no crash): failures.ts counts it like a crash. */
function timedOut(at: Date): ShadowOptions {
  return {
    spec: { state: "Idle", version: TO, state_transition_timestamp: iso(at) },
    status: { current_state: "Idle", current_version: FROM, target_version: TO },
    annotations: { [ANNOTATIONS.timeouts]: "1", [ANNOTATIONS.lastTimeout]: iso(at) },
  };
}

/** A failed health gate after the reboot into TO: the spec rolls the node back to FROM (health-gates.md). */
function rollingBack(at: Date): ShadowOptions {
  return {
    spec: { state: "StagedAndPerformedUpdate", version: FROM, state_transition_timestamp: iso(at) },
    status: { current_state: "MonitoringUpdate", current_version: TO, target_version: TO },
    annotations: {
      [ANNOTATIONS.gateFailures]: "1",
      [ANNOTATIONS.lastGateFailure]: iso(at),
      [ANNOTATIONS.rollbackTo]: FROM,
      [ANNOTATIONS.rollbackFrom]: TO,
    },
  };
}

const UPDATED: ShadowOptions = { status: { current_version: TO, target_version: TO } };

const COUNT = (max: number): FailureLimit => ({ kind: "count", max });

function decide(shadows: ShadowView[], o: { limit?: FailureLimit; memory?: HaltMemory; now?: Date } = {}) {
  return decideHalt(o.limit ?? COUNT(1), shadows, shadows.length, o.memory ?? NO_HALT_MEMORY, o.now ?? T0);
}

/** What the controller reads back after writing `decision` into the policy status (and `annotation`, if any). */
function remembered(decision: HaltDecision, annotation?: string): HaltMemory {
  const status = { halt: haltStatus(decision), conditions: [] } as unknown as UpdatePolicyStatus;
  const { status: conditionStatus, reason, message } = haltCondition(decision);
  status.conditions = [
    { type: "Halted", status: conditionStatus, reason, message, lastTransitionTime: "2024-06-03T10:00:00Z" },
  ];
  const annotations: Record<string, string> =
    annotation === undefined ? {} : { [ANNOTATIONS.resumeRequested]: annotation };
  return readHaltMemory({ metadata: { annotations }, status });
}

describe("spec.maxFailedNodes", () => {
  it.each([
    [1, { kind: "count", max: 1 }],
    [0, { kind: "count", max: 0 }],
    ["3", { kind: "count", max: 3 }],
    ["10%", { kind: "percent", percent: 10 }],
  ])("%j is a limit", (raw, limit) => {
    const errors: string[] = [];
    expect(parseFailureLimit(raw, "policy spec.maxFailedNodes", errors)).toEqual(limit);
    expect(errors).toEqual([]);
  });

  it.each([
    ["unlimited", /spec\.maxFailedNodes: "unlimited" would never halt/],
    ["150%", /spec\.maxFailedNodes: "150%" is more than 100%/],
    [-1, /spec\.maxFailedNodes: -1 is not a whole number/],
    [true, /spec\.maxFailedNodes must be a number of nodes or a percentage/],
  ])("%j is refused, naming the field", (raw, message) => {
    const errors: string[] = [];
    expect(parseFailureLimit(raw, "policy spec.maxFailedNodes", errors)).toBeNull();
    expect(errors).toEqual([expect.stringMatching(message)]);
  });

  it("unset never halts (brupop's behaviour), and an invalid value makes the policy invalid", () => {
    expect(fleetPolicy({}).maxFailedNodes).toBeNull();
    const invalid = resolveFleetPolicy({}, { maxFailedNodes: "many" }, T0);
    expect(invalid.ok).toBe(false);
  });

  it("a percentage is of the managed nodes, rounded down: more than that many failed nodes halt", () => {
    expect(failureLimit({ kind: "percent", percent: 10 }, 25)).toBe(2);
    expect(failureLimit({ kind: "percent", percent: 10 }, 9)).toBe(0);
    expect(failureLimit({ kind: "percent", percent: 0 }, 100)).toBe(0);
    expect(failureLimit(COUNT(4), 2)).toBe(4);
  });
});

describe("decideHalt: which nodes failed in the current rollout", () => {
  it("counts nodes whose update to the version they are offered failed, crashes and timeouts alike", () => {
    const decision = decide(
      [
        shadow("a", crashed(after(-5))),
        shadow("b", reset(after(-20))),
        shadow("c", timedOut(after(-30))),
        shadow("d", WAITING),
        shadow("e", IN_FLIGHT),
      ],
      { limit: COUNT(3) },
    );
    expect(decision).toMatchObject({ failedNodes: ["a", "b", "c"], versions: [TO], limit: 3, halted: false });
  });

  it("counts a failed health gate at once, while the node is rolled back, against the version that failed", () => {
    const decision = decide([shadow("a", rollingBack(after(-5))), shadow("b", WAITING)], { limit: COUNT(0) });
    expect(decision).toMatchObject({ failedNodes: ["a"], versions: [TO], halted: true });
  });

  it("a rolled-back node still counts against the version that failed, not the one it went back to", () => {
    const back: ShadowOptions = {
      spec: { state: "Idle", version: FROM, state_transition_timestamp: iso(after(-1)) },
      status: { current_state: "Idle", current_version: FROM, target_version: TO },
      annotations: {
        [ANNOTATIONS.gateFailures]: "1",
        [ANNOTATIONS.lastGateFailure]: iso(after(-60)),
        [ANNOTATIONS.rollbackFrom]: TO,
      },
    };
    expect(decide([shadow("a", back)])).toMatchObject({ failedNodes: ["a"], versions: [TO] });
  });

  it("halts when more nodes failed than the limit; the decision that halts says so once", () => {
    const shadows = [shadow("a", reset(after(-20))), shadow("b", crashed(after(-5))), shadow("c", WAITING)];
    const first = decide(shadows);
    expect(first).toMatchObject({ halted: true, tripped: true, failedNodes: ["a", "b"] });
    const again = decide(shadows, { memory: remembered(first) });
    expect(again).toMatchObject({ halted: true, tripped: false, failedNodes: ["a", "b"] });
  });

  it("a limit of 0 halts at the first failure; a percentage of 10% of 25 nodes at the third", () => {
    expect(decide([shadow("a", reset(after(-1)))], { limit: COUNT(0) }).halted).toBe(true);
    const fleet = Array.from({ length: 25 }, (_, i) => shadow(`n${String(i).padStart(2, "0")}`, WAITING));
    const failing = (n: number) => fleet.map((s, i) => (i < n ? shadow(s.nodeName, reset(after(-i - 1))) : s));
    const tenPercent: FailureLimit = { kind: "percent", percent: 10 };
    expect(decide(failing(2), { limit: tenPercent }).halted).toBe(false);
    expect(decide(failing(3), { limit: tenPercent })).toMatchObject({ halted: true, limit: 2 });
  });

  it("a failure toward another version than the node is offered now belongs to another rollout", () => {
    // b failed to install 1.20.0; 1.21.0 has been published since.
    const decision = decide([shadow("a", reset(after(-20))), shadow("b", reset(after(-10), TO, NEXT))]);
    expect(decision).toMatchObject({ failedNodes: ["a"], halted: false });
  });

  it("keeps counting a node that failed and then succeeded on a retry (its own record is cleared)", () => {
    const failed = decide([shadow("a", reset(after(-300))), shadow("b", WAITING)], { limit: COUNT(1) });
    const later = decide([shadow("a", UPDATED), shadow("b", crashed(after(-1)))], { memory: remembered(failed) });
    expect(later).toMatchObject({ failedNodes: ["a", "b"], halted: true });
  });

  it("a failure first seen during a later attempt is an older one, whose version is unknown: not counted", () => {
    // a's record (one crash) is from before the halt was set up; it is retrying now.
    const retrying: ShadowOptions = {
      spec: IN_FLIGHT.spec ?? {},
      status: { ...IN_FLIGHT.status, crash_count: 1, state_transition_failure_timestamp: iso(after(-3600)) },
    };
    expect(decide([shadow("a", retrying)], { limit: COUNT(0) })).toMatchObject({ failedNodes: [], halted: false });
  });

  it("an old failure stays attributed to its version when the node retries toward a newer one", () => {
    const old = decide([shadow("a", reset(after(-600), TO, NEXT)), shadow("b", WAITING)]);
    expect(old.failedNodes).toEqual([]);
    expect(old.lastFailures).toEqual([{ node: "a", version: TO, at: after(-600), reason: "crashed" }]);
    // a now retries toward NEXT, its record (the old crash) unchanged; then it fails again, toward NEXT.
    const retry: ShadowOptions = {
      spec: { state: "Idle", version: NEXT, state_transition_timestamp: iso(after(-1)) },
      status: { ...reset(after(-600), TO, NEXT).status, current_state: "Idle" },
    };
    expect(decide([shadow("a", retry)], { memory: remembered(old), limit: COUNT(0) }).failedNodes).toEqual([]);
    const failedAgain = decide([shadow("a", reset(after(-1), NEXT))], { memory: remembered(old), limit: COUNT(0) });
    expect(failedAgain).toMatchObject({ failedNodes: ["a"], versions: [NEXT], halted: true });
  });

  it("forgets nodes that are gone, and failures that no longer count once the node's own record is cleared", () => {
    const first = decide([shadow("a", reset(after(-20))), shadow("b", reset(after(-10), TO, NEXT))], {
      limit: COUNT(5),
    });
    expect(first.lastFailures.map((f) => f.node)).toEqual(["a", "b"]);
    const later = decide([shadow("b", { status: { current_version: NEXT, target_version: NEXT } })], {
      memory: remembered(first),
      limit: COUNT(5),
    });
    expect(later.lastFailures).toEqual([]);
  });
});

describe("decideHalt: the halt holds until a resume", () => {
  const tripped = decide([shadow("a", reset(after(-20))), shadow("b", reset(after(-10))), shadow("c", WAITING)]);

  it("stays halted when the failed nodes recover or go away, and names every node failed since it began", () => {
    const decision = decide([shadow("a", UPDATED), shadow("c", WAITING), shadow("d", crashed(after(-1)))], {
      memory: remembered(tripped),
      limit: COUNT(5),
    });
    expect(decision).toMatchObject({ halted: true, tripped: false, failedNodes: ["a", "b", "d"] });
  });

  it("a new resume request lifts it; failures from before it no longer count, later ones do", () => {
    const resumeAt = after(60);
    const fleet = [shadow("a", reset(after(-20))), shadow("b", reset(after(-10))), shadow("c", WAITING)];
    const resumed = decide(fleet, { memory: remembered(tripped, "2024-06-03T10:01:00Z"), now: resumeAt });
    expect(resumed).toMatchObject({
      halted: false,
      resumed: true,
      failedNodes: [],
      countingSince: resumeAt,
      resumeHandled: "2024-06-03T10:01:00Z",
    });
    // The same request again is no new resume.
    const next = decide(fleet, { memory: remembered(resumed, "2024-06-03T10:01:00Z"), now: after(90) });
    expect(next).toMatchObject({ resumed: false, halted: false, countingSince: resumeAt });
    // One failure after the resume is within the limit of 1; two are not.
    const one = decide([...fleet.slice(0, 2), shadow("c", crashed(after(100)))], {
      memory: remembered(next, "2024-06-03T10:01:00Z"),
      now: after(101),
    });
    expect(one).toMatchObject({ failedNodes: ["c"], halted: false });
    const two = decide([fleet[0] as ShadowView, shadow("b", crashed(after(110))), shadow("c", crashed(after(100)))], {
      memory: remembered(one, "2024-06-03T10:01:00Z"),
      now: after(111),
    });
    expect(two).toMatchObject({ failedNodes: ["b", "c"], halted: true, tripped: true });
  });

  it("a resume request made before the halt was set up only marks the next one: old failures still count", () => {
    const memory = { ...NO_HALT_MEMORY, resumeRequested: "2024-06-01T00:00:00Z" };
    const decision = decide([shadow("a", reset(after(-20))), shadow("b", reset(after(-10)))], { memory });
    expect(decision).toMatchObject({ resumed: false, halted: true, resumeHandled: "2024-06-01T00:00:00Z" });
  });

  it("survives a round trip through the policy status, which the API server's schema accepts", () => {
    const status = haltStatus(tripped);
    expect(status).toMatchObject({ maxFailedNodes: "1", limit: 1, failed: 2, failedNodes: ["a", "b"] });
    expect(remembered(tripped)).toMatchObject({ recorded: true, halted: true, failedNodes: ["a", "b"] });
    expect(haltCondition(tripped)).toMatchObject({ status: "True", reason: "TooManyFailedNodes" });
    expect(haltCondition(tripped).message).toMatch(
      /^Updates halted: 2 nodes failed updating to 1\.20\.0, more than spec\.maxFailedNodes allows \(1\): a: crashed; b: crashed\. .*brupop resume/,
    );
  });
});

describe("the halt names what failed on each node", () => {
  /** The controller's record of a failure it counted, with its words (next-spec.ts writes them). */
  const words = (options: ShadowOptions, reason: string): ShadowOptions => ({
    ...options,
    annotations: { ...options.annotations, [ANNOTATIONS.lastFailureReason]: reason },
  });
  const fleet = [
    shadow("a", words(rollingBack(after(-5)), "health gate daemonset-pods failed")),
    shadow("b", words(timedOut(after(-30)), "timed out in RebootedIntoUpdate")),
    shadow("c", {
      ...reset(after(-20)),
      status: { ...reset(after(-20)).status, failure_reason: "host API: the update could not be staged" },
    }),
    shadow("d", words(timedOut(after(-40)), "post-reboot hook smoke-test failed")),
    shadow("e", WAITING),
  ];

  it("in the Halted condition, and so in the UpdatesHalted Event, which carries the same message", () => {
    const decision = decide(fleet, { limit: COUNT(1) });
    expect(decision.reasons).toEqual(
      new Map([
        ["a", "health gate daemonset-pods failed"],
        ["b", "timed out in RebootedIntoUpdate"],
        ["c", "crashed: host API: the update could not be staged"],
        ["d", "post-reboot hook smoke-test failed"],
      ]),
    );
    expect(haltCondition(decision).message).toContain(
      "(1): a: health gate daemonset-pods failed; b: timed out in RebootedIntoUpdate; " +
        "c: crashed: host API: the update could not be staged; d: post-reboot hook smoke-test failed. ",
    );
  });

  it("after the failed nodes' own records are cleared, from the policy status", () => {
    const first = decide(fleet, { limit: COUNT(1) });
    const status = haltStatus(first);
    expect(status.lastFailures.find((f) => f.node === "a")).toMatchObject({
      reason: "health gate daemonset-pods failed",
    });
    expect(Compile(HaltStatusSchema).Check(status)).toBe(true);
    const later = decide([shadow("a", UPDATED), shadow("e", WAITING)], { memory: remembered(first), limit: COUNT(1) });
    expect(later.halted).toBe(true);
    expect(haltCondition(later).message).toContain(": a: health gate daemonset-pods failed; b: timed out in");
  });

  it("a failure recorded without words (an older controller's) is named by its node alone", () => {
    const old = readHaltMemory({
      status: {
        halt: {
          maxFailedNodes: "0",
          limit: 0,
          failed: 1,
          failedNodes: ["a"],
          lastFailures: [{ node: "a", version: TO, at: iso(after(-60)) }],
        },
        conditions: [
          { type: "Halted", status: "True", reason: "TooManyFailedNodes", message: "", lastTransitionTime: iso(T0) },
        ],
      } as unknown as UpdatePolicyStatus,
    });
    const decision = decide([shadow("a", UPDATED)], { memory: old, limit: COUNT(0) });
    expect(haltCondition(decision).message).toContain("allows (0): a. ");
  });

  it("names at most a few nodes, then how many more: the message stays short however many fail", () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      shadow(`node-${String(i).padStart(2, "0")}`, words(timedOut(after(-i - 1)), `health gate ${"g".repeat(300)}`)),
    );
    const { message } = haltCondition(decide(many, { limit: COUNT(0) }));
    expect(message).toContain("node-04: health gate ggg");
    expect(message).not.toContain("node-05");
    expect(message).toContain(" and 35 more. ");
    expect(message.length).toBeLessThan(1000);
  });
});

describe("selection while halted", () => {
  const view = (shadows: ShadowView[], memory?: HaltMemory): FleetView => ({
    shadows,
    nodes: shadows.map((s) => node(s.nodeName)),
    controllerNodeName: null,
    ...(memory === undefined ? {} : { halt: memory }),
  });
  const select = (v: FleetView, spec: UpdatePolicySpec): Selection => selectNodesToStart(v, fleetPolicy(spec), T0);
  const fleet = [
    shadow("a", reset(after(-20))),
    shadow("b", reset(after(-10))),
    shadow("c", IN_FLIGHT),
    shadow("d", WAITING),
    shadow("e", WAITING),
  ];

  it("starts nothing, with free budget; waiting nodes say why; nodes in flight are left to finish", () => {
    const result = select(view(fleet), { maxConcurrentUpdates: 3, maxFailedNodes: 1 });
    expect(result.start).toEqual([]);
    expect(result.halt).toMatchObject({ halted: true, failedNodes: ["a", "b"] });
    const reasons = Object.fromEntries(result.notStarted.map((n) => [n.nodeName, n.reason]));
    expect(reasons.c?.code).toBe("in-progress");
    expect(reasons.d?.code).toBe("halted");
    expect(reasons.d?.message).toMatch(
      /^updates halted: 2 nodes failed updating to 1\.20\.0, more than spec\.maxFailedNodes/,
    );
    expect(reasons.e?.code).toBe("halted");
  });

  it("without spec.maxFailedNodes the same fleet goes on (the default: brupop's behaviour)", () => {
    const result = select(view(fleet), { maxConcurrentUpdates: 3 });
    expect(result.halt).toBeNull();
    expect(result.start.map((s) => s.nodeName)).toEqual(["d", "e"]);
  });

  it("within the limit, nodes start", () => {
    const result = select(view(fleet), { maxConcurrentUpdates: 3, maxFailedNodes: 2 });
    expect(result.halt).toMatchObject({ halted: false, failedNodes: ["a", "b"] });
    expect(result.start.map((s) => s.nodeName)).toEqual(["d", "e"]);
  });

  it("the policy status shows the halt as a condition, keeps its transition time, and the schema accepts it", () => {
    const selection = select(view(fleet), { maxConcurrentUpdates: 3, maxFailedNodes: 1 });
    const resolution = resolveFleetPolicy({}, { maxConcurrentUpdates: 3, maxFailedNodes: 1 }, T0);
    const build = (previous: UpdatePolicyStatus | undefined, now: Date, s: Selection | null = selection) =>
      buildPolicyStatus({
        shadows: fleet,
        managedNodes: 5,
        updating: 1,
        resolution: s === null ? { ok: false, errors: ["broken"], warnings: [] } : resolution,
        selection: s,
        previous,
        now,
      });
    const first = build(undefined, T0);
    expect(validateUpdatePolicyStatus(first).ok).toBe(true);
    expect(first.conditions).toHaveLength(1);
    expect(first.conditions?.[0]).toMatchObject({
      type: "Halted",
      status: "True",
      reason: "TooManyFailedNodes",
      lastTransitionTime: "2024-06-03T10:00:00+00:00",
    });
    expect(first.blocked).toMatchObject({ halted: 2 });
    const later = build(first, after(60));
    expect(later.conditions?.[0]?.lastTransitionTime).toBe(first.conditions?.[0]?.lastTransitionTime);
    // An invalid policy decides nothing: the halt stays as it was.
    const invalid = build(first, after(120), null);
    expect(invalid.halt).toEqual(first.halt);
    expect(invalid.conditions).toEqual(first.conditions);
  });
});

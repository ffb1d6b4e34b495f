import { describe, expect, it } from "vitest";
import { ANNOTATION_ADDED, addedByOperator, disruptedByOperator, guardPatch, planGuards } from "./do-not-disrupt.ts";
import type { NodeView } from "./model.ts";
import { DEFAULT_NODE_TIMEOUTS } from "./timeouts.ts";
import { T0, after, iso, node, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

const KARPENTER = "karpenter.sh/do-not-disrupt";
const CA = "cluster-autoscaler.kubernetes.io/scale-down-disabled";
const BOTH = `${CA},${KARPENTER}`;
const GUARDED = { [KARPENTER]: "true", [CA]: "true", [ANNOTATION_ADDED]: BOTH };

const annotated = (name: string, annotations: Record<string, string>, o: Parameters<typeof node>[1] = {}) =>
  node(name, { ...o, annotations });

const IDLE: ShadowOptions = {};
const STARTED: ShadowOptions = {
  spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
  status: { current_state: "Idle", target_version: "1.20.0" },
};
/** Spec back to Idle, the agent not yet (within the Idle timeout: still the operator's). */
const RETURNING: ShadowOptions = {
  spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
  status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
};
/** The agent never reported Idle within the Idle timeout (120 s). */
const STUCK: ShadowOptions = {
  ...RETURNING,
  spec: { ...RETURNING.spec, state_transition_timestamp: iso(after(-600)) },
};

describe("which nodes the operator is disrupting", () => {
  const disrupted = (options: ShadowOptions | undefined, view: NodeView = node("a")) =>
    disruptedByOperator(options === undefined ? undefined : shadow("a", options), view, DEFAULT_NODE_TIMEOUTS, T0);

  it("from the start until the agent reports Idle again", () => {
    expect(disrupted(IDLE)).toBe(false);
    expect(disrupted(STARTED)).toBe(true);
    expect(disrupted(RETURNING)).toBe(true);
  });

  it("a stuck node while it is still disrupted (cordoned or not Ready), not once it is back in service", () => {
    expect(disrupted(STUCK)).toBe(false);
    expect(disrupted(STUCK, node("a", { ready: false }))).toBe(true);
    expect(disrupted(STUCK, node("a", { unschedulable: true }))).toBe(true);
  });

  it("any node the operator's drain cordoned, even without a shadow", () => {
    expect(disrupted(undefined)).toBe(false);
    expect(disrupted(undefined, node("a", { unschedulable: true, drainedByOperator: true }))).toBe(true);
    expect(disrupted(IDLE, node("a", { unschedulable: true, drainedByOperator: true }))).toBe(true);
  });
});

describe("the annotations' patch", () => {
  it("guarding a bare node adds both annotations and records them as the operator's, in one patch", () => {
    expect(guardPatch(node("a"), true)).toEqual(GUARDED);
    expect(guardPatch(annotated("a", GUARDED), true)).toBe(null); // already so: nothing to write
  });

  it("unguarding removes exactly what the operator added", () => {
    expect(guardPatch(annotated("a", GUARDED), false)).toEqual({
      [KARPENTER]: null,
      [CA]: null,
      [ANNOTATION_ADDED]: null,
    });
    expect(guardPatch(node("a"), false)).toBe(null);
  });

  it("a user's own do-not-disrupt is neither overwritten nor removed, whatever its value", () => {
    for (const value of ["true", "false", "yes"]) {
      const users = annotated("a", { [KARPENTER]: value });
      const guard = guardPatch(users, true);
      expect(guard).toEqual({ [CA]: "true", [ANNOTATION_ADDED]: CA });
      const during = annotated("a", { [KARPENTER]: value, [CA]: "true", [ANNOTATION_ADDED]: CA });
      expect(guardPatch(during, true)).toBe(null);
      expect(guardPatch(during, false)).toEqual({ [CA]: null, [ANNOTATION_ADDED]: null });
    }
  });

  it("a value someone changed after the operator set it is theirs from then on", () => {
    const changed = annotated("a", { ...GUARDED, [KARPENTER]: "false" });
    expect(addedByOperator(changed)).toEqual([CA]);
    expect(guardPatch(changed, true)).toEqual({ [ANNOTATION_ADDED]: CA });
    expect(guardPatch(changed, false)).toEqual({ [CA]: null, [ANNOTATION_ADDED]: null });
  });

  it("an annotation of the operator's that someone removed mid-update is put back", () => {
    const removed = annotated("a", { [CA]: "true", [ANNOTATION_ADDED]: BOTH });
    expect(guardPatch(removed, true)).toEqual({ [KARPENTER]: "true" });
    expect(guardPatch(removed, false)).toEqual({ [CA]: null, [ANNOTATION_ADDED]: null });
  });

  it("the record names only the two annotations: anything else written into it is never removed", () => {
    const forged = annotated("a", { "example.com/keep": "1", [ANNOTATION_ADDED]: "example.com/keep" });
    expect(addedByOperator(forged)).toEqual([]);
    expect(guardPatch(forged, false)).toEqual({ [ANNOTATION_ADDED]: null });
  });
});

describe("planGuards: what every node should carry now (restart-safe)", () => {
  const plan = (enabled: boolean, entries: [string, ShadowOptions | null, NodeView][]) =>
    planGuards(
      entries.flatMap(([name, options]) => (options === null ? [] : [shadow(name, options)])),
      entries.map(([, , view]) => view),
      enabled,
      DEFAULT_NODE_TIMEOUTS,
      T0,
    );

  it("guards disrupted nodes that lack the annotations and unguards finished ones, leaving the rest alone", () => {
    const changes = plan(true, [
      ["disrupted-bare", STARTED, node("disrupted-bare")],
      ["disrupted-guarded", STARTED, annotated("disrupted-guarded", GUARDED)],
      ["finished-guarded", IDLE, annotated("finished-guarded", GUARDED)],
      ["idle-users", IDLE, annotated("idle-users", { [KARPENTER]: "true" })],
      ["no-shadow", null, node("no-shadow")],
    ]);
    expect(changes).toEqual([
      { nodeName: "disrupted-bare", guard: true, patch: GUARDED },
      {
        nodeName: "finished-guarded",
        guard: false,
        patch: { [KARPENTER]: null, [CA]: null, [ANNOTATION_ADDED]: null },
      },
    ]);
  });

  it("turned off: guards nothing and removes the operator's own annotations", () => {
    const changes = plan(false, [
      ["disrupted-guarded", STARTED, annotated("disrupted-guarded", GUARDED)],
      ["disrupted-bare", STARTED, node("disrupted-bare")],
      ["users", STARTED, annotated("users", { [KARPENTER]: "true" })],
    ]);
    expect(changes).toEqual([
      {
        nodeName: "disrupted-guarded",
        guard: false,
        patch: { [KARPENTER]: null, [CA]: null, [ANNOTATION_ADDED]: null },
      },
    ]);
  });
});

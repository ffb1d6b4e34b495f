import { describe, expect, it } from "vitest";
import type { Condition } from "../api/bottlerocket-shadow.ts";
import { withStuckCondition } from "./stuck-condition.ts";

const t0 = new Date("2026-12-05T10:00:00.000Z");
const t1 = new Date("2026-12-05T11:00:00.000Z");
const stuck = { reason: "AgentUnresponsive" as const, message: "stuck: the agent has not reported Idle within 2m" };
const ready: Condition = {
  type: "Ready",
  status: "True",
  reason: "Fine",
  message: "",
  lastTransitionTime: "2026-12-01T00:00:00+00:00",
};

describe("withStuckCondition", () => {
  it("adds Stuck=True to a stuck node, keeping the other conditions", () => {
    expect(withStuckCondition([ready], stuck, t0)).toEqual([
      ready,
      { type: "Stuck", status: "True", ...stuck, lastTransitionTime: "2026-12-05T10:00:00+00:00" },
    ]);
  });

  it("writes nothing for a node that never was stuck, or when the condition already says it", () => {
    expect(withStuckCondition(undefined, null, t0)).toBeNull();
    expect(withStuckCondition([ready], null, t0)).toBeNull();
    const set = withStuckCondition(undefined, stuck, t0) ?? [];
    expect(withStuckCondition(set, stuck, t1)).toBeNull();
    const cleared = withStuckCondition(set, null, t1) ?? [];
    expect(withStuckCondition(cleared, null, t1)).toBeNull();
  });

  it("turns False when the node reports again, with the time it changed", () => {
    const set = withStuckCondition(undefined, stuck, t0) ?? [];
    expect(withStuckCondition(set, null, t1)).toEqual([
      {
        type: "Stuck",
        status: "False",
        reason: "AgentReporting",
        message: "the agent reports again",
        lastTransitionTime: "2026-12-05T11:00:00+00:00",
      },
    ]);
  });

  it("keeps the transition time when only the message changes", () => {
    const set = withStuckCondition(undefined, stuck, t0) ?? [];
    const changed = withStuckCondition(set, { ...stuck, message: "another reason" }, t1);
    expect(changed).toEqual([
      {
        type: "Stuck",
        status: "True",
        reason: "AgentUnresponsive",
        message: "another reason",
        lastTransitionTime: "2026-12-05T10:00:00+00:00",
      },
    ]);
  });
});

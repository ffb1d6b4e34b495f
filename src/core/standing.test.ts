import { describe, expect, it } from "vitest";
import type { BrsState } from "../api/state-machine.ts";
import { occupiesBudget, standing, type Standing } from "./standing.ts";
import { DEFAULT_NODE_TIMEOUTS } from "./timeouts.ts";
import { T0, after, iso, node, shadow } from "../../test/support/core-fixtures.ts";

const returning = (secondsAgo: number | null, current: BrsState = "RebootedIntoUpdate") =>
  shadow("n", {
    spec: { state: "Idle", state_transition_timestamp: secondsAgo === null ? null : iso(after(-secondsAgo)) },
    status: { current_state: current },
  });
const at = (s: ReturnType<typeof shadow>, n = node("n")): Standing => standing(s, n, DEFAULT_NODE_TIMEOUTS, T0);

describe("standing: what uses up the budget", () => {
  it.each([
    ["Idle / Idle", shadow("n", {}), "idle", false],
    ["no status, default spec", shadow("n", { status: null }), "idle", false],
    [
      "no status, spec in progress",
      shadow("n", { status: null, spec: { state: "StagedAndPerformedUpdate" } }),
      "updating",
      true,
    ],
    ["spec started, status Idle", shadow("n", { spec: { state: "StagedAndPerformedUpdate" } }), "updating", true],
    [
      "both RebootedIntoUpdate",
      shadow("n", { spec: { state: "RebootedIntoUpdate" }, status: { current_state: "RebootedIntoUpdate" } }),
      "updating",
      true,
    ],
    ["spec Idle, status ErrorReset, just reset", returning(10, "ErrorReset"), "returning", true],
    ["spec Idle, status MonitoringUpdate, no timestamp", returning(null, "MonitoringUpdate"), "returning", true],
  ])("%s → %s, counts: %s", (_label, view, kind, counts) => {
    const s = at(view);
    expect(s.kind).toBe(kind);
    expect(occupiesBudget(s)).toBe(counts);
  });

  it("a returning node counts until the Idle timeout, then only while it is disrupted", () => {
    const justInTime = returning(DEFAULT_NODE_TIMEOUTS.Idle - 1);
    expect(occupiesBudget(at(justInTime))).toBe(true);
    const late = returning(DEFAULT_NODE_TIMEOUTS.Idle);
    expect(at(late)).toEqual({ kind: "stuck", since: T0, disrupted: false, release: false });
    expect(occupiesBudget(at(late))).toBe(false);
    expect(occupiesBudget(at(late, node("n", { ready: false })))).toBe(true); // the reboot never came back
    expect(occupiesBudget(at(late, node("n", { ready: null })))).toBe(true); // unknown is not Ready
    expect(occupiesBudget(at(late, node("n", { unschedulable: true })))).toBe(true); // cordoned by anyone
  });

  it("releases a stuck node only when it is Ready and cordoned by the operator's drain", () => {
    const late = returning(600);
    const ours = node("n", { unschedulable: true, drainedByOperator: true });
    expect(at(late, ours)).toMatchObject({ kind: "stuck", disrupted: true, release: true });
    expect(at(late, { ...ours, ready: false })).toMatchObject({ disrupted: true, release: false });
    expect(at(late, node("n", { unschedulable: true }))).toMatchObject({ disrupted: true, release: false });
    // Within the Idle timeout the agent may still uncordon it itself.
    expect(at(returning(60), ours).kind).toBe("returning");
  });

  it("a stuck node the controller cannot see (deleted, out of its selector) does not count", () => {
    expect(standing(returning(600), undefined, DEFAULT_NODE_TIMEOUTS, T0)).toMatchObject({
      kind: "stuck",
      disrupted: false,
      release: false,
    });
  });
});

import { describe, expect, it } from "vitest";
import {
  BRS_STATES,
  DEFAULT_STATE_TIMEOUTS,
  MAX_BACKOFF_MINUTES,
  backoffMinutes,
  isBrsState,
  isBrsStateV1,
  isUpdateAllowed,
  nextRetryAt,
  stateDeadline,
  stateTimeouts,
  successor,
  type BrsState,
} from "./state-machine.ts";

const MINUTE = 60_000;
const failedAt = new Date("2024-06-21T11:55:48.896Z");
// How brupop writes the failure time: nanoseconds, +00:00.
const FAILED_AT_TEXT = "2024-06-21T11:55:48.896347269+00:00";
const after = (ms: number) => new Date(failedAt.getTime() + ms);

describe("states", () => {
  it("lists the five v2 states in brupop's order", () => {
    expect(BRS_STATES).toEqual([
      "Idle",
      "StagedAndPerformedUpdate",
      "RebootedIntoUpdate",
      "MonitoringUpdate",
      "ErrorReset",
    ]);
  });

  it("tells v2 and v1 states apart", () => {
    expect(isBrsState("StagedAndPerformedUpdate")).toBe(true);
    expect(isBrsState("StagedUpdate")).toBe(false);
    expect(isBrsState("idle")).toBe(false);
    expect(isBrsState(undefined)).toBe(false);
    expect(isBrsStateV1("PerformedUpdate")).toBe(true);
    expect(isBrsStateV1("ErrorReset")).toBe(false);
  });
});

describe("successor", () => {
  it.each<[BrsState, BrsState]>([
    ["Idle", "StagedAndPerformedUpdate"],
    ["StagedAndPerformedUpdate", "RebootedIntoUpdate"],
    ["RebootedIntoUpdate", "MonitoringUpdate"],
    ["MonitoringUpdate", "Idle"],
    ["ErrorReset", "Idle"],
  ])("%s → %s", (state, next) => {
    expect(successor(state)).toBe(next);
  });

  it("walks one full update cycle from Idle back to Idle in four steps without touching ErrorReset", () => {
    const visited: BrsState[] = [];
    let state: BrsState = "Idle";
    do {
      state = successor(state);
      visited.push(state);
    } while (state !== "Idle" && visited.length < 10);
    expect(visited).toEqual(["StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate", "Idle"]);
  });
});

describe("crash backoff", () => {
  it.each([
    [0, 1],
    [1, 2],
    [2, 4],
    [3, 8],
    [10, 1024],
    [11, MAX_BACKOFF_MINUTES],
    [12, MAX_BACKOFF_MINUTES],
    [63, MAX_BACKOFF_MINUTES],
    [4294967295, MAX_BACKOFF_MINUTES],
  ])("crash_count %i backs off %i minutes", (crashCount, minutes) => {
    expect(backoffMinutes(crashCount)).toBe(minutes);
  });

  it.each([-1, 1.5, Number.NaN])("treats the bad crash_count %s as its floor, at least 0", (crashCount) => {
    expect(backoffMinutes(crashCount)).toBe(Number.isNaN(crashCount) || crashCount < 0 ? 1 : 2);
  });

  it.each([0, 1, 2, 3, 10, 11, 12, 40])(
    "crash_count %i: refused at exactly 2^n minutes (and up to the next whole minute), allowed after",
    (crashCount) => {
      const status = { crash_count: crashCount, state_transition_failure_timestamp: FAILED_AT_TEXT };
      const minutes = Math.min(2 ** crashCount, 1440);
      expect(isUpdateAllowed(status, after(0))).toBe(false);
      expect(isUpdateAllowed(status, after(minutes * MINUTE))).toBe(false);
      expect(isUpdateAllowed(status, after((minutes + 1) * MINUTE - 1))).toBe(false);
      expect(isUpdateAllowed(status, after((minutes + 1) * MINUTE))).toBe(true);
      expect(nextRetryAt(status)).toEqual(after((minutes + 1) * MINUTE));
    },
  );

  it("caps the wait at one day from crash_count 11 on", () => {
    const status = { crash_count: 30, state_transition_failure_timestamp: FAILED_AT_TEXT };
    expect(isUpdateAllowed(status, after(1440 * MINUTE))).toBe(false);
    expect(isUpdateAllowed(status, after(1441 * MINUTE))).toBe(true);
  });

  it("allows an update at once when there is no failure timestamp", () => {
    for (const stamp of [null, undefined]) {
      const status = { crash_count: 5, state_transition_failure_timestamp: stamp };
      expect(nextRetryAt(status)).toBeUndefined();
      expect(isUpdateAllowed(status, failedAt)).toBe(true);
    }
    expect(isUpdateAllowed({ crash_count: 0 }, failedAt)).toBe(true);
  });

  it("treats an unparsable failure timestamp as no backoff instead of failing", () => {
    const status = { crash_count: 3, state_transition_failure_timestamp: "yesterday-ish" };
    expect(nextRetryAt(status)).toBeUndefined();
    expect(isUpdateAllowed(status, failedAt)).toBe(true);
  });

  it("refuses while the failure timestamp lies in the future (clock skew)", () => {
    const status = { crash_count: 1, state_transition_failure_timestamp: FAILED_AT_TEXT };
    expect(isUpdateAllowed(status, after(-10 * MINUTE))).toBe(false);
  });
});

describe("state timeouts", () => {
  it("defaults to brupop's values", () => {
    expect(DEFAULT_STATE_TIMEOUTS).toEqual({
      StagedAndPerformedUpdate: 720,
      RebootedIntoUpdate: 600,
      MonitoringUpdate: 300,
    });
  });

  it("applies overrides and keeps the other defaults", () => {
    expect(stateTimeouts({ RebootedIntoUpdate: 1800 })).toEqual({
      StagedAndPerformedUpdate: 720,
      RebootedIntoUpdate: 1800,
      MonitoringUpdate: 300,
    });
    expect(stateTimeouts()).toEqual(DEFAULT_STATE_TIMEOUTS);
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])("rejects the override %s with the state's name", (seconds) => {
    expect(() => stateTimeouts({ MonitoringUpdate: seconds })).toThrow(
      /timeout for MonitoringUpdate must be a positive number of seconds/,
    );
  });

  it("puts the deadline one timeout after the state was requested", () => {
    const spec = { state: "RebootedIntoUpdate" as const, state_transition_timestamp: FAILED_AT_TEXT };
    expect(stateDeadline(spec)).toEqual(after(600_000));
    expect(stateDeadline(spec, stateTimeouts({ RebootedIntoUpdate: 60 }))).toEqual(after(60_000));
  });

  it("has no deadline for Idle and ErrorReset, or without a usable timestamp", () => {
    expect(stateDeadline({ state: "Idle", state_transition_timestamp: FAILED_AT_TEXT })).toBeUndefined();
    expect(stateDeadline({ state: "ErrorReset", state_transition_timestamp: FAILED_AT_TEXT })).toBeUndefined();
    expect(stateDeadline({ state: "MonitoringUpdate", state_transition_timestamp: null })).toBeUndefined();
    expect(stateDeadline({ state: "MonitoringUpdate", state_transition_timestamp: "soon" })).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { BRS_STATES, isBrsState, isBrsStateV1, successor, type BrsState } from "./state-machine.ts";

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

import { describe, expect, it } from "vitest";
import { DEFAULT_NODE_TIMEOUTS, isTimedState, stepDeadline } from "./timeouts.ts";

const STAMP = "2024-06-21T11:55:48.896347269+00:00";
const since = new Date("2024-06-21T11:55:48.896Z");
const after = (ms: number) => new Date(since.getTime() + ms);

describe("state timeouts", () => {
  it("exceed the agent's own bounds in each state (a silent agent is the only reason to time out)", () => {
    // Agent defaults: lock wait 120 s + refresh 10 s + prepare 600 s + activate 5 s; LB wait 0 + drain 600 s +
    // reboot 600 s (src/agent/config.ts, src/host/client.ts).
    expect(DEFAULT_NODE_TIMEOUTS.StagedAndPerformedUpdate).toBeGreaterThan(120 + 10 + 600 + 5);
    expect(DEFAULT_NODE_TIMEOUTS.RebootedIntoUpdate).toBeGreaterThan(600 + 600);
    expect(DEFAULT_NODE_TIMEOUTS).toEqual({
      StagedAndPerformedUpdate: 900,
      RebootedIntoUpdate: 1800,
      MonitoringUpdate: 300,
      Idle: 120,
    });
  });

  it("puts the deadline one timeout after the state was requested", () => {
    expect(stepDeadline("RebootedIntoUpdate", STAMP, DEFAULT_NODE_TIMEOUTS)).toEqual(after(1_800_000));
    expect(stepDeadline("Idle", STAMP, { ...DEFAULT_NODE_TIMEOUTS, Idle: 60 })).toEqual(after(60_000));
  });

  it("has no deadline without a usable timestamp", () => {
    expect(stepDeadline("MonitoringUpdate", null, DEFAULT_NODE_TIMEOUTS)).toBeUndefined();
    expect(stepDeadline("MonitoringUpdate", "soon", DEFAULT_NODE_TIMEOUTS)).toBeUndefined();
  });

  it("times the three update states, not Idle or ErrorReset", () => {
    expect(
      ["Idle", "StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate", "ErrorReset"].map((s) =>
        isTimedState(s as never),
      ),
    ).toEqual([false, true, true, true, false]);
  });
});

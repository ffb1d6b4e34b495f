import { describe, expect, it } from "vitest";
import { resolveFleetPolicy, type FleetPolicy, type PolicyResolution, type UpdatePolicySpec } from "./policy.ts";
import { T0 } from "../../test/support/core-fixtures.ts";

function resolve(env: Record<string, string | undefined>, spec?: UpdatePolicySpec): PolicyResolution {
  return resolveFleetPolicy(env, spec, T0);
}

function ok(env: Record<string, string | undefined>, spec?: UpdatePolicySpec): FleetPolicy {
  const resolution = resolve(env, spec);
  if (!resolution.ok) throw new Error(`unexpected errors: ${resolution.errors.join("; ")}`);
  return resolution.policy;
}

function errors(env: Record<string, string | undefined>, spec?: UpdatePolicySpec): string[] {
  const resolution = resolve(env, spec);
  return resolution.ok ? [] : resolution.errors;
}

function cronExpression(policy: FleetPolicy): string | null {
  return policy.schedule.kind === "cron" ? policy.schedule.cron.expression : null;
}

describe("defaults", () => {
  it("no configuration at all: brupop's defaults plus ours", () => {
    const policy = ok({});
    expect(policy).toMatchObject({
      budget: { kind: "count", max: 1 },
      paused: false,
      allowDowngrade: false,
      quarantineAfterFailures: 5,
      stateTimeouts: { StagedAndPerformedUpdate: 900, RebootedIntoUpdate: 1800, MonitoringUpdate: 300, Idle: 120 },
      sources: {
        budget: "default",
        schedule: "default",
        paused: "default",
        stateTimeouts: "default",
        quarantine: "default",
        downgrade: "default",
      },
    });
    expect(cronExpression(policy)).toBe("* * * * * * *");
  });

  it("blank values count as unset", () => {
    expect(ok({ MAX_CONCURRENT_UPDATE: " ", SCHEDULER_CRON_EXPRESSION: "" }).sources.budget).toBe("default");
  });
});

describe("brupop's environment variables", () => {
  it("MAX_CONCURRENT_UPDATE as brupop reads it, plus percentages", () => {
    expect(ok({ MAX_CONCURRENT_UPDATE: "Unlimited" }).budget).toEqual({ kind: "unlimited" });
    expect(ok({ MAX_CONCURRENT_UPDATE: "3" }).budget).toEqual({ kind: "count", max: 3 });
    expect(ok({ MAX_CONCURRENT_UPDATE: "20%" }).budget).toEqual({ kind: "percent", percent: 20 });
    expect(errors({ MAX_CONCURRENT_UPDATE: "three" })).toEqual([
      'MAX_CONCURRENT_UPDATE: "three" is not a number of nodes, "unlimited" or a percentage such as "25%"',
    ]);
  });

  it("SCHEDULER_CRON_EXPRESSION", () => {
    const policy = ok({ SCHEDULER_CRON_EXPRESSION: "* * 10-12 * * Mon" });
    expect(policy.schedule).toMatchObject({ kind: "cron", source: "env:SCHEDULER_CRON_EXPRESSION" });
    expect(policy.sources.schedule).toBe("env");
    expect(errors({ SCHEDULER_CRON_EXPRESSION: "* * * * *" })).toEqual([
      'SCHEDULER_CRON_EXPRESSION: cron expression "* * * * *": has 5 fields; brupop expressions have 6 or 7 (second minute hour day-of-month month day-of-week [year])',
    ]);
  });

  it("an expression that never fires again is an error (brupop fails at startup)", () => {
    expect(errors({ SCHEDULER_CRON_EXPRESSION: "0 0 0 1 1 * 2020" })).toEqual([
      'SCHEDULER_CRON_EXPRESSION: "0 0 0 1 1 * 2020" never fires again',
    ]);
  });

  it("UPDATE_WINDOW_START/STOP become brupop's hour expression, with a deprecation warning", () => {
    const resolution = resolve({ UPDATE_WINDOW_START: "21:00:00", UPDATE_WINDOW_STOP: "08:30:00" });
    expect(resolution.ok && cronExpression(resolution.policy)).toBe("* * 21-23,0-8 * * * *");
    expect(resolution.ok && resolution.policy.schedule).toMatchObject({ source: "env:UPDATE_WINDOW" });
    expect(resolution.warnings).toEqual([
      'UPDATE_WINDOW_START/UPDATE_WINDOW_STOP are deprecated; they mean SCHEDULER_CRON_EXPRESSION="* * 21-23,0-8 * * * *" (whole hours, stop hour included)',
    ]);
  });

  it("both cron and legacy window: cron wins, with a warning", () => {
    const resolution = resolve({
      SCHEDULER_CRON_EXPRESSION: "* * 1 * * *",
      UPDATE_WINDOW_START: "09:00:00",
      UPDATE_WINDOW_STOP: "17:00:00",
    });
    expect(resolution.ok && cronExpression(resolution.policy)).toBe("* * 1 * * *");
    expect(resolution.warnings).toEqual([
      "SCHEDULER_CRON_EXPRESSION and UPDATE_WINDOW_START/UPDATE_WINDOW_STOP are both set; using SCHEDULER_CRON_EXPRESSION",
    ]);
  });

  it("half a legacy window is an error, as in brupop, even with a cron expression", () => {
    expect(errors({ UPDATE_WINDOW_START: "09:00:00" })).toEqual([
      "UPDATE_WINDOW_STOP is missing; set both UPDATE_WINDOW_START and UPDATE_WINDOW_STOP, or neither",
    ]);
    expect(errors({ SCHEDULER_CRON_EXPRESSION: "* * * * * *", UPDATE_WINDOW_STOP: "09:00:00" })).toHaveLength(1);
  });

  it("a bad legacy time is an error", () => {
    expect(errors({ UPDATE_WINDOW_START: "9am", UPDATE_WINDOW_STOP: "17:00:00" })).toEqual([
      'UPDATE_WINDOW_START "9am" is not a time of day like 09:00:00',
    ]);
  });
});

describe("our environment variables", () => {
  it("read when set", () => {
    const policy = ok({
      UPDATES_PAUSED: "TRUE",
      ALLOW_DOWNGRADE: "true",
      QUARANTINE_AFTER_FAILURES: "3",
      STATE_TIMEOUTS: "RebootedIntoUpdate=15m, MonitoringUpdate=10m",
    });
    expect(policy).toMatchObject({
      paused: true,
      allowDowngrade: true,
      quarantineAfterFailures: 3,
      stateTimeouts: { StagedAndPerformedUpdate: 900, RebootedIntoUpdate: 900, MonitoringUpdate: 600, Idle: 120 },
    });
  });

  it("FAILURE_BACKOFF_UNIT: brupop's minute by default, any whole duration from 1s to 1h", () => {
    expect(ok({}).backoffUnitMs).toBe(60_000);
    expect(ok({ FAILURE_BACKOFF_UNIT: "2s" }).backoffUnitMs).toBe(2_000);
    expect(ok({ FAILURE_BACKOFF_UNIT: "1h" }).backoffUnitMs).toBe(3_600_000);
    expect(errors({ FAILURE_BACKOFF_UNIT: "0s" })).toEqual(['FAILURE_BACKOFF_UNIT: "0s" must be from 1s to 1h']);
    expect(errors({ FAILURE_BACKOFF_UNIT: "2h" })).toEqual(['FAILURE_BACKOFF_UNIT: "2h" must be from 1s to 1h']);
    expect(errors({ FAILURE_BACKOFF_UNIT: "fast" })).toEqual([
      'FAILURE_BACKOFF_UNIT: "fast" is not a duration; write it like 90s, 12m, 1h30m or 1d',
    ]);
  });

  it("QUARANTINE_AFTER_FAILURES=0 never quarantines", () => {
    expect(ok({ QUARANTINE_AFTER_FAILURES: "0" }).quarantineAfterFailures).toBeNull();
  });

  it("every bad value is reported, not just the first", () => {
    expect(
      errors({
        UPDATES_PAUSED: "yes",
        ALLOW_DOWNGRADE: "1",
        QUARANTINE_AFTER_FAILURES: "-2",
        STATE_TIMEOUTS: "Rebooted=5m,MonitoringUpdate=0s,Idle,StagedAndPerformedUpdate=soon",
      }),
    ).toEqual([
      'UPDATES_PAUSED: "yes" is not true or false',
      'ALLOW_DOWNGRADE: "1" is not true or false',
      'QUARANTINE_AFTER_FAILURES: "-2" is not a whole number ≥ 0 (0 never quarantines)',
      'STATE_TIMEOUTS: "Idle" is not State=duration',
      'STATE_TIMEOUTS: "Rebooted" is not one of StagedAndPerformedUpdate, RebootedIntoUpdate, MonitoringUpdate, Idle',
      "STATE_TIMEOUTS.MonitoringUpdate: must be longer than 0s",
      'STATE_TIMEOUTS.StagedAndPerformedUpdate: "soon" is not a duration; write it like 90s, 12m, 1h30m or 1d',
    ]);
  });
});

describe("the policy resource overrides the environment, field by field", () => {
  const env = {
    MAX_CONCURRENT_UPDATE: "1",
    SCHEDULER_CRON_EXPRESSION: "* * 22-23 * * *",
    UPDATES_PAUSED: "false",
    QUARANTINE_AFTER_FAILURES: "9",
  };

  it("overridden fields come from the resource, the rest from the environment", () => {
    const policy = ok(env, { maxConcurrentUpdates: "25%", paused: true });
    expect(policy).toMatchObject({
      budget: { kind: "percent", percent: 25 },
      paused: true,
      quarantineAfterFailures: 9,
    });
    expect(cronExpression(policy)).toBe("* * 22-23 * * *");
    expect(policy.sources).toMatchObject({ budget: "policy", paused: "policy", quarantine: "env", schedule: "env" });
  });

  it("a bad environment value that the resource overrides does not block the fix", () => {
    expect(ok({ MAX_CONCURRENT_UPDATE: "lots" }, { maxConcurrentUpdates: 2 }).budget).toEqual({
      kind: "count",
      max: 2,
    });
  });

  it("spec.schedulerCronExpression replaces both cron sources", () => {
    const policy = ok(env, { schedulerCronExpression: "0 0 10 * * Mon" });
    expect(policy.schedule).toMatchObject({ kind: "cron", source: "policy", cron: { kind: "oneshot" } });
  });

  it("explicit windows replace the cron schedule", () => {
    const policy = ok(env, {
      windows: [
        { schedule: "0 22 * * 1-5", duration: "4h", timeZone: "Europe/Berlin" },
        { schedule: "0 6 * * 6,0", duration: "3h" },
      ],
    });
    expect(policy.schedule.kind).toBe("windows");
    expect(policy.schedule.kind === "windows" && policy.schedule.windows.map((w) => w.timeZone)).toEqual([
      "Europe/Berlin",
      "UTC",
    ]);
  });

  it("an empty window list means no windows (the cron schedule applies)", () => {
    expect(cronExpression(ok(env, { windows: [] }))).toBe("* * 22-23 * * *");
  });

  it("stateTimeouts durations, unnamed states keep defaults", () => {
    expect(ok(env, { stateTimeouts: { RebootedIntoUpdate: "45m" } }).stateTimeouts).toEqual({
      StagedAndPerformedUpdate: 900,
      RebootedIntoUpdate: 2700,
      MonitoringUpdate: 300,
      Idle: 120,
    });
  });

  it("resource errors name the field", () => {
    const bad = {
      maxConcurrentUpdates: "half",
      paused: "yes",
      allowDowngrade: 1,
      quarantineAfterFailures: 2.5,
      schedulerCronExpression: "0 0 10 * * Mon",
      windows: [
        { schedule: "0 22 * * *", duration: "4h", timeZone: "Moon/Base" },
        { schedule: "0 22 * * *" },
        { schedule: "0 0 30 2 *", duration: "1h" },
      ],
      stateTimeouts: { RebootedIntoUpdate: 600, Idle: "2m" },
    } as unknown as UpdatePolicySpec;
    expect(errors(env, bad)).toEqual([
      'policy spec.maxConcurrentUpdates: "half" is not a number of nodes, "unlimited" or a percentage such as "25%"',
      "policy spec.windows and spec.schedulerCronExpression are both set; use one of them",
      'policy spec.windows[0]: window "0 22 * * *": "Moon/Base" is not an IANA time zone (e.g. Europe/Berlin)',
      "policy spec.windows[1] needs a schedule and a duration (strings) and optionally a timeZone (string)",
      'policy spec.windows[2]: "0 0 30 2 *" never opens again',
      "policy spec.paused must be true or false",
      "policy spec.allowDowngrade must be true or false",
      "policy spec.quarantineAfterFailures: 2.5 is not a whole number ≥ 0 (0 never quarantines)",
      'policy spec.stateTimeouts.RebootedIntoUpdate: 600 is not a duration such as "12m"',
    ]);
  });

  it.each([
    [{ maxConcurrentUpdates: true }, "policy spec.maxConcurrentUpdates must be a number or a string"],
    [{ windows: { schedule: "0 1 * * *" } }, "policy spec.windows must be a list"],
    [{ schedulerCronExpression: 5 }, "policy spec.schedulerCronExpression must be a string"],
    [{ stateTimeouts: ["10m"] }, "policy spec.stateTimeouts must be a map of state to duration"],
  ])("wrong types: %j", (spec, error) => {
    expect(errors({}, spec as unknown as UpdatePolicySpec)).toEqual([error]);
  });

  it("unknown fields are warned about (a typo should not pass silently)", () => {
    const resolution = resolve(env, { maxConcurrentUpdate: 3 } as unknown as UpdatePolicySpec);
    expect(resolution.ok).toBe(true);
    expect(resolution.warnings).toEqual(["policy spec.maxConcurrentUpdate is not a known field and is ignored"]);
  });
});

import { describe, expect, it } from "vitest";
import {
  MAX_BACKOFF_MINUTES,
  MAX_FAILURE_WORDS,
  backoffMinutes,
  backoffUntil,
  isQuarantined,
  readFailures,
} from "./failures.ts";
import { ANNOTATIONS } from "./model.ts";
import { T0, after, iso, shadow } from "../../test/support/core-fixtures.ts";

describe("readFailures", () => {
  it("adds the agent's crashes and the controller's timeouts; the latest failure time wins", () => {
    const record = readFailures(
      shadow("n", {
        status: { crash_count: 2, state_transition_failure_timestamp: iso(after(-600)) },
        annotations: {
          [ANNOTATIONS.timeouts]: "1",
          [ANNOTATIONS.lastTimeout]: iso(after(-60)),
          [ANNOTATIONS.acknowledgedFailures]: "2",
        },
      }),
    );
    expect(record).toEqual({
      crashCount: 2,
      timeouts: 1,
      gateFailures: 0,
      hookFailures: 0,
      failures: 3,
      lastFailureAt: after(-60),
      lastFailure: "timed out",
      acknowledged: 2,
      unacknowledged: 1,
    });
  });

  it("counts failed health gates like crashes, and backs off from the last one", () => {
    const record = readFailures(
      shadow("n", {
        status: { crash_count: 1, state_transition_failure_timestamp: iso(after(-600)) },
        annotations: {
          [ANNOTATIONS.timeouts]: "1",
          [ANNOTATIONS.lastTimeout]: iso(after(-300)),
          [ANNOTATIONS.gateFailures]: "2",
          [ANNOTATIONS.lastGateFailure]: iso(after(-30)),
        },
      }),
    );
    expect(record).toMatchObject({ crashCount: 1, timeouts: 1, gateFailures: 2, failures: 4 });
    expect(record.lastFailureAt).toEqual(after(-30));
  });

  it("reads the agent's failure time when it is the later one", () => {
    const record = readFailures(
      shadow("n", {
        status: { crash_count: 1, state_transition_failure_timestamp: iso(after(-10)) },
        annotations: { [ANNOTATIONS.timeouts]: "1", [ANNOTATIONS.lastTimeout]: iso(after(-60)) },
      }),
    );
    expect(record.lastFailureAt).toEqual(after(-10));
  });

  describe("what the latest failure was", () => {
    const controllerWords = {
      [ANNOTATIONS.timeouts]: "1",
      [ANNOTATIONS.lastTimeout]: iso(after(-60)),
      [ANNOTATIONS.lastFailureReason]: "timed out in RebootedIntoUpdate",
    };

    it("the controller's words when its failure is the latest", () => {
      const record = readFailures(
        shadow("n", {
          status: { crash_count: 1, state_transition_failure_timestamp: iso(after(-600)), failure_reason: "boom" },
          annotations: controllerWords,
        }),
      );
      expect(record.lastFailure).toBe("timed out in RebootedIntoUpdate");
    });

    it("a crash, with the agent's reason, when the crash is the latest", () => {
      const record = readFailures(
        shadow("n", {
          status: {
            crash_count: 1,
            state_transition_failure_timestamp: iso(after(-10)),
            failure_reason: "host API: update failed\n  (exit 1)",
          },
          annotations: controllerWords,
        }),
      );
      expect(record.lastFailure).toBe("crashed: host API: update failed (exit 1)");
    });

    it("a crash without a reason from the agent", () => {
      const record = readFailures(shadow("n", { status: { crash_count: 1 } }));
      expect(record.lastFailure).toBe("crashed");
    });

    it("bounded: a long reason is cut", () => {
      const record = readFailures(shadow("n", { status: { crash_count: 1, failure_reason: "x".repeat(5000) } }));
      expect(record.lastFailure).toHaveLength(MAX_FAILURE_WORDS);
      expect(record.lastFailure).toMatch(/^crashed: x+…$/);
    });

    it("without the controller's words, the kind of its latest failure", () => {
      const record = readFailures(
        shadow("n", {
          annotations: {
            [ANNOTATIONS.timeouts]: "1",
            [ANNOTATIONS.lastTimeout]: iso(after(-300)),
            [ANNOTATIONS.gateFailures]: "1",
            [ANNOTATIONS.lastGateFailure]: iso(after(-30)),
          },
        }),
      );
      expect(record.lastFailure).toBe("a health gate failed");
    });

    it("none without failures", () => {
      expect(readFailures(shadow("n", { annotations: { [ANNOTATIONS.lastFailureReason]: "old" } })).lastFailure).toBe(
        null,
      );
    });
  });

  it.each(["-1", "1.5", "two", "", "1e3"])("treats the annotation %j as 0", (value) => {
    expect(readFailures(shadow("n", { annotations: { [ANNOTATIONS.timeouts]: value } })).timeouts).toBe(0);
  });

  it("no status: no crashes", () => {
    expect(readFailures(shadow("n", { status: null })).failures).toBe(0);
  });
});

describe("backoffUntil", () => {
  it.each([
    [0, 120],
    [1, 180],
    [2, 300],
    [10, 1025 * 60],
    [11, 1441 * 60],
    [1000, 1441 * 60],
  ])("%d failures → retry %d s after the failure", (failures, seconds) => {
    expect(backoffUntil(failures, T0, T0)).toEqual(after(seconds));
    expect(backoffUntil(failures, T0, after(seconds))).toBeNull();
  });

  it("no failure time: no backoff", () => expect(backoffUntil(5, null, T0)).toBeNull());

  it("another unit scales the same formula", () => {
    expect(backoffUntil(1, T0, T0, 1_000)).toEqual(after(3));
    expect(backoffUntil(4, T0, after(16), 1_000)).toEqual(after(17));
    expect(backoffUntil(4, T0, after(17), 1_000)).toBeNull();
  });
});

describe("isQuarantined", () => {
  const record = (failures: number, acknowledged = 0) => ({
    crashCount: failures,
    timeouts: 0,
    gateFailures: 0,
    hookFailures: 0,
    failures,
    lastFailureAt: null,
    lastFailure: "crashed",
    acknowledged,
    unacknowledged: failures - acknowledged,
  });
  it.each([
    [record(4), 5, false],
    [record(5), 5, true],
    [record(7, 5), 5, false],
    [record(10, 5), 5, true],
    [record(100), null, false],
    [record(100), 0, false],
  ])("%j with limit %s → %s", (r, limit, quarantined) => expect(isQuarantined(r, limit)).toBe(quarantined));
});

const MINUTE = 60_000;
const failedAt = new Date("2024-06-21T11:55:48.896Z");
// How brupop writes the failure time: nanoseconds, +00:00.
const FAILED_AT_TEXT = "2024-06-21T11:55:48.896347269+00:00";
const at = (ms: number) => new Date(failedAt.getTime() + ms);
type CrashInfo = { crash_count: number; state_transition_failure_timestamp?: string | null };
const crashed = (status: CrashInfo) =>
  readFailures(shadow("n", { status: { state_transition_failure_timestamp: null, ...status } }));
/** When a node with this status may start again; undefined when it may start at any time. */
function retryAt(status: CrashInfo): Date | undefined {
  const record = crashed(status);
  return backoffUntil(record.failures, record.lastFailureAt, new Date(0)) ?? undefined;
}
function allowed(status: CrashInfo, now: Date): boolean {
  const record = crashed(status);
  return backoffUntil(record.failures, record.lastFailureAt, now) === null;
}

describe("crash backoff from the agent's status (brupop's rule)", () => {
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
      expect(allowed(status, at(0))).toBe(false);
      expect(allowed(status, at(minutes * MINUTE))).toBe(false);
      expect(allowed(status, at((minutes + 1) * MINUTE - 1))).toBe(false);
      expect(allowed(status, at((minutes + 1) * MINUTE))).toBe(true);
      expect(retryAt(status)).toEqual(at((minutes + 1) * MINUTE));
    },
  );

  it("caps the wait at one day from crash_count 11 on", () => {
    const status = { crash_count: 30, state_transition_failure_timestamp: FAILED_AT_TEXT };
    expect(allowed(status, at(1440 * MINUTE))).toBe(false);
    expect(allowed(status, at(1441 * MINUTE))).toBe(true);
  });

  it("allows an update at once when there is no failure timestamp", () => {
    for (const stamp of [null, undefined]) {
      const status = { crash_count: 5, state_transition_failure_timestamp: stamp };
      expect(retryAt(status)).toBeUndefined();
      expect(allowed(status, failedAt)).toBe(true);
    }
    expect(allowed({ crash_count: 0 }, failedAt)).toBe(true);
  });

  it("treats an unparsable failure timestamp as no backoff instead of failing", () => {
    const status = { crash_count: 3, state_transition_failure_timestamp: "yesterday-ish" };
    expect(retryAt(status)).toBeUndefined();
    expect(allowed(status, failedAt)).toBe(true);
  });

  it("refuses while the failure timestamp lies in the future (clock skew)", () => {
    const status = { crash_count: 1, state_transition_failure_timestamp: FAILED_AT_TEXT };
    expect(allowed(status, at(-10 * MINUTE))).toBe(false);
  });
});

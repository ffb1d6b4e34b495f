import { describe, expect, it } from "vitest";
import { backoffUntil, isQuarantined, readFailures } from "./failures.ts";
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
      failures: 3,
      lastFailureAt: after(-60),
      acknowledged: 2,
      unacknowledged: 1,
    });
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
});

describe("isQuarantined", () => {
  const record = (failures: number, acknowledged = 0) => ({
    crashCount: failures,
    timeouts: 0,
    failures,
    lastFailureAt: null,
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

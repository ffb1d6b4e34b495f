import { describe, expect, it } from "vitest";
import { hostsByState, hostsByVersion, notStartedByReason, staleSeries, summarizeNotStarted } from "./metrics.ts";
import { NOT_STARTED_CODES } from "./reasons.ts";
import { selectNodesToStart } from "./select.ts";
import { T0, fleetPolicy, iso, node, shadow } from "../../test/support/core-fixtures.ts";

const fleet = [
  shadow("a", { status: { current_state: "Idle", current_version: "1.19.0" } }),
  shadow("b", { status: { current_state: "Idle", current_version: "1.20.0", target_version: "1.20.0" } }),
  shadow("c", {
    spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(T0) },
    status: { current_state: "StagedAndPerformedUpdate", current_version: "1.19.0", target_version: "1.20.0" },
  }),
  shadow("d", { status: null }),
];

describe("brupop_hosts_state", () => {
  it("counts shadows with a status by current state, every state present", () => {
    expect(hostsByState(fleet)).toEqual([
      { labels: { state: "Idle" }, value: 2 },
      { labels: { state: "StagedAndPerformedUpdate" }, value: 1 },
      { labels: { state: "RebootedIntoUpdate" }, value: 0 },
      { labels: { state: "MonitoringUpdate" }, value: 0 },
      { labels: { state: "ErrorReset" }, value: 0 },
    ]);
  });
});

describe("brupop_hosts_version", () => {
  it("counts shadows with a status by current version, only versions seen", () => {
    expect(hostsByVersion(fleet)).toEqual([
      { labels: { bottlerocket_version: "1.19.0" }, value: 2 },
      { labels: { bottlerocket_version: "1.20.0" }, value: 1 },
    ]);
  });

  it("a version nobody runs any more is stale and must be removed (brupop kept it at 0)", () => {
    const before = hostsByVersion(fleet).map((series) => series.labels);
    const now = hostsByVersion([shadow("a", { status: { current_version: "1.20.0" } })]);
    expect(staleSeries(before, now)).toEqual([{ bottlerocket_version: "1.19.0" }]);
    expect(
      staleSeries(
        now.map((s) => s.labels),
        now,
      ),
    ).toEqual([]);
  });
});

describe("not started, by reason", () => {
  const selection = selectNodesToStart(
    {
      shadows: [
        ...fleet,
        shadow("e", { status: { target_version: "1.20.0" } }),
        shadow("f", { status: { target_version: "1.20.0" } }),
      ],
      nodes: ["a", "b", "c", "d", "e", "f"].map((name) => node(name)),
      controllerNodeName: null,
    },
    fleetPolicy({ maxConcurrentUpdates: 1 }),
    T0,
  );

  it("every reason code, zeros included", () => {
    const series = notStartedByReason(selection);
    expect(series.map((s) => s.labels.reason)).toEqual(NOT_STARTED_CODES);
    expect(Object.fromEntries(series.filter((s) => s.value > 0).map((s) => [s.labels.reason, s.value]))).toEqual({
      "up-to-date": 2,
      "in-progress": 1,
      "no-status": 1,
      "budget-full": 2,
    });
  });

  it("summarises the blocking reasons, most common first, ignoring up-to-date", () => {
    expect(summarizeNotStarted(selection)).toBe("2 budget-full, 1 in-progress, 1 no-status");
  });
});

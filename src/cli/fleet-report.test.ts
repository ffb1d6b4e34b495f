import { describe, expect, it } from "vitest";
import { buildFleetReport, type FleetReport, type RowReason } from "./fleet-report.ts";
import { NOW, brs, k8sNode, minutesBefore, policy, snapshot } from "../../test/support/cli-fixtures.ts";

const reasonOf = (report: FleetReport, node: string): RowReason | undefined =>
  report.rows.find((r) => r.node === node)?.reason;

/** n1 updating, n2 and n3 want 1.26.0, n4 up to date, n5 labelled without a shadow. */
function fleet() {
  return {
    shadows: [
      brs("n1", {
        spec: { state: "StagedAndPerformedUpdate", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
        status: { target_version: "1.26.0" },
      }),
      brs("n2", { status: { target_version: "1.26.0" } }),
      brs("n3", { status: { target_version: "1.26.0" } }),
      brs("n4"),
    ],
    nodes: ["n1", "n2", "n3", "n4", "n5"].map((n) => k8sNode(n)),
  };
}

describe("buildFleetReport", () => {
  it("gives every node the controller's reason: in progress, budget full, up to date, agent missing", () => {
    const report = buildFleetReport(snapshot(fleet()), NOW);
    expect(reasonOf(report, "n1")?.code).toBe("in-progress");
    expect(reasonOf(report, "n2")).toMatchObject({ code: "budget-full", inUse: 1, limit: 1 });
    expect(reasonOf(report, "n3")).toMatchObject({ code: "budget-full" });
    expect(reasonOf(report, "n4")?.code).toBe("up-to-date");
    expect(reasonOf(report, "n5")?.code).toBe("agent-missing");
    expect(report.rows.filter((r) => r.blocked).map((r) => r.node)).toEqual(["n2", "n3", "n5"]);
    expect(report.summary).toMatchObject({ managedNodes: 5, updating: 1, budget: "1", paused: false });
    expect(report.summary.nodesByState).toEqual({ Idle: 4 });
    expect(report.versions).toEqual([{ version: "1.25.0", nodes: 4 }]);
  });

  it("reads the controller's environment: MAX_CONCURRENT_UPDATE=2 lets the next node start", () => {
    const report = buildFleetReport(
      snapshot({ ...fleet(), controller: { env: { MAX_CONCURRENT_UPDATE: "2" }, found: "deployment" } }),
      NOW,
    );
    expect(reasonOf(report, "n2")).toMatchObject({ code: "starting", from: "1.25.0", to: "1.26.0" });
    expect(reasonOf(report, "n3")).toMatchObject({ code: "budget-full", inUse: 2, limit: 2 });
    expect(report.rows.find((r) => r.node === "n2")?.blocked).toBe(false);
  });

  it("lets the policy resource override the environment (paused)", () => {
    const report = buildFleetReport(
      snapshot({
        ...fleet(),
        policy: policy({ paused: true, maxConcurrentUpdates: 3 }),
        controller: { env: { UPDATES_PAUSED: "false" }, found: "deployment" },
      }),
      NOW,
    );
    expect(reasonOf(report, "n2")?.code).toBe("paused");
    expect(report.summary.paused).toBe(true);
    expect(report.resolution.ok && report.resolution.policy.sources.paused).toBe("policy");
  });

  it("says when nothing can start because the policy is invalid", () => {
    const report = buildFleetReport(snapshot({ ...fleet(), policy: policy({ maxConcurrentUpdates: "lots" }) }), NOW);
    expect(report.selection).toBeNull();
    expect(reasonOf(report, "n2")).toMatchObject({ code: "policy-invalid" });
    expect(reasonOf(report, "n5")).toMatchObject({ code: "policy-invalid" });
    expect(report.summary.errors?.[0]).toMatch(/maxConcurrentUpdates/);
  });

  it("reports the node opt-out, backoff and a closed window with its next opening", () => {
    const report = buildFleetReport(
      snapshot({
        shadows: [
          brs("a", { status: { target_version: "1.26.0" } }),
          brs("b", {
            status: { target_version: "1.26.0", crash_count: 3, state_transition_failure_timestamp: minutesBefore(2) },
          }),
          brs("c", { status: { target_version: "1.26.0" } }),
        ],
        nodes: [
          k8sNode("a", { annotations: { "brupop.bottlerocket.aws/paused": "true" } }),
          k8sNode("b"),
          k8sNode("c"),
        ],
        policy: policy({ windows: [{ schedule: "0 2 * * *", duration: "2h" }] }),
      }),
      NOW,
    );
    expect(reasonOf(report, "a")?.code).toBe("opted-out");
    expect(reasonOf(report, "b")).toMatchObject({ code: "backoff", until: new Date("2024-06-03T10:07:00.000Z") });
    expect(reasonOf(report, "c")).toMatchObject({
      code: "outside-window",
      nextOpen: new Date("2024-06-04T02:00:00.000Z"),
    });
    expect(report.rows.find((r) => r.node === "b")).toMatchObject({ crashCount: 3, failures: 3 });
  });

  it("a node whose health gates are being checked says what each gate waits for", () => {
    const message = "checking the health gates after the update to 1.26.0: daemonset-pods waiting: 1 DaemonSet pod …";
    const monitoring = brs("a", {
      spec: { state: "MonitoringUpdate", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
      status: {
        current_state: "MonitoringUpdate",
        current_version: "1.26.0",
        target_version: "1.26.0",
        conditions: [
          {
            type: "UpdateHealthy",
            status: "Unknown",
            reason: "GatesPending",
            message,
            lastTransitionTime: minutesBefore(1),
          },
        ],
      },
    });
    const report = buildFleetReport(snapshot({ shadows: [monitoring], nodes: [k8sNode("a")] }), NOW);
    expect(reasonOf(report, "a")).toEqual({ code: "in-progress", message });
  });

  it("treats a one-shot trigger session as open only when the controller says so", () => {
    const parts = { shadows: [brs("a", { status: { target_version: "1.26.0" } })], nodes: [k8sNode("a")] };
    // Fires every day at 09:00:00 (one second): a one-shot trigger that fired an hour ago.
    const oneshot = { schedulerCronExpression: "0 0 9 * * * *" };
    const closed = buildFleetReport(snapshot({ ...parts, policy: policy(oneshot, false) }), NOW);
    expect(reasonOf(closed, "a")?.code).toBe("outside-window");
    const open = buildFleetReport(snapshot({ ...parts, policy: policy(oneshot, true) }), NOW, { sessionOpen: true });
    expect(reasonOf(open, "a")?.code).toBe("starting");
  });

  it("notes what it could not see", () => {
    const report = buildFleetReport(snapshot({ controller: { env: {}, found: "missing" }, policy: undefined }), NOW);
    expect(report.notes.join("\n")).toMatch(/controller Deployment not found/);
    expect(report.notes.join("\n")).toMatch(/BottlerocketUpdatePolicy CRD is not installed/);
  });

  it("leaves out shadows being deleted", () => {
    const deleting = brs("gone");
    (deleting.metadata as { deletionTimestamp?: string }).deletionTimestamp = minutesBefore(1);
    const report = buildFleetReport(snapshot({ shadows: [deleting] }), NOW);
    expect(report.rows).toEqual([]);
  });
});

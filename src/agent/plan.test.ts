// Table tests of the agent's pure decision.
import { describe, expect, test } from "vitest";
import type { AgentSpec, AgentStatus, ObservedNode } from "./observed.ts";
import { plan, specKey, statusFor, type AgentAction, type HostView, type PlanInput } from "./plan.ts";

const NOW = Date.parse("2025-01-01T00:00:00Z");
const T = "2025-01-01T00:00:00+00:00";

const spec = (state: AgentSpec["state"], version: string | null = "1.26.0"): AgentSpec => ({
  state,
  version,
  state_transition_timestamp: T,
});
const status = (state: AgentStatus["current_state"], extra: Partial<AgentStatus> = {}): AgentStatus => ({
  current_version: "1.25.0",
  target_version: "1.26.0",
  current_state: state,
  crash_count: 0,
  state_transition_failure_timestamp: null,
  ...extra,
});
const node = (extra: Partial<ObservedNode> = {}): ObservedNode => ({
  uid: "uid-1",
  unschedulable: false,
  excludedFromLb: false,
  ...extra,
});
const host = (
  versionId = "1.25.0",
  update: { state: "Idle" | "Available" | "Staged" | "Ready"; stagedVersion: string | null } | null = {
    state: "Available",
    stagedVersion: null,
  },
  bootId: string | null = "boot-1",
): HostView => ({ reachable: true, versionId, update, bootId });
const down: HostView = { reachable: false, problem: "ECONNREFUSED" };
const ready = host("1.25.0", { state: "Ready", stagedVersion: "1.26.0" });

function input(s: AgentSpec, st: AgentStatus | null, h: HostView = host(), extra: Partial<PlanInput> = {}): PlanInput {
  return {
    shadow: { valid: true, spec: s, status: st },
    node: node(),
    host: h,
    offered: undefined,
    memory: {},
    now: NOW,
    settings: { excludeFromLbWaitMs: 0, rebootTimeoutMs: 600_000 },
    ...extra,
  };
}

/** The action's kind plus, for reports, the reported state (and reason when it is a failure). */
function summary(action: AgentAction): string {
  if (action.kind !== "report") return action.kind;
  const reason = action.status.current_state === "ErrorReset" ? `: ${action.status.failure_reason ?? ""}` : "";
  return `report ${action.status.current_state}${reason}`;
}

describe("plan: one step at a time", () => {
  const rebootKey = specKey(spec("RebootedIntoUpdate"));
  const before = { bootId: "boot-1", versionId: "1.25.0", statusInitialised: true };
  const cases: [string, PlanInput, string | RegExp][] = [
    // bootstrap
    ["watches not listed yet", { ...input(spec("Idle"), null), shadow: undefined }, "wait"],
    ["own Node missing", { ...input(spec("Idle"), null), node: null }, "wait"],
    ["no brs → create it", { ...input(spec("Idle"), null), shadow: null }, "create-shadow"],
    [
      "brs with a bad value → only wait",
      { ...input(spec("Idle"), null), shadow: { valid: false, problem: "x" } },
      "wait",
    ],
    ["no status → report Idle", input(spec("Idle"), null), "report Idle"],
    ["no status, host down → wait", input(spec("Idle"), null, down), "wait"],
    // steady
    ["Idle reached, versions unchanged → wait", input(spec("Idle", null), status("Idle")), "wait"],
    [
      "Idle reached, host offers a new version → report",
      { ...input(spec("Idle", null), status("Idle")), offered: "1.27.0" },
      "report Idle",
    ],
    // staging (idempotent)
    ["stage: host Available → prepare", input(spec("StagedAndPerformedUpdate"), status("Idle")), "prepare"],
    [
      "stage: host uninitialised → prepare (it refreshes)",
      input(spec("StagedAndPerformedUpdate"), status("Idle"), host("1.25.0", null)),
      "prepare",
    ],
    [
      "stage: host Staged with the target → activate",
      input(
        spec("StagedAndPerformedUpdate"),
        status("Idle"),
        host("1.25.0", { state: "Staged", stagedVersion: "1.26.0" }),
      ),
      "activate",
    ],
    [
      "stage: host Staged with another version → prepare",
      input(
        spec("StagedAndPerformedUpdate"),
        status("Idle"),
        host("1.25.0", { state: "Staged", stagedVersion: "1.24.0" }),
      ),
      "prepare",
    ],
    [
      "stage: host Ready with the target → done",
      input(spec("StagedAndPerformedUpdate"), status("Idle"), ready),
      "report StagedAndPerformedUpdate",
    ],
    [
      "stage: host Ready with another version → prepare (deactivates first)",
      input(
        spec("StagedAndPerformedUpdate"),
        status("Idle"),
        host("1.25.0", { state: "Ready", stagedVersion: "1.24.0" }),
      ),
      "prepare",
    ],
    [
      "stage: already running the target → done",
      input(spec("StagedAndPerformedUpdate"), status("Idle"), host("1.26.0")),
      "report StagedAndPerformedUpdate",
    ],
    [
      "stage: no spec.version → failure",
      input(spec("StagedAndPerformedUpdate", null), status("Idle")),
      /report ErrorReset: spec.version is not set/,
    ],
    ["stage: host down → wait", input(spec("StagedAndPerformedUpdate"), status("Idle"), down), "wait"],
    // reboot
    [
      "reboot: Ready → drain first",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready),
      "cordon-and-drain",
    ],
    [
      "reboot: drained → reboot",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        memory: { drainedFor: rebootKey },
      }),
      "reboot",
    ],
    [
      "reboot: a drain for an older spec does not count",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, { memory: { drainedFor: "old" } }),
      "cordon-and-drain",
    ],
    [
      "reboot: LB exclusion on → label first",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        settings: { excludeFromLbWaitMs: 30_000, rebootTimeoutMs: 1 },
      }),
      "exclude-from-lb",
    ],
    [
      "reboot: labelled by an earlier process (time unknown) → label again to start the wait",
      {
        ...input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
          settings: { excludeFromLbWaitMs: 30_000, rebootTimeoutMs: 1 },
        }),
        node: node({ excludedFromLb: true }),
      },
      "exclude-from-lb",
    ],
    [
      "reboot: labelled 10 s ago of 30 → wait",
      {
        ...input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
          settings: { excludeFromLbWaitMs: 30_000, rebootTimeoutMs: 1 },
          memory: { lbExcludedAt: NOW - 10_000 },
        }),
        node: node({ excludedFromLb: true }),
      },
      "wait",
    ],
    [
      "reboot: labelled 30 s ago → drain",
      {
        ...input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
          settings: { excludeFromLbWaitMs: 30_000, rebootTimeoutMs: 1 },
          memory: { lbExcludedAt: NOW - 30_000 },
        }),
        node: node({ excludedFromLb: true }),
      },
      "cordon-and-drain",
    ],
    [
      "reboot requested, host down → wait",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), down, {
        memory: { reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 1_000, before } },
      }),
      "wait",
    ],
    [
      "reboot requested, host down past the timeout → failure",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), down, {
        memory: { reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 600_000, before } },
      }),
      /report ErrorReset: the host did not come back within 600 s/,
    ],
    [
      "reboot requested, same boot → wait",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        memory: { reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 1_000, before } },
      }),
      "wait",
    ],
    [
      "reboot requested, same boot past the timeout → failure",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        memory: { reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 600_000, before } },
      }),
      /did not reboot within 600 s/,
    ],
    [
      "reboot requested, new boot on the old version → rollback failure",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.25.0", null, "boot-2"), {
        memory: { reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 1_000, before } },
      }),
      /report ErrorReset: rebooted but running 1\.25\.0, not 1\.26\.0: .*rolled back/,
    ],
    [
      "reboot requested, no boot IDs, status uninitialised on the old version → rollback failure",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.25.0", null, null), {
        memory: {
          reboot: { key: rebootKey, version: "1.26.0", requestedAt: NOW - 1_000, before: { ...before, bootId: null } },
        },
      }),
      /rolled back/,
    ],
    [
      "restarted after a rollback (no memory: every reboot restarts the agent) → rollback failure, no second reboot",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.25.0", null)),
      /report ErrorReset: rebooted but running 1\.25\.0, not 1\.26\.0: 1\.26\.0 failed to boot and the host rolled back/,
    ],
    [
      "status uninitialised although our status does not say we activated anything → cannot reboot, with the hint",
      input(spec("RebootedIntoUpdate"), status("Idle"), host("1.25.0", null)),
      /report ErrorReset: cannot reboot into 1\.26\.0: .*no update action since it booted; .*rolls back/,
    ],
    [
      "update deactivated on the host → failure",
      input(
        spec("RebootedIntoUpdate"),
        status("StagedAndPerformedUpdate"),
        host("1.25.0", { state: "Staged", stagedVersion: "1.26.0" }),
      ),
      /deactivated/,
    ],
    [
      "rebooted into the target, cordoned → uncordon",
      {
        ...input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.26.0", null, "boot-2")),
        node: node({ unschedulable: true }),
      },
      "uncordon",
    ],
    [
      "rebooted into the target, LB label → remove it first",
      {
        ...input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.26.0", null), {
          settings: { excludeFromLbWaitMs: 1, rebootTimeoutMs: 1 },
        }),
        node: node({ unschedulable: true, excludedFromLb: true }),
      },
      "remove-lb-exclusion",
    ],
    [
      "rebooted into the target, uncordoned → report",
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), host("1.26.0", null)),
      "report RebootedIntoUpdate",
    ],
    // monitoring
    [
      "monitoring: on the target → report",
      input(
        spec("MonitoringUpdate"),
        status("RebootedIntoUpdate", { current_version: "1.26.0" }),
        host("1.26.0", null),
      ),
      "report MonitoringUpdate",
    ],
    [
      "monitoring: cordoned → uncordon",
      {
        ...input(spec("MonitoringUpdate"), status("RebootedIntoUpdate"), host("1.26.0", null)),
        node: node({ unschedulable: true }),
      },
      "uncordon",
    ],
    [
      "monitoring: not on the target any more → failure",
      input(spec("MonitoringUpdate"), status("RebootedIntoUpdate"), host("1.25.0", null)),
      /report ErrorReset: running 1\.25\.0, not 1\.26\.0/,
    ],
    // failures and resets
    [
      "ErrorReset reported, spec not reset yet → wait (no retry)",
      input(spec("RebootedIntoUpdate"), status("ErrorReset", { crash_count: 1 }), ready),
      "wait",
    ],
    ["spec ErrorReset (never valid) → wait", input(spec("ErrorReset"), status("Idle")), "wait"],
    [
      "reset to Idle with the update activated → deactivate",
      input(spec("Idle"), status("ErrorReset"), ready),
      "deactivate",
    ],
    [
      "timed out mid-drain (status Staged, spec Idle), Ready → deactivate",
      input(spec("Idle"), status("StagedAndPerformedUpdate"), ready),
      "deactivate",
    ],
    [
      "timed out, deactivated, cordoned → uncordon",
      {
        ...input(
          spec("Idle"),
          status("StagedAndPerformedUpdate"),
          host("1.25.0", { state: "Staged", stagedVersion: "1.26.0" }),
        ),
        node: node({ unschedulable: true }),
      },
      "uncordon",
    ],
    [
      "timed out, LB label (feature on) → remove it",
      {
        ...input(spec("Idle"), status("RebootedIntoUpdate"), host("1.26.0"), {
          settings: { excludeFromLbWaitMs: 5_000, rebootTimeoutMs: 1 },
        }),
        node: node({ excludedFromLb: true }),
      },
      "remove-lb-exclusion",
    ],
    ["back in service → report Idle", input(spec("Idle"), status("ErrorReset", { crash_count: 2 })), "report Idle"],
    ["reset while the host is down → wait", input(spec("Idle"), status("ErrorReset"), down), "wait"],
    [
      "reset while the host API fails, node cordoned → uncordon first (it needs no host)",
      { ...input(spec("Idle"), status("RebootedIntoUpdate"), down), node: node({ unschedulable: true }) },
      "uncordon",
    ],
    [
      "reset with the update activated, node cordoned → uncordon before deactivating",
      { ...input(spec("Idle"), status("ErrorReset"), ready), node: node({ unschedulable: true }) },
      "uncordon",
    ],
  ];
  test.each(cases)("%s", (_name, given, expected) => {
    const got = summary(plan(given));
    if (typeof expected === "string") expect(got).toBe(expected);
    else expect(got).toMatch(expected);
  });
});

describe("plan: what a report carries", () => {
  test("a failure increments crash_count, stamps the time and keeps the target", () => {
    const action = plan(
      input(spec("MonitoringUpdate"), status("RebootedIntoUpdate", { crash_count: 2 }), host("1.25.0", null)),
    );
    expect(action).toMatchObject({
      kind: "report",
      status: {
        current_state: "ErrorReset",
        crash_count: 3,
        current_version: "1.25.0",
        target_version: "1.26.0",
        state_transition_failure_timestamp: T,
      },
    });
  });

  test("finishing (Monitoring → Idle) clears crash info and the failure reason; other returns keep them", () => {
    const failed = { crash_count: 2, state_transition_failure_timestamp: T, failure_reason: "boom" };
    const finished = plan(input(spec("Idle"), status("MonitoringUpdate", failed), host("1.26.0", null)));
    expect(finished).toMatchObject({ kind: "report", status: { current_state: "Idle", crash_count: 0 } });
    expect(finished.kind === "report" && finished.status).toMatchObject({ state_transition_failure_timestamp: null });
    expect(finished.kind === "report" && "failure_reason" in finished.status).toBe(false);
    const recovered = plan(input(spec("Idle"), status("ErrorReset", failed)));
    expect(recovered).toMatchObject({ kind: "report", status: { current_state: "Idle", ...failed } });
  });

  test("target: the host's offer, else the previous target, else the current version", () => {
    const h = host("1.25.0") as HostView & { reachable: true };
    expect(statusFor("Idle", status("Idle"), h, "1.27.0").target_version).toBe("1.27.0");
    expect(statusFor("Idle", status("Idle"), h, null).target_version).toBe("1.25.0");
    expect(statusFor("Idle", status("Idle"), h, undefined).target_version).toBe("1.26.0");
    expect(statusFor("Idle", null, h, undefined).target_version).toBe("1.25.0");
  });

  test("a reboot action carries the boot observation to compare against", () => {
    const action = plan(
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        memory: { drainedFor: specKey(spec("RebootedIntoUpdate")) },
      }),
    );
    expect(action).toEqual({
      kind: "reboot",
      key: specKey(spec("RebootedIntoUpdate")),
      version: "1.26.0",
      before: { bootId: "boot-1", versionId: "1.25.0", statusInitialised: true },
    });
  });

  test("a pending reboot of an earlier spec (same version) is not this one's", () => {
    const earlier = { key: "RebootedIntoUpdate:1.26.0@yesterday", version: "1.26.0", requestedAt: NOW - 1_000 };
    const action = plan(
      input(spec("RebootedIntoUpdate"), status("StagedAndPerformedUpdate"), ready, {
        memory: { reboot: { ...earlier, before: { bootId: "boot-0", versionId: "1.25.0", statusInitialised: true } } },
      }),
    );
    expect(action.kind).toBe("cordon-and-drain");
  });
});

// docs/design/health-gates.md#rollback: after a failed health gate the controller's spec installs the older version
// the node ran before, and its rollback-to annotation names it.
describe("plan: rolling back after a failed health gate", () => {
  const rollback = (s: AgentSpec, st: AgentStatus, h: HostView, extra: Partial<PlanInput> = {}): PlanInput => ({
    ...input(s, st, h, extra),
    shadow: { valid: true, spec: s, status: st, rollbackTo: "1.25.0" },
  });
  const onNew = { current_version: "1.26.0", target_version: "1.26.0" };

  test("stages the older version with the host's version-lock pinned", () => {
    const action = plan(
      rollback(spec("StagedAndPerformedUpdate", "1.25.0"), status("MonitoringUpdate", onNew), host("1.26.0", null)),
    );
    expect(action).toEqual({ kind: "prepare", version: "1.25.0", pinVersionLock: true });
  });

  test("an annotation naming another version is no rollback: an ordinary prepare", () => {
    const given = rollback(spec("StagedAndPerformedUpdate", "1.27.0"), status("Idle", onNew), host("1.26.0", null));
    expect(plan(given)).toEqual({ kind: "prepare", version: "1.27.0" });
  });

  test("then activates, drains and reboots into it as for any update", () => {
    const staged = host("1.26.0", { state: "Staged", stagedVersion: "1.25.0" });
    expect(
      plan(rollback(spec("StagedAndPerformedUpdate", "1.25.0"), status("MonitoringUpdate", onNew), staged)).kind,
    ).toBe("activate");
    const activated = host("1.26.0", { state: "Ready", stagedVersion: "1.25.0" });
    expect(
      plan(rollback(spec("RebootedIntoUpdate", "1.25.0"), status("StagedAndPerformedUpdate", onNew), activated)).kind,
    ).toBe("cordon-and-drain");
  });

  test("an abandoned rollback puts back a version-lock it may have left pinned, once, before reporting Idle", () => {
    const reset = rollback(spec("Idle", "1.25.0"), status("ErrorReset", onNew), host("1.26.0", null));
    expect(plan(reset)).toEqual({ kind: "restore-version-lock", key: specKey(spec("Idle", "1.25.0")) });
    const restored = { ...reset, memory: { lockRestoredFor: specKey(spec("Idle", "1.25.0")) } };
    expect(summary(plan(restored))).toBe("report Idle");
  });
});

import { describe, expect, it } from "vitest";
import { validateUpdatePolicyStatus } from "../api/update-policy.ts";
import { buildFleetReport } from "./fleet-report.ts";
import { makeStyle, plain } from "./render.ts";
import { renderStatus, shortReason, statusView } from "./status-view.ts";
import { NOW, brs, k8sNode, minutesBefore, policy, snapshot } from "../../test/support/cli-fixtures.ts";

function report() {
  return buildFleetReport(
    snapshot({
      shadows: [
        brs("n1", {
          spec: { state: "StagedAndPerformedUpdate", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
          status: { target_version: "1.26.0" },
        }),
        brs("n2", { status: { target_version: "1.26.0" } }),
        brs("n3", { status: { current_version: "1.26.0", target_version: "1.26.0" } }),
      ],
      nodes: [k8sNode("n1", { unschedulable: true }), k8sNode("n2"), k8sNode("n3"), k8sNode("n4")],
      policy: policy({ windows: [{ schedule: "0 8 * * *", duration: "4h" }] }),
    }),
    NOW,
  );
}

describe("renderStatus", () => {
  it("prints the summary and one row per node with the reason", () => {
    const text = renderStatus(report(), { wide: false, style: plain });
    expect(text).toContain("Fleet     4 managed nodes, 1 updating, budget 1 (namespace brupop-bottlerocket-aws)");
    expect(text).toContain("Paused    no");
    expect(text).toContain("Window    open until 2024-06-03T12:00:00Z (in 2h)");
    expect(text).toContain("States    Idle 3");
    expect(text).toContain("Versions  1.25.0 (2), 1.26.0 (1)");
    expect(text).toContain("Blocked   1 agent-missing, 1 budget-full");
    const lines = text.split("\n");
    expect(lines.find((l) => l.startsWith("NODE"))).toMatch(/^NODE\s+STATE\s+VERSION\s+AVAILABLE\s+FAILURES\s+WHY$/);
    expect(lines.find((l) => l.startsWith("n1"))).toMatch(
      /^n1\s+Idle → StagedAndPerformedUpdate\s+1\.25\.0\s+1\.26\.0\s+0\s+in-progress$/,
    );
    expect(lines.find((l) => l.startsWith("n2"))).toMatch(/budget-full \(1\/1\)$/);
    expect(lines.find((l) => l.startsWith("n3"))).toMatch(/up-to-date$/);
    expect(lines.find((l) => l.startsWith("n4"))).toMatch(/^n4\s+-\s+-\s+-\s+0\s+agent-missing$/);
    expect(text).not.toContain("\u001b[");
  });

  it("adds the target version, cordon and full message with -o wide", () => {
    const text = renderStatus(report(), { wide: true, style: plain });
    expect(text).toMatch(/NODE\s+STATE\s+VERSION\s+AVAILABLE\s+UPDATING TO\s+FAILURES\s+CORDONED\s+WHY\s+MESSAGE/);
    expect(text.split("\n").find((l) => l.startsWith("n1"))).toMatch(/1\.26\.0\s+0\s+yes\s+in-progress\s+moving to/);
  });

  it("colours reasons only when the style is enabled", () => {
    expect(renderStatus(report(), { wide: false, style: makeStyle(true) })).toContain("\u001b[33mbudget-full (1/1)");
  });

  it("puts a halted rollout first, in red, with the failed nodes, what failed and the way out; halted in each waiting row", () => {
    // n1 crashed (the agent says why); n2's health gate failed (the controller's record names the gate).
    const crashed = brs("n1", {
      spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(2) },
      status: {
        target_version: "1.26.0",
        crash_count: 1,
        state_transition_failure_timestamp: minutesBefore(2),
        failure_reason: "host API refused the update",
      },
    });
    const gateFailed = brs("n2", {
      spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(2) },
      status: { target_version: "1.26.0" },
      annotations: {
        "brupop.bottlerocket.aws/gate-failures": "1",
        "brupop.bottlerocket.aws/last-gate-failure": minutesBefore(2),
        "brupop.bottlerocket.aws/last-failure-reason": "health gate daemonset-pods failed",
      },
    });
    const fleet = (maxFailedNodes: number) =>
      buildFleetReport(
        snapshot({
          shadows: [crashed, gateFailed, brs("n3", { status: { target_version: "1.26.0" } })],
          nodes: [k8sNode("n1"), k8sNode("n2"), k8sNode("n3")],
          policy: policy({ maxConcurrentUpdates: 3, maxFailedNodes }),
        }),
        NOW,
      );
    const text = renderStatus(fleet(1), { wide: false, style: plain });
    const lines = text.split("\n");
    expect(lines[0]).toBe(
      "HALTED    2 nodes failed updating to 1.26.0, more than 1 (spec.maxFailedNodes 1): " +
        "n1: crashed: host API refused the update; n2: health gate daemonset-pods failed. No new update " +
        "starts; find out why they failed (brupop explain <node>), then: brupop resume",
    );
    expect(lines.find((l) => l.startsWith("n3"))).toMatch(/halted \(brupop resume\)$/);
    const coloured = renderStatus(fleet(1), { wide: false, style: makeStyle(true) });
    expect(coloured.startsWith("\u001b[31m\u001b[1mHALTED")).toBe(true);
    expect(statusView(fleet(1)).halt).toMatchObject({
      halted: true,
      limit: 1,
      failedNodes: ["n1", "n2"],
      failureReasons: { n1: "crashed: host API refused the update", n2: "health gate daemonset-pods failed" },
    });
    // Within the limit: one line after Paused, and nodes start.
    const within = renderStatus(fleet(2), { wide: false, style: plain });
    expect(within.split("\n")[0]).toMatch(/^Fleet/);
    expect(within).toContain(
      "Halted    no: 2 nodes failed updating to 1.26.0; halts when more than 2 have (spec.maxFailedNodes 2)",
    );
    // Without the field, no halt line at all.
    expect(renderStatus(report(), { wide: false, style: plain })).not.toMatch(/halt/i);
  });

  it("says how to start when there are no managed nodes", () => {
    const text = renderStatus(buildFleetReport(snapshot(), NOW), { wide: false, style: plain });
    expect(text).toContain("No managed nodes. Label Bottlerocket nodes with: brupop label --all-bottlerocket");
  });
});

describe("topology budgets in brupop status", () => {
  const ZONE = "topology.kubernetes.io/zone";
  /** a1 updating in zone a; a2 and b1 want 1.26.0; fleet budget 3, one per zone. */
  function zoned() {
    const zones: Record<string, string> = { a1: "a", a2: "a", b1: "b" };
    return buildFleetReport(
      snapshot({
        shadows: [
          brs("a1", {
            spec: {
              state: "StagedAndPerformedUpdate",
              version: "1.26.0",
              state_transition_timestamp: minutesBefore(1),
            },
            status: { target_version: "1.26.0" },
          }),
          brs("a2", { status: { target_version: "1.26.0" } }),
          brs("b1", { status: { target_version: "1.26.0" } }),
        ],
        nodes: Object.entries(zones).map(([n, z]) => k8sNode(n, { labels: { [ZONE]: z } })),
        policy: policy({ maxConcurrentUpdates: 3, topologyBudgets: [{ topologyKey: ZONE, maxConcurrentUpdates: 1 }] }),
      }),
      NOW,
    );
  }

  it("names the zone of a node its zone budget holds back, and shows each zone's use", () => {
    const text = renderStatus(zoned(), { wide: false, style: plain });
    expect(text.split("\n").find((l) => l.startsWith("a2"))).toMatch(
      /topology-budget-full \(topology\.kubernetes\.io\/zone=a 1\/1\)$/,
    );
    expect(text.split("\n").find((l) => l.startsWith("b1"))).toMatch(/starting/);
    expect(text).toContain(`Topology  ${ZONE} at most 1 per value: a 1/1, b 0/1`);
    expect(text).toContain("Blocked   1 topology-budget-full");
  });

  it("puts the zone and the counts in the document, and the policy status lists the groups", () => {
    const report = zoned();
    const view = statusView(report);
    expect(view.nodes.find((n) => n.node === "a2")?.reason).toEqual({
      code: "topology-budget-full",
      message: `${ZONE}=a at its budget: 1 of 1 updating (budget 1)`,
      topologyKey: ZONE,
      value: "a",
      inUse: 1,
      limit: 1,
    });
    expect(view.topology).toEqual([
      {
        topologyKey: ZONE,
        budget: "1",
        groups: [
          { value: "a", managedNodes: 2, limit: 1, updating: 1 },
          { value: "b", managedNodes: 1, limit: 1, updating: 0 },
        ],
      },
    ]);
    expect(validateUpdatePolicyStatus(report.summary).ok).toBe(true);
    expect(report.summary.blockedNodes).toEqual([
      { node: "a2", reason: "topology-budget-full", message: `${ZONE}=a at its budget (1)` },
    ]);
  });
});

describe("statusView", () => {
  it("is a plain document with RFC 3339 times and reason details", () => {
    const view = statusView(report());
    expect(view).toMatchObject({
      namespace: "brupop-bottlerocket-aws",
      time: "2024-06-03T10:00:00+00:00",
      paused: false,
      managedNodes: 4,
      updating: 1,
      budget: "1",
      window: { open: true, nextOpen: null, openUntil: "2024-06-03T12:00:00+00:00" },
      nodesByState: { Idle: 3 },
      versions: { "1.25.0": 2, "1.26.0": 1 },
      blocked: { "budget-full": 1, "agent-missing": 1 },
      policy: { valid: true, errors: [], sources: { schedule: "policy" } },
    });
    expect(view.nodes.find((n) => n.node === "n2")?.reason).toMatchObject({ code: "budget-full", inUse: 1, limit: 1 });
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });
});

describe("shortReason", () => {
  it("adds the one detail that matters", () => {
    expect(shortReason({ code: "backoff", until: new Date(NOW.getTime() + 7 * 60_000), message: "" }, NOW)).toBe(
      "backoff (retry in 7m)",
    );
    expect(shortReason({ code: "outside-window", nextOpen: null, message: "" }, NOW)).toBe(
      "outside-window (never opens)",
    );
    expect(shortReason({ code: "budget-full", inUse: 3, limit: Infinity, message: "" }, NOW)).toBe(
      "budget-full (3/unlimited)",
    );
  });
});

describe("canaries, soak and the version pin in brupop status", () => {
  const CANARY = { "example.com/canary": "true" };
  function fleet(canaryDone: boolean) {
    const canary = canaryDone
      ? brs("c1", {
          status: { current_version: "1.26.0", target_version: "1.26.0" },
          annotations: {
            "brupop.bottlerocket.aws/completed-version": "1.26.0",
            "brupop.bottlerocket.aws/completed-at": minutesBefore(10),
          },
        })
      : brs("c1", { status: { target_version: "1.26.0" } });
    return buildFleetReport(
      snapshot({
        shadows: [canary, brs("n1", { status: { target_version: "1.26.0" } })],
        nodes: [k8sNode("c1", { labels: CANARY }), k8sNode("n1")],
        policy: policy({
          maxConcurrentUpdates: 3,
          canary: { selector: { matchLabels: CANARY }, soak: "30m" },
          maxVersion: "1.27.0",
        }),
      }),
      NOW,
    );
  }

  it("shows the group and each version's phase, the pin, and why the others wait", () => {
    const pending = renderStatus(fleet(false), { wide: false, style: plain });
    expect(pending).toContain(
      "Canary    1 node (example.com/canary=true), soak 30m: 1.26.0 Pending (canaries updating)",
    );
    expect(pending).toContain("Pin       no node is started past 1.27.0 (spec.maxVersion)");
    expect(pending.split("\n").find((l) => l.startsWith("n1"))).toMatch(/canary-pending \(1\.26\.0\)$/);

    const soaking = fleet(true);
    const text = renderStatus(soaking, { wide: false, style: plain });
    expect(text).toMatch(/Canary {4}1 node \(example.com\/canary=true\), soak 30m: 1\.26\.0 Soaking until /);
    expect(text.split("\n").find((l) => l.startsWith("n1"))).toMatch(/soaking \(1\.26\.0, ends in 20m\)$/);
    const view = statusView(soaking);
    expect(view.canary?.rollouts).toEqual([
      expect.objectContaining({ version: "1.26.0", phase: "Soaking", soakEndsAt: expect.any(String) as string }),
    ]);
    expect(view.nodes.find((n) => n.node === "n1")?.reason).toMatchObject({ code: "soaking", version: "1.26.0" });
  });
});

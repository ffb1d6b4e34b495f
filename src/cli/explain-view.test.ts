import type { CoreV1Event } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { explainNode, renderExplanation, timeline } from "./explain-view.ts";
import { buildFleetReport } from "./fleet-report.ts";
import { plain } from "./render.ts";
import { NOW, brs, k8sNode, minutesBefore, policy, snapshot } from "../../test/support/cli-fixtures.ts";

function event(reason: string, message: string, minutesAgo: number, kind = "BottlerocketShadow"): CoreV1Event {
  return {
    metadata: { name: `${reason}.1` },
    involvedObject: { kind, name: kind === "Node" ? "n1" : "brs-n1" },
    reason,
    message,
    type: reason === "UpdateFailed" ? "Warning" : "Normal",
    // client-node turns date-time fields into Dates.
    lastTimestamp: new Date(minutesBefore(minutesAgo)),
  };
}

const failed = brs("n1", {
  spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(3) },
  status: {
    target_version: "1.26.0",
    crash_count: 3,
    state_transition_failure_timestamp: minutesBefore(4),
    failure_reason: "prepare-update: repository unreachable",
  },
  annotations: { "brupop.bottlerocket.aws/spec-reason": "agent failed while moving to StagedAndPerformedUpdate" },
});

describe("timeline", () => {
  it("merges the shadow's timestamps and the Events, oldest first", () => {
    const entries = timeline(failed, [
      event("UpdateFailed", "agent failed", 3),
      event("UpdateStarted", "updating from 1.25.0 to 1.26.0", 10),
      event("BackingOff", "update not started", 1, "Node"),
    ]);
    expect(entries.map((e) => e.what)).toEqual([
      "UpdateStarted on shadow: updating from 1.25.0 to 1.26.0",
      "agent reported a failure (crash count 3): [the failure reason]",
      "controller set spec Idle: agent failed while moving to StagedAndPerformedUpdate",
      "UpdateFailed on shadow: agent failed",
      "BackingOff on node: update not started",
    ]);
    expect(entries.filter((e) => e.warning)).toHaveLength(2);
  });

  it("one entry for an Event recorded on both the shadow and the Node", () => {
    const entries = timeline(null, [
      event("UpdateStarted", "updating", 2),
      event("UpdateStarted", "updating", 2, "Node"),
    ]);
    expect(entries.map((e) => e.what)).toEqual(["UpdateStarted on shadow and node: updating"]);
  });
});

describe("explain shows a failure's text once", () => {
  const reason =
    "prepare failed (exit 1): Starting update to 1.26.0\nFailed writing update data to disk: No space left";
  const shadow = brs("n1", {
    spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
    status: {
      target_version: "1.26.0",
      crash_count: 2,
      state_transition_failure_timestamp: minutesBefore(1),
      failure_reason: reason,
    },
    annotations: {
      "brupop.bottlerocket.aws/spec-reason": `agent failed while moving to StagedAndPerformedUpdate (crash count 2): ${reason}; back to Idle`,
    },
  });
  const failedEvents = [2, 8].flatMap((minutesAgo) =>
    ["BottlerocketShadow", "Node"].map((kind) =>
      event("UpdateFailed", `agent failed (crash count 1): ${reason}; back to Idle`, minutesAgo, kind),
    ),
  );

  it("in the details, in its column; elsewhere referred to", () => {
    const explanation = explainNode({
      nodeName: "n1",
      namespace: "ns",
      now: NOW,
      node: k8sNode("n1"),
      shadow,
      report: buildFleetReport(snapshot({ shadows: [shadow], nodes: [k8sNode("n1")] }), NOW),
      events: failedEvents,
      agentPods: [],
    });
    const text = renderExplanation(explanation, { style: plain, now: NOW });
    expect(text.split("No space left").length - 1).toBe(1);
    expect(text).toContain(
      "  Failure reason: prepare failed (exit 1): Starting update to 1.26.0\n                  Failed writing update data",
    );
    expect(text).toContain(
      "Spec reason:    agent failed while moving to StagedAndPerformedUpdate (crash count 2): [the failure reason]; back to Idle",
    );
    expect(text).toMatch(/UpdateFailed on shadow and node: agent failed \(crash count 1\): \[the failure reason\]/);
  });
});

describe("explainNode", () => {
  it("explains a backing-off node with its failures, failure reason and history", () => {
    const report = buildFleetReport(snapshot({ shadows: [failed], nodes: [k8sNode("n1")] }), NOW);
    const explanation = explainNode({
      nodeName: "n1",
      namespace: "brupop-bottlerocket-aws",
      now: NOW,
      node: k8sNode("n1"),
      shadow: failed,
      report,
      events: [event("UpdateFailed", "agent failed", 3)],
      agentPods: [],
    });
    expect(explanation.reason.code).toBe("backoff");
    expect(explanation.advice.why).toMatch(/^backing off after 3 failures until 2024-06-03T10:05:00Z \(in 5m\)\./);
    const facts = Object.fromEntries(explanation.facts);
    expect(facts).toMatchObject({
      Shadow: "brupop-bottlerocket-aws/brs-n1",
      State: "Idle",
      Version: "1.25.0 (host's chosen update: 1.26.0)",
      Failures: "3 crashes",
      "Failure reason": "prepare-update: repository unreachable",
      "Agent pod": "none on this node",
    });
    const text = renderExplanation(explanation, { style: plain, now: NOW });
    expect(text).toMatch(/^Node n1: backing off after 3 failures/);
    expect(text).toContain("Next step:\n  - wait; it retries by itself");
    expect(text).toMatch(/History:\n\s+TIME\s+AGE\s+WHAT\n/);
    expect(text).toMatch(/2024-06-03T09:57:00Z\s+3m\s+UpdateFailed on shadow: agent failed/);
  });

  it("names the health gate that failed, the rollback under way, and counts the failure", () => {
    const rollingBack = brs("n1", {
      spec: { state: "StagedAndPerformedUpdate", version: "1.25.0", state_transition_timestamp: minutesBefore(1) },
      status: {
        current_version: "1.26.0",
        target_version: "1.26.0",
        current_state: "MonitoringUpdate",
        conditions: [
          {
            type: "UpdateHealthy",
            status: "False",
            reason: "GateFailed",
            message: "health gate daemonset-pods failed after the update to 1.26.0: not passed within 10m: …",
            lastTransitionTime: minutesBefore(1),
          },
        ],
      },
      annotations: {
        "brupop.bottlerocket.aws/gate-failures": "1",
        "brupop.bottlerocket.aws/last-gate-failure": minutesBefore(1),
        "brupop.bottlerocket.aws/rollback-to": "1.25.0",
      },
    });
    const explanation = explainNode({
      nodeName: "n1",
      namespace: "ns",
      now: NOW,
      node: k8sNode("n1"),
      shadow: rollingBack,
      report: buildFleetReport(snapshot({ shadows: [rollingBack], nodes: [k8sNode("n1")] }), NOW),
      events: [],
      agentPods: [],
    });
    expect(Object.fromEntries(explanation.facts)).toMatchObject({
      Failures: "0 crashes, 1 failed health gate",
      "Health gates":
        "GateFailed: health gate daemonset-pods failed after the update to 1.26.0: not passed within 10m: …",
      "Rolling back to": "1.25.0",
    });
    expect(explanation.timeline.map((e) => e.what)).toContain("controller recorded a failed health gate");
  });

  it("shows the hooks' outcome and counts a failed blocking hook", () => {
    const failed = brs("n1", {
      spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
      status: { target_version: "1.26.0", current_state: "StagedAndPerformedUpdate" },
      annotations: {
        "brupop.bottlerocket.aws/hook-failures": "1",
        "brupop.bottlerocket.aws/last-hook-failure": minutesBefore(1),
        "brupop.bottlerocket.aws/hooks": JSON.stringify({
          preDrain: {
            since: minutesBefore(2),
            version: "1.26.0",
            hooks: { db: { state: "failed", calls: 3, failures: 3, at: minutesBefore(1), message: "HTTP 500" } },
          },
        }),
      },
    });
    const explanation = explainNode({
      nodeName: "n1",
      namespace: "ns",
      now: NOW,
      node: k8sNode("n1"),
      shadow: failed,
      report: buildFleetReport(snapshot({ shadows: [failed], nodes: [k8sNode("n1")] }), NOW),
      events: [],
      agentPods: [],
    });
    const facts = Object.fromEntries(explanation.facts);
    expect(facts.Failures).toBe("0 crashes, 1 failed hook");
    expect(facts["Pre-drain hooks"]).toMatch(/^update to 1\.26\.0: db failed at .*, 3 calls: HTTP 500$/);
    expect(explanation.timeline.map((e) => e.what)).toContain("controller recorded a failed blocking hook");
  });

  it("shows the node's group under each topology budget, and why its zone holds it", () => {
    const ZONE = "topology.kubernetes.io/zone";
    const inZone = (name: string) => k8sNode(name, { labels: { [ZONE]: "us-east-1a" } });
    const busy = brs("n2", {
      spec: { state: "StagedAndPerformedUpdate", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
      status: { target_version: "1.26.0" },
    });
    const waiting = brs("n1", { status: { target_version: "1.26.0" } });
    const report = buildFleetReport(
      snapshot({
        shadows: [waiting, busy],
        nodes: [inZone("n1"), inZone("n2")],
        policy: policy({ maxConcurrentUpdates: 2, topologyBudgets: [{ topologyKey: ZONE, maxConcurrentUpdates: 1 }] }),
      }),
      NOW,
    );
    const explanation = explainNode({
      nodeName: "n1",
      namespace: "ns",
      now: NOW,
      node: inZone("n1"),
      shadow: waiting,
      report,
      events: [],
      agentPods: undefined,
    });
    expect(explanation.reason).toMatchObject({ code: "topology-budget-full", value: "us-east-1a" });
    expect(Object.fromEntries(explanation.facts)).toMatchObject({
      Topology: `${ZONE}=us-east-1a: 1 of 1 updating (budget 1)`,
    });
    expect(renderExplanation(explanation, { style: plain, now: NOW })).toMatch(
      /^Node n1: the topology budget of topology\.kubernetes\.io\/zone is full/,
    );
  });

  it("says a waiting node waits because the rollout halted itself, names the failed nodes, why, and how to resume", () => {
    const failed = (node: string, minutes: number) =>
      brs(node, {
        spec: { state: "Idle", version: "1.26.0", state_transition_timestamp: minutesBefore(minutes) },
        status: {
          target_version: "1.26.0",
          crash_count: 1,
          state_transition_failure_timestamp: minutesBefore(minutes),
        },
      });
    const waiting = brs("n3", { status: { target_version: "1.26.0" } });
    const report = buildFleetReport(
      snapshot({
        shadows: [failed("n1", 2), failed("n2", 1), waiting],
        nodes: [k8sNode("n1"), k8sNode("n2"), k8sNode("n3")],
        policy: policy({ maxConcurrentUpdates: 3, maxFailedNodes: 1 }),
      }),
      NOW,
    );
    const explanation = explainNode({
      nodeName: "n3",
      namespace: "ns",
      now: NOW,
      node: k8sNode("n3"),
      shadow: waiting,
      report,
      events: [],
      agentPods: undefined,
    });
    expect(explanation.reason.code).toBe("halted");
    expect(explanation.advice.why).toBe(
      "the rollout halted itself: 2 nodes failed updating to 1.26.0, more than the policy's spec.maxFailedNodes " +
        "allows (1): n1: crashed; n2: crashed. No new update starts until someone resumes.",
    );
    expect(explanation.advice.next).toEqual([
      "find out why they failed: brupop explain n1 -n ns",
      "then resume (failures from before it no longer count): brupop resume -n ns",
    ]);
  });

  it("explains an unlabelled node that has no shadow", () => {
    const node = k8sNode("n9", { labelled: false });
    const explanation = explainNode({
      nodeName: "n9",
      namespace: "ns",
      now: NOW,
      node,
      shadow: null,
      report: buildFleetReport(snapshot(), NOW),
      events: [],
      agentPods: undefined,
    });
    expect(explanation.reason.code).toBe("not-managed");
    expect(explanation.advice.next[0]).toBe(
      "label it: kubectl label node n9 bottlerocket.aws/updater-interface-version=2.0.0",
    );
    expect(Object.fromEntries(explanation.facts)).toMatchObject({
      Label: "not labelled bottlerocket.aws/updater-interface-version",
      Shadow: "none",
    });
    expect(renderExplanation(explanation, { style: plain, now: NOW })).toContain("(no recorded transitions or Events");
  });
});

import type { CoreV1Event } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { explainNode, renderExplanation, timeline } from "./explain-view.ts";
import { buildFleetReport } from "./fleet-report.ts";
import { plain } from "./render.ts";
import { NOW, brs, k8sNode, minutesBefore, snapshot } from "../../test/support/cli-fixtures.ts";

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
      "agent reported a failure (crash count 3): prepare-update: repository unreachable",
      "controller set spec Idle: agent failed while moving to StagedAndPerformedUpdate",
      "UpdateFailed on shadow: agent failed",
      "BackingOff on node: update not started",
    ]);
    expect(entries.filter((e) => e.warning)).toHaveLength(2);
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

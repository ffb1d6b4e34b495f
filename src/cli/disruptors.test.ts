// brupop status and brupop explain for nodes left alone for other disruptors: one Karpenter is disrupting (its
// taint), one younger than the policy's minNodeAge.
import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { validateUpdatePolicyStatus } from "../api/update-policy.ts";
import { explainNode, renderExplanation } from "./explain-view.ts";
import { buildFleetReport } from "./fleet-report.ts";
import { plain } from "./render.ts";
import { renderStatus, statusView } from "./status-view.ts";
import { NOW, brs, k8sNode, minutesBefore, policy, snapshot } from "../../test/support/cli-fixtures.ts";

const wants = (node: string) => brs(node, { status: { target_version: "1.26.0" } });
const tainted: V1Node = {
  ...k8sNode("k1"),
  spec: { taints: [{ key: "karpenter.sh/disrupted", effect: "NoSchedule" }] },
};
/** Created 10 minutes ago; client-node's typed API gives a Date. */
const young: V1Node = {
  ...k8sNode("y1"),
  metadata: { ...k8sNode("y1").metadata, creationTimestamp: new Date(minutesBefore(10)) },
};

function report() {
  return buildFleetReport(
    snapshot({
      shadows: [wants("k1"), wants("y1"), wants("n1")],
      nodes: [tainted, young, k8sNode("n1")],
      policy: policy({ maxConcurrentUpdates: 3, minNodeAge: "1h" }),
    }),
    NOW,
  );
}

describe("nodes left alone for other disruptors, in brupop status", () => {
  it("says why in the WHY column, with when a young node becomes eligible", () => {
    const lines = renderStatus(report(), { wide: false, style: plain }).split("\n");
    expect(lines.find((l) => l.startsWith("k1"))).toMatch(/karpenter-disrupting$/);
    expect(lines.find((l) => l.startsWith("y1"))).toMatch(/node-too-young \(eligible in 50m\)$/);
    expect(lines.find((l) => l.startsWith("n1"))).toMatch(/starting/);
  });

  it("puts the code and the eligible time in the document and the policy status", () => {
    const r = report();
    const nodes = statusView(r).nodes;
    expect(nodes.find((n) => n.node === "k1")?.reason).toEqual({
      code: "karpenter-disrupting",
      message: "Karpenter is disrupting node k1 (taint karpenter.sh/disrupted)",
    });
    expect(nodes.find((n) => n.node === "y1")?.reason).toMatchObject({
      code: "node-too-young",
      eligibleAt: "2024-06-03T10:50:00+00:00",
    });
    expect(r.summary.blocked).toEqual({ "karpenter-disrupting": 1, "node-too-young": 1 });
    expect(validateUpdatePolicyStatus(r.summary).ok).toBe(true);
  });
});

describe("brupop explain", () => {
  const explain = (node: V1Node) =>
    explainNode({
      nodeName: node.metadata?.name ?? "",
      namespace: "ns",
      now: NOW,
      node,
      shadow: wants(node.metadata?.name ?? ""),
      report: report(),
      events: [],
      agentPods: undefined,
    });

  it("a node Karpenter is disrupting: it starts only if Karpenter gives up", () => {
    const text = renderExplanation(explain(tainted), { style: plain, now: NOW });
    expect(text).toMatch(/^Node k1: Karpenter is taking this node away \(taint karpenter\.sh\/disrupted\)/);
  });

  it("a young node: when it may start, and how to lower the minimum", () => {
    const text = renderExplanation(explain(young), { style: plain, now: NOW });
    expect(text).toContain(
      "younger than the policy's minimum node age (spec.minNodeAge); it may start from 2024-06-03T10:50:00Z (in 50m)",
    );
    expect(text).toContain(`'{"spec":{"minNodeAge":"0s"}}'`);
  });
});

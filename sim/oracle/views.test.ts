import { describe, expect, test } from "vitest";
import type { CoreV1Event, V1Node } from "@kubernetes/client-node";
import { nodeView, operatorEventView, osVersion, selects, shadowReason } from "./views.ts";

describe("nodeView", () => {
  test("who cordoned: the most recent managedFields entry that owns spec.unschedulable", () => {
    const node: V1Node = {
      metadata: {
        name: "n1",
        managedFields: [
          {
            manager: "kwok",
            operation: "Update",
            time: new Date("2025-01-01T00:00:00Z"),
            fieldsV1: { "f:status": {} },
          },
          {
            manager: "kubectl-cordon",
            operation: "Update",
            time: new Date("2025-01-01T00:00:01Z"),
            fieldsV1: { "f:spec": { "f:unschedulable": {} } },
          },
          {
            manager: "kubernetes-client-javascript",
            operation: "Update",
            time: new Date("2025-01-01T00:00:05Z"),
            fieldsV1: { "f:spec": { "f:unschedulable": {} } },
          },
        ],
      },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: "Ready", status: "Unknown" }],
        nodeInfo: { osImage: "Bottlerocket OS 1.26.0 (aws-k8s-1.35)" } as never,
      },
    };
    expect(nodeView(node)).toMatchObject({
      name: "n1",
      unschedulable: true,
      cordonManager: "kubernetes-client-javascript",
      ready: false,
      osVersion: "1.26.0",
    });
  });

  test("osVersion reads only Bottlerocket images", () => {
    expect(osVersion("Bottlerocket OS 1.25.0 (aws-k8s-1.35)")).toBe("1.25.0");
    expect(osVersion("Ubuntu 24.04")).toBeUndefined();
    expect(osVersion(undefined)).toBeUndefined();
  });
});

describe("selects", () => {
  test("matchLabels and every matchExpressions operator", () => {
    const selector = {
      matchLabels: { app: "web" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["a", "b"] },
        { key: "canary", operator: "DoesNotExist", values: [] },
      ],
    };
    expect(selects(selector, { app: "web", tier: "a" })).toBe(true);
    expect(selects(selector, { app: "web", tier: "c" })).toBe(false);
    expect(selects(selector, { app: "web", tier: "a", canary: "1" })).toBe(false);
    expect(selects({ matchLabels: {}, matchExpressions: [{ key: "x", operator: "Bogus", values: [] }] }, {})).toBe(
      false,
    );
  });
});

describe("operatorEventView", () => {
  const base: CoreV1Event = {
    metadata: {},
    involvedObject: { kind: "BottlerocketShadow", name: "brs-n1" },
    reason: "UpdateFailed",
    type: "Warning",
    reportingComponent: "brupop.bottlerocket.aws/controller",
    lastTimestamp: new Date("2025-01-01T00:00:07Z"),
  };

  test("the operator's Events about a shadow or a Node name the node", () => {
    expect(operatorEventView(base)).toMatchObject({ node: "n1", type: "Warning", reason: "UpdateFailed" });
    expect(operatorEventView({ ...base, involvedObject: { kind: "Node", name: "n2" } })?.node).toBe("n2");
    expect(operatorEventView(base)?.at).toBe(Date.parse("2025-01-01T00:00:07Z"));
  });

  test("anyone else's Events, or Events about other objects, are not the operator's", () => {
    expect(operatorEventView({ ...base, reportingComponent: "kubelet", source: { component: "kubelet" } })).toBe(
      undefined,
    );
    expect(operatorEventView({ ...base, involvedObject: { kind: "Pod", name: "brupop-agent-x" } })).toBe(undefined);
  });
});

describe("shadowReason", () => {
  test("the spec-reason annotation, else the failure reason, else a true condition's message", () => {
    expect(shadowReason({ metadata: { annotations: { "brupop.bottlerocket.aws/spec-reason": "drain" } } })).toBe(
      "drain",
    );
    expect(shadowReason({ metadata: {}, status: { failure_reason: "prepare failed" } })).toBe("prepare failed");
    expect(
      shadowReason({ status: { conditions: [{ type: "Stuck", status: "True", reason: "BootHung", message: "" }] } }),
    ).toBe("Stuck: BootHung");
    expect(shadowReason({ status: { failure_reason: " ", conditions: [{ type: "Stuck", status: "False" }] } })).toBe(
      undefined,
    );
  });
});

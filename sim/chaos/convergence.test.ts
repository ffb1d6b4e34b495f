import { describe, expect, it } from "vitest";
import type { BottlerocketShadow } from "../../src/api/index.ts";
import { convergenceProblems, type NodeObservation } from "./convergence.ts";

const image = "Bottlerocket OS 1.26.0 (aws-k8s-1.35)";

function shadow(
  spec: string,
  status: { state: string; version: string; crashes?: number; reason?: string } | null,
): BottlerocketShadow {
  return {
    apiVersion: "brupop.bottlerocket.aws/v2",
    kind: "BottlerocketShadow",
    metadata: { name: "brs-n1", namespace: "brupop-bottlerocket-aws" },
    spec: { state: spec },
    status:
      status === null
        ? undefined
        : {
            current_version: status.version,
            target_version: "1.26.0",
            current_state: status.state,
            crash_count: status.crashes ?? 0,
            ...(status.reason ? { failure_reason: status.reason } : {}),
          },
  } as unknown as BottlerocketShadow;
}

const good: NodeObservation = {
  node: "n1",
  shadow: shadow("Idle", { state: "Idle", version: "1.26.0" }),
  nodeObject: { unschedulable: false, osImage: image },
  host: { runningVersion: "1.26.0", up: true },
};

describe("convergenceProblems", () => {
  it("finds none on a node Idle at the new version, uncordoned, its host up", () => {
    expect(convergenceProblems(good, "1.26.0", image)).toEqual([]);
  });

  it("names each problem", () => {
    expect(
      convergenceProblems(
        {
          node: "n1",
          shadow: shadow("StagedAndPerformedUpdate", { state: "Idle", version: "1.25.0", crashes: 2, reason: "boom" }),
          nodeObject: { unschedulable: true, osImage: "Bottlerocket OS 1.25.0 (aws-k8s-1.35)" },
          host: { runningVersion: "1.25.0", up: false },
        },
        "1.26.0",
        image,
      ),
    ).toEqual([
      "spec is StagedAndPerformedUpdate",
      "reports 1.25.0, not 1.26.0",
      "2 failure(s), last: boom",
      "left cordoned",
      'Node shows "Bottlerocket OS 1.25.0 (aws-k8s-1.35)"',
      "its host is down",
      "its host runs 1.25.0",
    ]);
  });

  it("reports missing objects", () => {
    expect(convergenceProblems({ ...good, shadow: undefined }, "1.26.0", image)).toEqual([
      "its BottlerocketShadow is missing",
    ]);
    expect(convergenceProblems({ ...good, shadow: shadow("Idle", null) }, "1.26.0", image)).toEqual([
      "its shadow has no status",
    ]);
    expect(convergenceProblems({ ...good, nodeObject: undefined, host: undefined }, "1.26.0", image)).toEqual([
      "its Node is missing",
      "no simulated host",
    ]);
  });
});

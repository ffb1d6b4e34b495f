// Wire-form builders for the colocated tests of src/cli (BottlerocketShadow and Node as the API server returns them).
// Not used by production code.
import type { V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow, BottlerocketShadowStatus } from "../../src/api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyResourceSpec } from "../../src/api/update-policy.ts";
import type { FleetSnapshot } from "../../src/cli/fleet.ts";

/** A Monday, 10:00 UTC. */
export const NOW = new Date("2024-06-03T10:00:00.000Z");

export const minutesBefore = (minutes: number, from: Date = NOW): string =>
  new Date(from.getTime() - minutes * 60_000).toISOString();

export function brs(
  node: string,
  options: {
    spec?: Partial<BottlerocketShadow["spec"]>;
    status?: Partial<BottlerocketShadowStatus> | null;
    annotations?: Record<string, string>;
  } = {},
): BottlerocketShadow {
  return {
    apiVersion: "brupop.bottlerocket.aws/v2",
    kind: "BottlerocketShadow",
    metadata: {
      name: `brs-${node}`,
      namespace: "brupop-bottlerocket-aws",
      annotations: options.annotations ?? {},
      ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: `uid-${node}` }],
    },
    spec: { state: "Idle", version: null, state_transition_timestamp: null, ...options.spec },
    status:
      options.status === null
        ? null
        : {
            current_version: "1.25.0",
            target_version: "1.25.0",
            current_state: "Idle",
            crash_count: 0,
            state_transition_failure_timestamp: null,
            ...options.status,
          },
  };
}

export function k8sNode(
  name: string,
  options: {
    labelled?: boolean;
    annotations?: Record<string, string>;
    unschedulable?: boolean;
    osImage?: string;
    /** Further labels (a zone). */
    labels?: Record<string, string>;
  } = {},
): V1Node {
  return {
    metadata: {
      name,
      labels: {
        ...(options.labelled === false ? {} : { "bottlerocket.aws/updater-interface-version": "2.0.0" }),
        ...options.labels,
      },
      annotations: options.annotations ?? {},
    },
    spec: { unschedulable: options.unschedulable ?? false },
    status: {
      nodeInfo: {
        osImage: options.osImage ?? "Bottlerocket OS 1.25.0 (aws-k8s-1.30)",
      } as NonNullable<V1Node["status"]>["nodeInfo"],
    },
  };
}

export function policy(spec: UpdatePolicyResourceSpec, windowOpen?: boolean): BottlerocketUpdatePolicy {
  return {
    apiVersion: "brupop.bottlerocket.aws/v1alpha1",
    kind: "BottlerocketUpdatePolicy",
    metadata: { name: "default" },
    spec,
    ...(windowOpen === undefined
      ? {}
      : {
          status: {
            paused: false,
            managedNodes: 0,
            updating: 0,
            budget: "1",
            nodesByState: {},
            window: { open: windowOpen, message: "" },
          },
        }),
  };
}

export function snapshot(parts: Partial<FleetSnapshot> = {}): FleetSnapshot {
  return {
    namespace: "brupop-bottlerocket-aws",
    shadows: [],
    nodes: [],
    policy: null,
    controller: { env: {}, found: "deployment" },
    nodeSelector: "bottlerocket.aws/updater-interface-version=2.0.0",
    ...parts,
  };
}

// Simulated Bottlerocket nodes: Node objects that kwok adopts (it plays their kubelets: heartbeats, pods
// Running/Ready, final deletion of evicted pods) and that carry what the operator looks for.
import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { kwokNodeAnnotation } from "../control-plane/control-plane.ts";

export const updaterInterfaceLabel = { key: "bottlerocket.aws/updater-interface-version", value: "2.0.0" } as const;

export interface SimulatedNodeOptions {
  /** Bottlerocket version shown in status.nodeInfo.osImage. */
  readonly osVersion?: string;
  /** Extra labels; the updater-interface label is set unless `managed` is false. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Labels per node (its zone), on top of `labels`. */
  readonly labelsOf?: (node: string) => Readonly<Record<string, string>>;
  /** Whether the node carries the operator's updater-interface label (default true). */
  readonly managed?: boolean;
  /**
   * Pod address ranges (10.244.<n>.0/24, n from 1 in the order of `names`), so that kwok gives the node's pods IP
   * addresses and they become endpoints of Services (no node IPAM runs here).
   */
  readonly podCidrs?: boolean;
}

export function bottlerocketOsImage(version: string): string {
  return `Bottlerocket OS ${version} (aws-k8s-1.35)`;
}

/** Creates the nodes and returns once kwok has made them Ready. */
export async function createBottlerocketNodes(
  core: CoreV1Api,
  names: readonly string[],
  options: SimulatedNodeOptions = {},
): Promise<V1Node[]> {
  const nodes = await Promise.all(
    names.map((name, i) =>
      core.createNode({
        body: {
          ...(options.podCidrs
            ? { spec: { podCIDR: `10.244.${i + 1}.0/24`, podCIDRs: [`10.244.${i + 1}.0/24`] } }
            : {}),
          metadata: {
            name,
            labels: {
              "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "simulated",
              ...(options.managed === false ? {} : { [updaterInterfaceLabel.key]: updaterInterfaceLabel.value }),
              ...options.labels,
              ...options.labelsOf?.(name),
            },
            annotations: { [kwokNodeAnnotation.key]: kwokNodeAnnotation.value },
          },
        },
      }),
    ),
  );
  // kwok initialises a node's status once, before it is Ready; set the OS image after that, so it stays.
  await waitForNodesReady(core, names);
  const osImage = bottlerocketOsImage(options.osVersion ?? "1.25.0");
  await Promise.all(names.map((name) => setOsImage(core, name, osImage)));
  return nodes;
}

/** Sets status.nodeInfo.osImage the way a kubelet reports it. */
export async function setOsImage(core: CoreV1Api, name: string, osImage: string): Promise<void> {
  await core.patchNodeStatus({ name, body: [{ op: "add", path: "/status/nodeInfo/osImage", value: osImage }] });
}

/**
 * Waits until every node is Ready (kwok) and schedulable: the node lifecycle controller has lifted the
 * `node.kubernetes.io/not-ready` taint that admission puts on new nodes.
 */
export async function waitForNodesReady(core: CoreV1Api, names: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const node = await core.readNode({ name });
      const ready = node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      const tainted = node.spec?.taints?.some((t) => t.key === "node.kubernetes.io/not-ready");
      if (ready && !tainted) pending.delete(name);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) throw new Error(`nodes not Ready after ${timeoutMs} ms: ${[...pending].join(", ")}`);
    await sleep(100);
  }
}

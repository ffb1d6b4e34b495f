// Workloads for the simulated cluster, so that drains really move pods: Deployments and a StatefulSet spread
// over the nodes, each guarded by a PodDisruptionBudget, like brupop's own integration test (a 3-replica
// StatefulSet, a 5-replica Deployment and a minAvailable PDB) but spread so every node has something to drain.
import { AppsV1Api, CoreV1Api, PolicyV1Api, type KubeConfig, type V1PodTemplateSpec } from "@kubernetes/client-node";

export interface WorkloadOptions {
  readonly namespace: string;
  /** Pods go only to nodes with these labels. */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** Replicas of the web Deployment (default: one per node). */
  readonly webReplicas: number;
  /** Replicas of the StatefulSet (default 3). */
  readonly statefulReplicas?: number;
}

export interface Workload {
  readonly kind: "Deployment" | "StatefulSet";
  readonly name: string;
  readonly replicas: number;
  /** Label selector of its pods. */
  readonly selector: Record<string, string>;
  /** Pods the PodDisruptionBudget keeps available. */
  readonly minAvailable: number;
}

/** Creates the workloads and their PodDisruptionBudgets; returns what was created (none with 0 replicas). */
export async function createWorkloads(kc: KubeConfig, o: WorkloadOptions): Promise<Workload[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const workloads: Workload[] = [
    // At most one web pod may be down at a time: a drain must wait for its replacement to be Ready.
    {
      kind: "Deployment",
      name: "web",
      replicas: o.webReplicas,
      selector: { app: "web" },
      minAvailable: Math.max(1, o.webReplicas - 1),
    },
    {
      kind: "StatefulSet",
      name: "db",
      replicas: o.statefulReplicas ?? 3,
      selector: { app: "db" },
      minAvailable: Math.max(1, (o.statefulReplicas ?? 3) - 1),
    },
  ];
  // A workload asked for with 0 replicas is left out altogether (a test that wants only its own pods to drain).
  const wanted = workloads.filter((w) => w.replicas > 0);
  if (wanted.some((w) => w.name === "db")) {
    await core.createNamespacedService({
      namespace: o.namespace,
      body: { metadata: { name: "db" }, spec: { clusterIP: "None", selector: { app: "db" }, ports: [{ port: 5432 }] } },
    });
  }
  for (const w of wanted) {
    const template = podTemplate(w, o.nodeSelector);
    const metadata = { name: w.name, namespace: o.namespace };
    if (w.kind === "Deployment") {
      await apps.createNamespacedDeployment({
        namespace: o.namespace,
        body: { metadata, spec: { replicas: w.replicas, selector: { matchLabels: w.selector }, template } },
      });
    } else {
      await apps.createNamespacedStatefulSet({
        namespace: o.namespace,
        body: {
          metadata,
          spec: { replicas: w.replicas, serviceName: w.name, selector: { matchLabels: w.selector }, template },
        },
      });
    }
    await policy.createNamespacedPodDisruptionBudget({
      namespace: o.namespace,
      body: { metadata, spec: { minAvailable: w.minAvailable, selector: { matchLabels: w.selector } } },
    });
  }
  return wanted;
}

function podTemplate(w: Workload, nodeSelector: Readonly<Record<string, string>> | undefined): V1PodTemplateSpec {
  return {
    metadata: { labels: w.selector },
    spec: {
      ...(nodeSelector ? { nodeSelector: { ...nodeSelector } } : {}),
      terminationGracePeriodSeconds: 5,
      // Spread over nodes, and treat cordoned nodes as gone, so evicted pods land on the other nodes.
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: "kubernetes.io/hostname",
          whenUnsatisfiable: "ScheduleAnyway",
          nodeTaintsPolicy: "Honor",
          labelSelector: { matchLabels: w.selector },
        },
      ],
      containers: [{ name: w.name, image: w.kind === "Deployment" ? "nginx:1.27" : "postgres:17" }],
    },
  };
}

/** Ready pods of a workload, for availability checks. */
export async function readyPods(kc: KubeConfig, namespace: string, w: Workload): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const selector = Object.entries(w.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
  return pods.items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

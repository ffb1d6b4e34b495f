// Watches a simulated cluster the way a user with `kubectl get -w` would, for display and bookkeeping: the shadows,
// the managed Nodes, the workload pods and the operator's Events, with the operator's own view of who is "out of
// Idle" (shadows), how low each workload's Ready count went, and which pods the drains evicted.
//
// It judges nothing: the invariants are the oracle's (sim/oracle), which decides from what really happened to the
// nodes, pods and hosts, never from the shadows or the operator's definitions.
import { kubeClientOf } from "./kube-client.ts";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  CustomObjectsApi,
  type CoreV1Event,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import {
  API_GROUP,
  LABEL_UPDATER_INTERFACE_VERSION,
  PLURAL,
  UPDATER_INTERFACE_VERSION,
  VERSION_V2,
  type BottlerocketShadow,
} from "../../src/api/index.ts";
import { SupervisedInformer } from "../../src/kube/informer.ts";
import { shadowInformer } from "../../src/kube/shadow-informer.ts";
import type { SimulatedCluster } from "./simulated-cluster.ts";
import type { Workload } from "./workloads.ts";

export interface FleetObserverOptions {
  readonly kc: KubeConfig;
  /** The operator's namespace (shadows, Events). */
  readonly namespace: string;
  readonly workloadNamespace?: string;
  readonly workloads?: readonly Workload[];
  /** Called after every observed change. */
  readonly onChange?: (what: "shadow" | "node" | "pod" | "event") => void;
}

type Shadow = BottlerocketShadow;

/** What a FleetObserver of a simulated cluster needs from it. */
export type ObservedCluster = Pick<SimulatedCluster, "kc" | "namespace" | "workloadNamespace" | "workloads">;

/** A FleetObserver of a simulated cluster: its operator namespace, and the workloads its drains move. */
export function observeCluster(
  cluster: ObservedCluster,
  o: Pick<FleetObserverOptions, "onChange"> = {},
): FleetObserver {
  return new FleetObserver({
    kc: cluster.kc,
    namespace: cluster.namespace,
    workloadNamespace: cluster.workloadNamespace,
    workloads: cluster.workloads,
    ...o,
  });
}

/** The operator's own view of a node in an update (shadow spec or status out of Idle): for display only. */
export function occupiesBudget(s: Shadow): boolean {
  return s.spec.state !== "Idle" || (s.status != null && s.status.current_state !== "Idle");
}

export class FleetObserver {
  /** Most shadows out of Idle seen at once (the operator's view; the oracle counts what is really disrupted). */
  maxOutOfIdle = 0;
  /** Changes checked, per stream. */
  readonly checks = { shadow: 0, node: 0, pod: 0 };
  /** Workload pods that were deleted (evicted: nothing else deletes them here), by uid. */
  readonly evictedPods = new Set<string>();
  /** Lowest Ready count seen per workload once armed. */
  readonly minReady = new Map<string, number>();
  readonly #o: FleetObserverOptions;
  readonly #shadows: SupervisedInformer<Shadow>;
  readonly #nodes: SupervisedInformer<V1Node>;
  readonly #pods: SupervisedInformer<V1Pod> | undefined;
  readonly #events: SupervisedInformer<CoreV1Event>;
  readonly #armed = new Set<string>();

  constructor(options: FleetObserverOptions) {
    this.#o = options;
    const ns = options.namespace;
    this.#shadows = shadowInformer(kubeClientOf(options.kc), ns, {
      name: "observer shadows",
      onChange: () => this.#onShadow(),
    });
    const nodeSelector = `${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
    this.#nodes = new SupervisedInformer<V1Node>({
      name: "observer nodes",
      client: kubeClientOf(options.kc),
      path: "/api/v1/nodes",
      labelSelector: nodeSelector,
      onChange: () => this.#onNode(),
    });
    const wns = options.workloadNamespace;
    this.#pods =
      wns === undefined || !options.workloads?.length
        ? undefined
        : new SupervisedInformer<V1Pod>({
            name: "observer pods",
            client: kubeClientOf(options.kc),
            path: `/api/v1/namespaces/${wns}/pods`,
            onChange: (_kind, pod) => this.#onPod(pod),
          });
    this.#events = new SupervisedInformer<CoreV1Event>({
      name: "observer events",
      client: kubeClientOf(options.kc),
      path: `/api/v1/namespaces/${ns}/events`,
      onChange: () => this.#o.onChange?.("event"),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.#shadows.start(), this.#nodes.start(), this.#pods?.start(), this.#events.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.#shadows.stop(), this.#nodes.stop(), this.#pods?.stop(), this.#events.stop()]);
  }

  shadows(): Shadow[] {
    return [...this.#shadows.list(this.#o.namespace)].sort((a, b) =>
      (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "", undefined, { numeric: true }),
    );
  }

  nodes(): readonly V1Node[] {
    return this.#nodes.list();
  }

  node(name: string): V1Node | undefined {
    return this.#nodes.get(name);
  }

  /**
   * Resolves once this observer has seen the Nodes and shadows as the API server holds them now (same
   * resourceVersions as a fresh LIST): only then does what it recorded (minReady, maxOutOfIdle) speak for the run.
   */
  async settled(timeoutMs = 30_000): Promise<void> {
    const core = this.#o.kc.makeApiClient(CoreV1Api);
    const custom = this.#o.kc.makeApiClient(CustomObjectsApi);
    const selector = `${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
    const rv = (o: { metadata?: { name?: string; resourceVersion?: string } }) =>
      `${o.metadata?.name ?? ""}@${o.metadata?.resourceVersion ?? ""}`;
    const same = (a: string[], b: string[]) => a.sort().join() === b.sort().join();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nodes = (await core.listNode({ labelSelector: selector })).items.map(rv);
      const shadows = (
        (await custom.listNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION_V2,
          namespace: this.#o.namespace,
          plural: PLURAL,
        })) as { items: Shadow[] }
      ).items.map(rv);
      if (same(nodes, this.#nodes.list().map(rv)) && same(shadows, this.shadows().map(rv))) return;
      if (Date.now() > deadline) throw new Error(`observer behind the API server after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** The operator's Events, oldest first. */
  events(): CoreV1Event[] {
    const time = (e: CoreV1Event) =>
      new Date(e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? 0).getTime();
    return [...this.#events.list(this.#o.namespace)].sort((a, b) => time(a) - time(b));
  }

  /** The workload namespace's pods as watched. */
  pods(): readonly V1Pod[] {
    return this.#pods?.list(this.#o.workloadNamespace) ?? [];
  }

  /** Ready, non-terminating pods of a workload right now. */
  ready(w: Workload): number {
    if (!this.#pods || this.#o.workloadNamespace === undefined) return 0;
    return this.#pods.list(this.#o.workloadNamespace).filter((p) => matches(p, w) && isReady(p)).length;
  }

  #onShadow(): void {
    this.checks.shadow++;
    this.maxOutOfIdle = Math.max(this.maxOutOfIdle, this.shadows().filter(occupiesBudget).length);
    this.#o.onChange?.("shadow");
  }

  #onNode(): void {
    this.checks.node++;
    this.#o.onChange?.("node");
  }

  #onPod(pod: V1Pod): void {
    this.checks.pod++;
    if (pod.metadata?.deletionTimestamp && pod.metadata.uid) this.evictedPods.add(pod.metadata.uid);
    for (const w of this.#o.workloads ?? []) {
      if (!matches(pod, w)) continue;
      const ready = this.ready(w);
      if (!this.#armed.has(w.name)) {
        if (ready >= w.replicas) this.#armed.add(w.name);
        else continue;
      }
      this.minReady.set(w.name, Math.min(this.minReady.get(w.name) ?? ready, ready));
    }
    this.#o.onChange?.("pod");
  }
}

export function nodeOf(s: Shadow): string {
  return s.metadata.ownerReferences?.[0]?.name ?? (s.metadata.name ?? "").replace(/^brs-/, "");
}

function matches(pod: V1Pod, w: Workload): boolean {
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(w.selector).every(([k, v]) => labels[k] === v);
}

function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true
  );
}

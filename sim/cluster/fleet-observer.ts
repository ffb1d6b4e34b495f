// Watches a simulated cluster the way a user with `kubectl get -w` would, and checks the operator's invariants on
// EVERY observed change (not only at the end): shadows, managed Nodes, workload pods and the operator's Events.
//
// - Budget: never more shadows out of Idle (spec or status, src/core's occupiesBudget) than the budget. One watch
//   stream, delivered in order, so the check is exact at every event.
// - No node cordoned without a visible reason: a cordoned node has a shadow out of Idle. Nodes and shadows come on
//   two streams, which may be delivered a few milliseconds apart (the agent uncordons, then reports Idle; the second
//   can arrive first). A suspected violation is therefore confirmed only if it still holds, on the same objects, after
//   `confirmMs`; that filters stream skew, not a node left cordoned.
// - Workloads never below their PodDisruptionBudget's minAvailable once they were first fully Ready.
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
  /** Budget to check; undefined: unlimited (only recorded). */
  readonly budget?: number;
  readonly workloadNamespace?: string;
  readonly workloads?: readonly Workload[];
  /** Called after every observed change (already checked). */
  readonly onChange?: (what: "shadow" | "node" | "pod" | "event") => void;
  readonly confirmMs?: number;
}

export interface Violation {
  readonly at: number;
  readonly kind: "budget" | "cordoned-without-reason" | "workload-below-min";
  readonly message: string;
}

type Shadow = BottlerocketShadow;

/** What a FleetObserver of a simulated cluster needs from it. */
export type ObservedCluster = Pick<SimulatedCluster, "kc" | "namespace" | "workloadNamespace" | "workloads">;

/** A FleetObserver of a simulated cluster: its operator namespace, and the workloads its drains move. */
export function observeCluster(
  cluster: ObservedCluster,
  o: Pick<FleetObserverOptions, "budget" | "onChange" | "confirmMs">,
): FleetObserver {
  return new FleetObserver({
    kc: cluster.kc,
    namespace: cluster.namespace,
    workloadNamespace: cluster.workloadNamespace,
    workloads: cluster.workloads,
    ...o,
  });
}

export function occupiesBudget(s: Shadow): boolean {
  return s.spec.state !== "Idle" || (s.status != null && s.status.current_state !== "Idle");
}

export class FleetObserver {
  readonly violations: Violation[] = [];
  /** Most shadows out of Idle seen at once. */
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
  readonly #suspects = new Map<string, NodeJS.Timeout>();

  constructor(options: FleetObserverOptions) {
    this.#o = options;
    const core = options.kc.makeApiClient(CoreV1Api);
    const ns = options.namespace;
    this.#shadows = shadowInformer(options.kc, ns, {
      name: "observer shadows",
      onChange: () => this.#onShadow(),
    });
    const nodeSelector = `${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
    this.#nodes = new SupervisedInformer<V1Node>({
      name: "observer nodes",
      kc: options.kc,
      path: "/api/v1/nodes",
      labelSelector: nodeSelector,
      list: () => core.listNode({ labelSelector: nodeSelector }),
      onChange: () => this.#onNode(),
    });
    const wns = options.workloadNamespace;
    this.#pods =
      wns === undefined || !options.workloads?.length
        ? undefined
        : new SupervisedInformer<V1Pod>({
            name: "observer pods",
            kc: options.kc,
            path: `/api/v1/namespaces/${wns}/pods`,
            list: () => core.listNamespacedPod({ namespace: wns }),
            onChange: (_kind, pod) => this.#onPod(pod),
          });
    this.#events = new SupervisedInformer<CoreV1Event>({
      name: "observer events",
      kc: options.kc,
      path: `/api/v1/namespaces/${ns}/events`,
      list: () => core.listNamespacedEvent({ namespace: ns }),
      onChange: () => this.#o.onChange?.("event"),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.#shadows.start(), this.#nodes.start(), this.#pods?.start(), this.#events.start()]);
  }

  async stop(): Promise<void> {
    for (const t of this.#suspects.values()) clearTimeout(t);
    this.#suspects.clear();
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
   * resourceVersions as a fresh LIST) and every suspected cordon has left its confirmation window (confirmed as a
   * violation, or cleared): only then do the violations recorded so far speak for the whole run.
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
      const caughtUp = same(nodes, this.#nodes.list().map(rv)) && same(shadows, this.shadows().map(rv));
      if (caughtUp && this.#suspects.size === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `observer not settled after ${timeoutMs} ms: ${caughtUp ? "caught up" : "behind the API server"}, ` +
            `${this.#suspects.size} cordon(s) awaiting confirmation`,
        );
      }
      await sleep(100);
    }
  }

  /** The operator's Events, oldest first. */
  events(): CoreV1Event[] {
    const time = (e: CoreV1Event) =>
      new Date(e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? 0).getTime();
    return [...this.#events.list(this.#o.namespace)].sort((a, b) => time(a) - time(b));
  }

  /** Ready, non-terminating pods of a workload right now. */
  ready(w: Workload): number {
    if (!this.#pods || this.#o.workloadNamespace === undefined) return 0;
    return this.#pods.list(this.#o.workloadNamespace).filter((p) => matches(p, w) && isReady(p)).length;
  }

  #violate(kind: Violation["kind"], message: string): void {
    this.violations.push({ at: Date.now(), kind, message });
  }

  #onShadow(): void {
    this.checks.shadow++;
    const out = this.shadows().filter(occupiesBudget);
    this.maxOutOfIdle = Math.max(this.maxOutOfIdle, out.length);
    const budget = this.#o.budget;
    if (budget !== undefined && out.length > budget) {
      this.#violate(
        "budget",
        `${out.length} shadows out of Idle (budget ${budget}): ${out.map((s) => s.metadata.name).join(", ")}`,
      );
    }
    this.#checkCordons();
    this.#o.onChange?.("shadow");
  }

  #onNode(): void {
    this.checks.node++;
    this.#checkCordons();
    this.#o.onChange?.("node");
  }

  #checkCordons(): void {
    const byNode = new Map(this.shadows().map((s) => [nodeOf(s), s]));
    for (const node of this.#nodes.list()) {
      const name = node.metadata?.name ?? "";
      const shadow = byNode.get(name);
      const suspect = node.spec?.unschedulable === true && (shadow === undefined || !occupiesBudget(shadow));
      const pending = this.#suspects.get(name);
      if (!suspect) {
        if (pending) clearTimeout(pending);
        this.#suspects.delete(name);
        continue;
      }
      if (pending) continue;
      const seen = `${node.metadata?.resourceVersion ?? ""}/${shadow?.metadata.resourceVersion ?? ""}`;
      const timer = setTimeout(() => {
        this.#suspects.delete(name);
        const n = this.#nodes.get(name);
        const s = this.shadows().find((x) => nodeOf(x) === name);
        const still = n?.spec?.unschedulable === true && (s === undefined || !occupiesBudget(s));
        if (still && `${n.metadata?.resourceVersion ?? ""}/${s?.metadata.resourceVersion ?? ""}` === seen) {
          this.#violate(
            "cordoned-without-reason",
            `${name} cordoned while its shadow is ${s ? `Idle (spec ${s.spec.state}, status ${s.status?.current_state ?? "none"})` : "missing"}`,
          );
        }
      }, this.#o.confirmMs ?? 1_000);
      timer.unref();
      this.#suspects.set(name, timer);
    }
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
      if (ready < w.minAvailable) {
        this.#violate("workload-below-min", `${w.name}: ${ready} Ready, below minAvailable ${w.minAvailable}`);
      }
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

// The oracle's eyes: watches of every Node, every pod, every PodDisruptionBudget and the operator's Events, a watch of
// the BottlerocketShadows (only for the reason they show), and the simulated hosts' effects, heard the instant they
// happen. Everything seen goes to the pure InvariantOracle with the time it was seen (history.ts: one observation at a
// time, the way a recorded history is replayed).
//
// At the instant a host accepts a reboot, the pods the cache shows bound to its node are noted; the node's pods are
// then read again with a consistent LIST, and only pods in both count (drain-scope.ts), so that I1 never reports a
// cache that merely lagged.
//
// The watches are @kubernetes/client-node's own informers, restarted here when they stop on an error: the oracle does
// not use the operator's informer code (src/kube), so a bug there cannot blind it too.
import {
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  PolicyV1Api,
  type CoreV1Event,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Node,
  type V1Pod,
  type V1PodDisruptionBudget,
} from "@kubernetes/client-node";
import type { SimulatedHost } from "../host/simulated-host.ts";
import type { HostEffect } from "../host/host-state.ts";
import { InvariantOracle, type NodeOutcome, type OracleOptions, type Violation } from "./invariants.ts";
import { replay, type Observation } from "./history.ts";

export interface OracleObserverOptions {
  readonly kc: KubeConfig;
  /** Where the operator's BottlerocketShadows live. */
  readonly namespace: string;
  /** The simulated host of each node. */
  readonly hosts: ReadonlyMap<string, SimulatedHost>;
  readonly oracle: Omit<OracleOptions, "startedAt">;
  /** Called at every violation, as it is found. */
  readonly onViolation?: (v: Violation) => void;
  readonly log?: (line: string) => void;
  /** How often the bounds in time are checked (default 1 s). */
  readonly tickMs?: number;
}

type Watched<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

interface WatchEntry {
  readonly name: string;
  readonly informer: Watched<KubernetesObject>;
  /** A fresh LIST of what the informer watches. */
  readonly list: () => Promise<KubernetesListObject<KubernetesObject>>;
  restart?: NodeJS.Timeout;
}

/** The watches a verdict depends on being current: who is cordoned or Ready, and what the operator showed. */
const CAUGHT_UP = new Set(["nodes", "shadows", "events"]);

const SHADOWS = { group: "brupop.bottlerocket.aws", version: "v2", plural: "bottlerocketshadows" } as const;

export class OracleObserver {
  readonly oracle: InvariantOracle;
  readonly #o: OracleObserverOptions;
  readonly #core: CoreV1Api;
  readonly #informers: WatchEntry[] = [];
  readonly #pods: Watched<V1Pod>;
  readonly #pendingRebootChecks = new Set<Promise<void>>();
  readonly #unsubscribe: (() => void)[] = [];
  #ticker: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: OracleObserverOptions) {
    this.#o = options;
    this.oracle = new InvariantOracle({ ...options.oracle, startedAt: Date.now() }, options.onViolation);
    const kc = options.kc;
    const core = (this.#core = kc.makeApiClient(CoreV1Api));
    const policy = kc.makeApiClient(PolicyV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const now = () => Date.now();
    const see = (observation: Observation) => replay(this.oracle, observation);

    const nodes = this.#watch<V1Node>("nodes", "/api/v1/nodes", () => core.listNode());
    nodes.on("add", (object) => see({ at: now(), kind: "node", object }));
    nodes.on("update", (object) => see({ at: now(), kind: "node", object }));
    nodes.on("delete", (n) => see({ at: now(), kind: "node-deleted", name: n.metadata?.name ?? "" }));

    this.#pods = this.#watch<V1Pod>("pods", "/api/v1/pods", () => core.listPodForAllNamespaces());
    this.#pods.on("add", (object) => see({ at: now(), kind: "pod", object }));
    this.#pods.on("update", (object) => see({ at: now(), kind: "pod", object }));
    this.#pods.on("delete", (p) => see({ at: now(), kind: "pod-deleted", uid: p.metadata?.uid ?? "" }));

    const pdbs = this.#watch<V1PodDisruptionBudget>("pdbs", "/apis/policy/v1/poddisruptionbudgets", () =>
      policy.listPodDisruptionBudgetForAllNamespaces(),
    );
    pdbs.on("add", (object) => see({ at: now(), kind: "pdb", object }));
    pdbs.on("update", (object) => see({ at: now(), kind: "pdb", object }));
    pdbs.on("delete", (p) =>
      see({ at: now(), kind: "pdb-deleted", namespace: p.metadata?.namespace ?? "", name: p.metadata?.name ?? "" }),
    );

    const events = this.#watch<CoreV1Event>("events", "/api/v1/events", () => core.listEventForAllNamespaces());
    events.on("add", (object) => see({ at: now(), kind: "event", object }));
    events.on("update", (object) => see({ at: now(), kind: "event", object }));

    const ns = options.namespace;
    const shadows = this.#watch<KubernetesObject>(
      "shadows",
      `/apis/${SHADOWS.group}/${SHADOWS.version}/namespaces/${ns}/${SHADOWS.plural}`,
      () =>
        custom.listNamespacedCustomObject({ ...SHADOWS, namespace: ns }) as Promise<
          KubernetesListObject<KubernetesObject>
        >,
    );
    const shadowNode = (s: KubernetesObject) =>
      s.metadata?.ownerReferences?.find((r) => r.kind === "Node")?.name ??
      (s.metadata?.name ?? "").replace(/^brs-/, "");
    shadows.on("add", (object) => see({ at: now(), kind: "shadow", node: shadowNode(object), object }));
    shadows.on("update", (object) => see({ at: now(), kind: "shadow", node: shadowNode(object), object }));
    shadows.on("delete", (s) => see({ at: now(), kind: "shadow", node: shadowNode(s), object: undefined }));

    for (const [node, host] of options.hosts) {
      see({ at: now(), kind: "host-initially", node, up: host.apiUp, version: host.runningVersion });
      this.#unsubscribe.push(host.onEffect((effect) => this.#onHostEffect(node, effect)));
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.#informers.map(({ informer }) => informer.start()));
    this.#ticker = setInterval(() => replay(this.oracle, { at: Date.now(), kind: "tick" }), this.#o.tickMs ?? 1_000);
    this.#ticker.unref();
  }

  /** The new version was offered to the hosts: every node now owes it (I4). */
  published(version: string): void {
    replay(this.oracle, { at: Date.now(), kind: "publish", version });
  }

  /** Waits for the reboot checks still reading pods (I1), so that a report made now includes them. */
  async settled(): Promise<void> {
    while (this.#pendingRebootChecks.size > 0) await Promise.allSettled([...this.#pendingRebootChecks]);
  }

  /**
   * Whether the watches of Nodes, shadows and Events have caught up with the API server: each holds the same
   * objects at the same resourceVersions as a fresh LIST, at some moment within `timeoutMs`.
   */
  async caughtUp(timeoutMs = 30_000): Promise<boolean> {
    const key = (o: KubernetesObject) =>
      `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}@${o.metadata?.resourceVersion ?? ""}`;
    const same = (a: readonly KubernetesObject[], b: readonly KubernetesObject[]) =>
      a.map(key).sort().join() === b.map(key).sort().join();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const watched = this.#informers.filter(({ name }) => CAUGHT_UP.has(name));
      const fresh = await Promise.all(
        watched.map(async ({ informer, list }) => ({ informer, list: await list().catch(() => undefined) })),
      );
      if (fresh.every(({ informer, list }) => list !== undefined && same(informer.list(), list.items))) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The end of a run: each node's outcome (once the watches caught up); a lost or stranded node is an I4 violation. */
  async finish(): Promise<NodeOutcome[]> {
    await this.caughtUp();
    await this.settled();
    return this.oracle.finish(Date.now());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#ticker);
    for (const off of this.#unsubscribe) off();
    for (const i of this.#informers) clearTimeout(i.restart);
    await Promise.allSettled(this.#informers.map(({ informer }) => informer.stop()));
    await this.settled();
  }

  #watch<T extends KubernetesObject>(
    name: string,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
  ): Watched<T> {
    const informer = makeInformer<T>(this.#o.kc, path, list);
    const entry: WatchEntry = { name, informer, list };
    // client-node's informer stops for good on an error; start it again (the re-list reconciles the cache).
    informer.on("error", (err: unknown) => {
      if (this.#stopped) return;
      this.#o.log?.(`oracle: ${name} watch failed (${err instanceof Error ? err.message : String(err)}); restarting`);
      entry.restart = setTimeout(() => {
        if (!this.#stopped) informer.start().catch(() => undefined);
      }, 1_000);
    });
    this.#informers.push(entry);
    return informer;
  }

  #onHostEffect(node: string, effect: HostEffect): void {
    // The pods the cache shows bound at the instant of the reboot, before anything else is heard.
    const cached =
      effect.type === "reboot-requested" ? this.#pods.list().filter((p) => p.spec?.nodeName === node) : undefined;
    replay(this.oracle, { at: effect.at, kind: "host", node, effect });
    if (cached) this.#checkReboot(node, effect.at, cached);
  }

  #checkReboot(node: string, at: number, cached: readonly V1Pod[]): void {
    const check = (async () => {
      let lastError: unknown;
      for (let attempt = 0; attempt < 10; attempt++) {
        try {
          const listed = await this.#core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
          replay(this.oracle, { at, kind: "reboot-checked", node, cached, listed: listed.items });
          return;
        } catch (err) {
          lastError = err;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
      this.oracle.rebootUnchecked(at, node, lastError instanceof Error ? lastError.message : String(lastError));
    })();
    this.#pendingRebootChecks.add(check);
    void check.finally(() => this.#pendingRebootChecks.delete(check));
  }
}

/** What an OracleObserver of a simulated cluster needs from it. */
export interface OracleSubject {
  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly hosts: ReadonlyMap<string, SimulatedHost>;
}

/** An OracleObserver of a simulated cluster (not started). */
export function observeWithOracle(
  cluster: OracleSubject,
  oracle: Omit<OracleOptions, "startedAt">,
  o: Pick<OracleObserverOptions, "onViolation" | "log" | "tickMs"> = {},
): OracleObserver {
  return new OracleObserver({ kc: cluster.kc, namespace: cluster.namespace, hosts: cluster.hosts, oracle, ...o });
}

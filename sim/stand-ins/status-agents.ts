// In-process stand-ins for the agent DaemonSet: each follows the status protocol of one node by writing its
// BottlerocketShadow's status directly with the admin client (the real agent goes through the API server).
// - start(): creates brs-<node> owned by the Node (as the API server does for a real agent) and reports Idle with
//   target > current;
// - whenever spec.state differs from status.current_state, after a random short delay it reports
//   current_state = spec.state; reaching RebootedIntoUpdate it "runs" spec.version; going from MonitoringUpdate to
//   Idle it resets the crash count (docs/design/state-machine.md#crash-backoff);
// - behaviour "stuck" never moves past Idle; { failAt } reports ErrorReset (crash_count + 1) when asked for that
//   state, once.
import { kubeClientOf } from "../cluster/kube-client.ts";
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type KubeConfig,
} from "@kubernetes/client-node";
import { API_GROUP, API_VERSION_V2, KIND, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import type { BottlerocketShadow, BottlerocketShadowStatus } from "../../src/api/bottlerocket-shadow.ts";
import type { BrsState } from "../../src/api/state-machine.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import { SupervisedInformer } from "../../src/kube/informer.ts";
import { shadowInformer, type ShadowObject } from "../../src/kube/shadow-informer.ts";
import { bottlerocketShadowCrd } from "../../src/api/crd.ts";
import { updatePolicyCrd } from "../../src/api/update-policy.ts";
import type { CustomResourceDefinition } from "../../src/api/k8s-types.ts";

export type AgentBehaviour = "normal" | "stuck" | { failAt: BrsState };

export interface SimulatedAgentOptions {
  kc: KubeConfig;
  core: CoreV1Api;
  namespace: string;
  nodeName: string;
  currentVersion: string;
  targetVersion: string;
  /** Delay before each step is reported, in ms: a fixed number or [min, max] (uniform). Default [20, 200]. */
  stepDelayMs?: number | readonly [number, number];
  behaviour?: AgentBehaviour;
}

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export class SimulatedAgent {
  readonly nodeName: string;
  readonly shadowName: string;
  readonly #o: SimulatedAgentOptions;
  readonly #api: CustomObjectsApi;
  readonly #informer: SupervisedInformer<ShadowObject>;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = false;
  #failed = false;
  /** Every state this agent reported, in order. */
  readonly reported: BrsState[] = [];

  constructor(options: SimulatedAgentOptions) {
    this.#o = options;
    this.nodeName = options.nodeName;
    this.shadowName = brsName(options.nodeName);
    this.#api = options.kc.makeApiClient(CustomObjectsApi);
    const field = `metadata.name=${this.shadowName}`;
    const ns = options.namespace;
    this.#informer = shadowInformer(kubeClientOf(options.kc), ns, {
      name: `agent-${options.nodeName}`,
      fieldSelector: field,
      onChange: () => this.#schedule(),
    });
  }

  async start(): Promise<void> {
    const node = await this.#o.core.readNode({ name: this.nodeName });
    try {
      await this.#api.createNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.#o.namespace,
        plural: PLURAL,
        body: {
          apiVersion: API_VERSION_V2,
          kind: KIND,
          metadata: {
            name: this.shadowName,
            ownerReferences: [{ apiVersion: "v1", kind: "Node", name: this.nodeName, uid: node.metadata?.uid ?? "" }],
          },
          spec: { state: "Idle", state_transition_timestamp: null, version: null },
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    await this.#writeStatus({
      current_version: this.#o.currentVersion,
      target_version: this.#o.targetVersion,
      current_state: "Idle",
      crash_count: 0,
      state_transition_failure_timestamp: null,
    });
    await this.#informer.start();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }

  shadow(): BottlerocketShadow | undefined {
    return this.#informer.get(this.shadowName, this.#o.namespace);
  }

  #delay(): number {
    const d = this.#o.stepDelayMs ?? [20, 200];
    return typeof d === "number" ? d : d[0] + Math.random() * (d[1] - d[0]);
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined || this.#busy) return;
    const shadow = this.shadow();
    if (shadow?.status == null || shadow.spec.state === shadow.status.current_state) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#busy = true;
      this.#step()
        .catch(() => undefined) // a failed write is retried on the next event or below
        .finally(() => {
          this.#busy = false;
          this.#schedule();
        });
    }, this.#delay());
  }

  async #step(): Promise<void> {
    const shadow = this.shadow();
    const status = shadow?.status;
    if (this.#stopped || shadow === undefined || status == null) return;
    const wanted = shadow.spec.state;
    if (wanted === status.current_state) return;
    const behaviour = this.#o.behaviour ?? "normal";
    if (behaviour === "stuck" && wanted !== "Idle") return;
    if (typeof behaviour === "object" && behaviour.failAt === wanted && !this.#failed) {
      this.#failed = true;
      await this.#writeStatus({
        ...status,
        current_state: "ErrorReset",
        crash_count: status.crash_count + 1,
        state_transition_failure_timestamp: formatTimestamp(new Date()),
      });
      return;
    }
    const next: BottlerocketShadowStatus = { ...status, current_state: wanted };
    if (wanted === "RebootedIntoUpdate" && shadow.spec.version != null) next.current_version = shadow.spec.version;
    if (wanted === "Idle" && status.current_state === "MonitoringUpdate") {
      next.crash_count = 0;
      next.state_transition_failure_timestamp = null;
    }
    await this.#writeStatus(next);
  }

  async #writeStatus(status: BottlerocketShadowStatus): Promise<void> {
    this.reported.push(status.current_state);
    await this.#api.patchNamespacedCustomObjectStatus(
      {
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.#o.namespace,
        plural: PLURAL,
        name: this.shadowName,
        body: { status },
      },
      MERGE_PATCH,
    );
  }
}

/** Starts one agent per node. */
export async function startAgents(
  names: readonly string[],
  options: Omit<SimulatedAgentOptions, "nodeName" | "behaviour"> & {
    behaviour?: (nodeName: string, index: number) => AgentBehaviour;
  },
): Promise<SimulatedAgent[]> {
  const agents = names.map(
    (nodeName, i) =>
      new SimulatedAgent({ ...options, nodeName, behaviour: options.behaviour?.(nodeName, i) ?? "normal" }),
  );
  await Promise.all(agents.map((agent) => agent.start()));
  return agents;
}

// ---- Observing the fleet (what the tests assert on) ----

/** Whether a shadow counts against the budget: not Idle on either side (as src/core's occupiesBudget). */
export function isActive(shadow: BottlerocketShadow): boolean {
  return shadow.spec.state !== "Idle" || (shadow.status != null && shadow.status.current_state !== "Idle");
}

export interface ObservedStart {
  shadow: string;
  /** When the watch delivered the spec change to StagedAndPerformedUpdate. */
  at: number;
  /** When the controller decided it: the spec's state_transition_timestamp, as written (null if it wrote none). */
  decidedAt: string | null;
}

/**
 * Watches every shadow of a namespace and checks the budget on EVERY observed change (watch events of one resource
 * arrive in resourceVersion order, so each cache state is a real state of the cluster). Also records starts and the
 * latency from an agent reaching spec.state to the controller's next spec write, as seen by this watch.
 */
export class ShadowTimeline {
  maxActive = 0;
  readonly violations: string[] = [];
  readonly starts: ObservedStart[] = [];
  /** ms from "status reached spec.state" to "spec moved on", per step. */
  readonly stepLatencies: number[] = [];
  /** The same latencies by the state the status reached. */
  readonly stepLatenciesByState = new Map<BrsState, number[]>();
  readonly #informer: SupervisedInformer<ShadowObject>;
  readonly #reachedAt = new Map<string, { at: number; state: BrsState }>();
  readonly #lastSpec = new Map<string, string>();
  #budget: number;

  constructor(kc: KubeConfig, namespace: string, budget: number) {
    this.#budget = budget;
    this.#informer = shadowInformer(kubeClientOf(kc), namespace, {
      name: "observer",
      onChange: (_kind, shadow) => this.#check(shadow),
    });
  }

  /** Forgets the latencies, the largest count in flight and the violations seen so far (a new rollout). */
  resetLatencies(): void {
    this.stepLatencies.length = 0;
    this.stepLatenciesByState.clear();
    this.violations.length = 0;
    this.maxActive = 0;
  }

  set budget(value: number) {
    this.#budget = value;
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }

  shadows(): readonly BottlerocketShadow[] {
    return this.#informer.list();
  }

  get(name: string): BottlerocketShadow | undefined {
    return this.#informer.list().find((s) => s.metadata.name === name);
  }

  active(): number {
    return this.#informer.list().filter(isActive).length;
  }

  #check(shadow: BottlerocketShadow): void {
    const now = Date.now();
    const active = this.#informer.list().filter(isActive);
    this.maxActive = Math.max(this.maxActive, active.length);
    if (active.length > this.#budget) {
      this.violations.push(
        `${active.length} > ${this.#budget} active at ${new Date(now).toISOString()}: ` +
          active.map((s) => `${s.metadata.name}(${s.spec.state}/${s.status?.current_state ?? "-"})`).join(", "),
      );
    }
    const name = shadow.metadata.name ?? "";
    const specKey = `${shadow.spec.state}|${shadow.spec.state_transition_timestamp ?? ""}`;
    const previousSpec = this.#lastSpec.get(name);
    if (previousSpec !== undefined && previousSpec !== specKey) {
      if (shadow.spec.state === "StagedAndPerformedUpdate")
        this.starts.push({ shadow: name, at: now, decidedAt: shadow.spec.state_transition_timestamp ?? null });
      const reached = this.#reachedAt.get(name);
      if (reached !== undefined) {
        this.stepLatencies.push(now - reached.at);
        let byState = this.stepLatenciesByState.get(reached.state);
        if (byState === undefined) this.stepLatenciesByState.set(reached.state, (byState = []));
        byState.push(now - reached.at);
      }
      this.#reachedAt.delete(name);
    }
    this.#lastSpec.set(name, specKey);
    const status = shadow.status;
    if (status != null && status.current_state === shadow.spec.state && shadow.spec.state !== "Idle") {
      if (!this.#reachedAt.has(name)) this.#reachedAt.set(name, { at: now, state: shadow.spec.state });
    }
  }
}

/** Median and maximum of a list of numbers (0 when empty). */
export function summarize(values: readonly number[]): { n: number; median: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { n: sorted.length, median: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] ?? 0 };
}

// ---- CRDs ----

const CRDS = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;

/**
 * Installs the BottlerocketShadow CRD (conversion None: no webhook here) and the BottlerocketUpdatePolicy CRD,
 * leaving either alone when another file of this run already did, then waits until both are Established. Sent as
 * plain JSON through CustomObjectsApi (client-node's typed CRD API drops `enum`; see src/api/README.md).
 */
export async function installOperatorCrds(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const crds: CustomResourceDefinition[] = [bottlerocketShadowCrd({ conversion: "none" }), updatePolicyCrd()];
  for (const crd of crds) {
    try {
      await api.createClusterCustomObject({ ...CRDS, body: crd });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  for (const crd of crds) {
    for (let i = 0; ; i++) {
      const stored = (await api.getClusterCustomObject({ ...CRDS, name: crd.metadata.name })) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      if (stored.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (i > 100) throw new Error(`CRD ${crd.metadata.name} not Established after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

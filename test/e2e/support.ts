// Shared by the end-to-end files: start the operator in a simulated cluster with the invariant oracle (sim/oracle)
// checking what really happens on every change, and a FleetObserver for where each node stands; wait for conditions
// with a message that says so, and check convergence at the end. One simulated cluster at a time per file (vitest
// runs e2e files one by one).
import { afterEach, expect } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP } from "../../src/api/constants.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyStatus } from "../../src/api/update-policy.ts";
import { UPDATE_POLICY_NAME, UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../../src/api/update-policy-names.ts";
import { nodeOf, observeCluster, type FleetObserver } from "../../sim/cluster/fleet-observer.ts";
import {
  FAST_AGENT_ENV,
  startSimulatedCluster,
  type SimulatedCluster,
  type SimulatedClusterOptions,
} from "../../sim/cluster/simulated-cluster.ts";
import { bottlerocketOsImage } from "../../sim/cluster/nodes.ts";
import { observeWithOracle, type OracleObserver } from "../../sim/oracle/observer.ts";
import { formatOutcomes, formatVerdict, verdictOf } from "../../sim/oracle/verdict.ts";
import type { TopologyBudgetSpec } from "../../sim/oracle/invariants.ts";

// Timeouts are generous on purpose: besides a loaded machine, Kubernetes itself can hold a drain up for 2 minutes.
// An evicted StatefulSet pod is recorded in its PodDisruptionBudget's status.disruptedPods; when the replacement (same
// name) appears before the disruption controller saw the old one terminating, the entry stays until its 2-minute
// timeout, and the budget refuses the next eviction meanwhile (docs/operations.md, troubleshooting). The simulated
// kubelet takes a second to delete a pod (POD_STOP_MS), which makes that rare here, not impossible.
export const FROM = "1.25.0";
export const TO = "1.26.0";
// Host steps in the sub-second range, but a reboot long enough that the agent really is down for a while.
export const DURATIONS = { prepareMs: 300, shutdownMs: 200, socketLingerMs: 100, rebootMs: 1_000, failedBootMs: 800 };

// The oracle's bounds here: a node cordoned for longer than this must show a reason and an Event (I3); no stretch
// this long without any node making progress while one could (I4). Drains held by a PodDisruptionBudget in
// failures.test.ts last up to 30 s. The do-not-disrupt annotations the operator set must be gone this long after a
// node is back in service (I6): room for a new leader's lease (40 s) or an agent silent until the Idle timeout (2 min).
export const ORACLE_BOUNDS = {
  reasonWithinMs: 20_000,
  stallMs: 150_000,
  doNotDisrupt: { releaseWithinMs: 150_000 },
} as const;

export interface Running {
  /** The cluster; its publish() also tells the oracle which version every node now owes. */
  cluster: SimulatedCluster;
  observer: FleetObserver;
  oracle: OracleObserver;
  budget: number;
}

let running: Running | undefined;

/** Registers the cleanup of whatever a test started; call once at the top of a file. */
export function stopClustersAfterEach(): void {
  afterEach(async () => {
    if (!running) return;
    await running.observer.stop().catch(() => undefined);
    await running.oracle.stop().catch(() => undefined);
    await running.cluster.stop();
    running = undefined;
  });
}

export type StartOptions = SimulatedClusterOptions & {
  budget: number;
  onChange?: () => void;
  /** The oracle's per-label budgets (I2T), when the test sets topology budgets in the policy. */
  topologyBudgets?: readonly TopologyBudgetSpec[];
};

export async function start(options: StartOptions): Promise<Running> {
  const t0 = Date.now();
  const cluster = await startSimulatedCluster({
    nodes: 5,
    fromVersion: FROM,
    profile: "fast",
    durations: DURATIONS,
    log: (line) => {
      if (process.env.E2E_VERBOSE) console.error(`[sim ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
    },
    ...(process.env.E2E_KEEP ? { keepDir: true } : {}),
    ...options,
    env: { ...options.env, agent: { ...FAST_AGENT_ENV, ...options.env?.agent } },
  });
  const observer = observeCluster(cluster, options.onChange ? { onChange: options.onChange } : {});
  const oracle = observeWithOracle(cluster, {
    budget: options.budget,
    ...ORACLE_BOUNDS,
    ...(options.topologyBudgets ? { topologyBudgets: options.topologyBudgets } : {}),
  });
  const published: SimulatedCluster = {
    ...cluster,
    publish(version) {
      cluster.publish(version);
      oracle.published(version);
    },
  };
  running = { cluster: published, observer, oracle, budget: options.budget };
  if (process.env.E2E_KEEP) console.error(`simulated cluster in ${cluster.dir} (kept: E2E_KEEP)`);
  await Promise.all([observer.start(), oracle.start()]);
  // A StatefulSet starts its pods one by one: publish only once every workload is fully Ready, so a budget is not
  // at its limit from the start (a drain would wait, or time out where a test shortens the drain timeout).
  await until("the workloads fully Ready", 120_000, () =>
    cluster.workloads.every((w) => observer.ready(w) >= w.replicas),
  );
  return running;
}

/** The running cluster of the current test (for onChange callbacks). */
export function current(): Running | undefined {
  return running;
}

/** Idle at `version` in spec and status, and not cordoned. */
export function settled(observer: FleetObserver, node: string, version = TO): boolean {
  const s = observer.shadows().find((x) => nodeOf(x) === node);
  return (
    s?.spec.state === "Idle" &&
    s.status?.current_state === "Idle" &&
    s.status.current_version === version &&
    observer.node(node)?.spec?.unschedulable !== true
  );
}

export const updated = (observer: FleetObserver, node: string) => settled(observer, node, TO);

/** Polls `check` until it holds; on timeout, fails with where every node stands and the stuck nodes' logs. */
export async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const logs = running ? await running.cluster.logsAbout(notUpdated(running.observer)) : "";
      throw new Error(`timed out after ${timeoutMs} ms: ${what}\n${fleetSnapshot()}\n${logs}`);
    }
    await sleep(100);
  }
}

function notUpdated(observer: FleetObserver): string[] {
  return observer
    .shadows()
    .map(nodeOf)
    .filter((n) => !updated(observer, n));
}

/** Where each node stands, for a timeout's message: a stuck rollout must say which node and step. */
export function fleetSnapshot(): string {
  if (!running) return "(no cluster)";
  const { observer } = running;
  const lines = observer.shadows().map((s) => {
    const node = nodeOf(s);
    const st = s.status;
    return (
      `  ${node}: spec ${s.spec.state} ${s.spec.version ?? "-"}; status ${st?.current_state ?? "-"} ` +
      `${st?.current_version ?? "-"} -> ${st?.target_version ?? "-"}, crashes ${st?.crash_count ?? 0}` +
      (st?.failure_reason ? `, failure: ${st.failure_reason}` : "") +
      (observer.node(node)?.spec?.unschedulable ? ", cordoned" : "")
    );
  });
  const events = observer
    .events()
    .slice(-15)
    .map((e) => `  event ${e.reason} ${e.involvedObject.name}: ${e.message ?? ""}`);
  return ["fleet:", ...lines, "recent events:", ...events].join("\n");
}

/** Every node at `versionOf(node)`, Idle, uncordoned, with the matching osImage; workloads Ready again. */
export async function expectConverged(
  { cluster, observer }: Running,
  versionOf: (node: string) => string = () => TO,
): Promise<void> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  for (const name of cluster.nodeNames) {
    const node = await core.readNode({ name });
    expect(node.spec?.unschedulable ?? false, `${name} uncordoned`).toBe(false);
    expect(node.status?.nodeInfo?.osImage, name).toBe(bottlerocketOsImage(versionOf(name)));
    expect(cluster.hosts.get(name)?.runningVersion, name).toBe(versionOf(name));
  }
  for (const s of observer.shadows()) {
    const version = versionOf(nodeOf(s));
    expect(s.spec.state, s.metadata.name).toBe("Idle");
    expect(s.status?.current_state, s.metadata.name).toBe("Idle");
    expect(s.status?.current_version, s.metadata.name).toBe(version);
  }
  // Workloads all Ready again (their replacements were scheduled on updated nodes).
  for (const w of cluster.workloads) {
    await until(`${w.name} fully Ready`, 30_000, () => observer.ready(w) >= w.replicas);
  }
}

/**
 * The oracle's invariants held on every observed change, and every node ended updated, or reported stuck and not
 * left cordoned while Ready (I4); the workloads never went below their PodDisruptionBudget's minAvailable. Judged
 * once both observers have seen everything the API server holds now.
 */
export async function expectNoViolations({ cluster, observer, oracle, budget }: Running): Promise<void> {
  await observer.settled();
  expect(await oracle.caughtUp(), "the oracle's watches caught up with the API server").toBe(true);
  const outcomes = await oracle.finish();
  const verdict = verdictOf(oracle.oracle, budget, outcomes);
  const report = [...formatVerdict(verdict), ...formatOutcomes(outcomes)].join("\n");
  expect(verdict.violations, report).toEqual([]);
  expect(verdict.rebootChecks.unchecked, report).toBe(0);
  expect(verdict.passed, report).toBe(true);
  for (const w of cluster.workloads) expect(observer.minReady.get(w.name)).toBeGreaterThanOrEqual(w.minAvailable);
}

/** Events about one node's shadow. */
export function eventsOf(observer: FleetObserver, node: string) {
  return observer.events().filter((e) => e.involvedObject.name === `brs-${node}`);
}

/** The policy status, read from the API server, once `holds` is true of it (bounded: a minute unless told). */
export async function policyStatus(
  kc: KubeConfig,
  namespace: string,
  what: string,
  holds: (status: UpdatePolicyStatus) => boolean,
  timeoutMs = 60_000,
): Promise<UpdatePolicyStatus> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const policy = (await custom.getNamespacedCustomObject({
      group: API_GROUP,
      version: UPDATE_POLICY_VERSION,
      namespace,
      plural: UPDATE_POLICY_PLURAL,
      name: UPDATE_POLICY_NAME,
    })) as BottlerocketUpdatePolicy;
    if (policy.status !== undefined && holds(policy.status)) return policy.status;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}; status ${JSON.stringify(policy.status)}`);
    await sleep(200);
  }
}

/** One sample of a metric in Prometheus's text format (as prom-client writes it: `name{a="x",b="y"} value`). */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of metric `name` in a /metrics text. */
export function metricSamples(text: string, name: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key = "", value = ""] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ labels, value: Number(m[3]) });
  }
  return samples;
}

/**
 * The leading controller's /metrics, as Prometheus scrapes it, once `holds` says so: its gauges follow its fleet
 * passes, so the test waits on the text rather than for a time.
 */
export async function leaderMetrics(
  { cluster }: Running,
  what: string,
  holds: (text: string) => boolean,
  timeoutMs = 60_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await cluster.controllerLeader();
    const url = leader === undefined ? undefined : cluster.controllerMetricsUrl(leader);
    const text =
      url === undefined
        ? ""
        : await fetch(url).then(
            (r) => r.text(),
            () => "",
          );
    if (holds(text)) return text;
    if (Date.now() > deadline) {
      const brupop = text.split("\n").filter((l) => l.startsWith("brupop_") && !l.includes("_bucket"));
      throw new Error(`timed out: ${what}; /metrics of the leader ${leader ?? "(none)"}:\n${brupop.join("\n")}`);
    }
    await sleep(200);
  }
}

// End to end: the operator as shipped (manifest, real agent / API server / controller processes bound to their pods)
// updates a simulated cluster of 5 Bottlerocket nodes. Each rollout runs on its own control plane, so nothing else
// touches the operator's namespace. The invariants are checked by FleetObserver on every observed change of the
// shadows, nodes and workload pods, not only at the end.
import { afterEach, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api } from "@kubernetes/client-node";
import { FleetObserver, nodeOf } from "../../src/sim/cluster/fleet-observer.ts";
import {
  FAST_AGENT_ENV,
  startSimulatedCluster,
  type SimulatedCluster,
  type SimulatedClusterOptions,
} from "../../src/sim/cluster/simulated-cluster.ts";
import { bottlerocketOsImage } from "../../src/sim/cluster/nodes.ts";

const FROM = "1.25.0";
const TO = "1.26.0";
// Host steps in the sub-second range, but a reboot long enough that the agent really is down for a while.
const durations = { prepareMs: 300, shutdownMs: 200, socketLingerMs: 100, rebootMs: 1_000, failedBootMs: 800 };

let running: { cluster: SimulatedCluster; observer: FleetObserver } | undefined;
afterEach(async () => {
  if (!running) return;
  await running.observer.stop().catch(() => undefined);
  await running.cluster.stop();
  running = undefined;
});

async function start(options: SimulatedClusterOptions & { budget: number; onChange?: () => void }) {
  const t0 = Date.now();
  const cluster = await startSimulatedCluster({
    nodes: 5,
    fromVersion: FROM,
    profile: "fast",
    durations,
    env: { agent: FAST_AGENT_ENV },
    log: (line) => {
      if (process.env.E2E_VERBOSE) console.error(`[sim ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
    },
    ...options,
  });
  const observer = new FleetObserver({
    kc: cluster.kc,
    namespace: cluster.namespace,
    budget: options.budget,
    workloadNamespace: cluster.workloadNamespace,
    workloads: cluster.workloads,
    ...(options.onChange ? { onChange: options.onChange } : {}),
  });
  running = { cluster, observer };
  await observer.start();
  return { cluster, observer };
}

function updated(observer: FleetObserver, node: string): boolean {
  const s = observer.shadows().find((x) => nodeOf(x) === node);
  return (
    s?.spec.state === "Idle" &&
    s.status?.current_state === "Idle" &&
    s.status.current_version === TO &&
    observer.node(node)?.spec?.unschedulable !== true
  );
}

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}\n${fleetSnapshot()}`);
    await sleep(100);
  }
}

/** Where each node stands, for a timeout's message: a stuck rollout must say which node and step. */
function fleetSnapshot(): string {
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

async function expectConverged(cluster: SimulatedCluster, observer: FleetObserver): Promise<void> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  for (const name of cluster.nodeNames) {
    const node = await core.readNode({ name });
    expect(node.spec?.unschedulable ?? false, `${name} uncordoned`).toBe(false);
    expect(node.status?.nodeInfo?.osImage).toBe(bottlerocketOsImage(TO));
    expect(cluster.hosts.get(name)?.runningVersion).toBe(TO);
  }
  for (const s of observer.shadows()) {
    expect(s.spec.state, s.metadata.name).toBe("Idle");
    expect(s.status?.current_state, s.metadata.name).toBe("Idle");
    expect(s.status?.current_version, s.metadata.name).toBe(TO);
  }
  // Workloads all Ready again (their replacements were scheduled on updated nodes).
  for (const w of cluster.workloads) {
    await until(`${w.name} fully Ready`, 30_000, () => observer.ready(w) >= w.replicas);
  }
}

describe.each([1, 2])("a rollout of 5 nodes with budget %i", (budget) => {
  it("ends with every node Idle at the new version, uncordoned, workloads Ready; invariants held on every change", async () => {
    const { cluster, observer } = await start({ budget });
    const publishedAt = Date.now();
    cluster.publish(TO);
    await until("every node updated", 240_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    const seconds = (Date.now() - publishedAt) / 1000;
    console.log(
      `budget ${budget}: 5 nodes updated in ${seconds.toFixed(1)} s; at most ${observer.maxOutOfIdle} out of Idle; ` +
        `${observer.evictedPods.size} pods evicted; checked ${observer.checks.shadow} shadow, ${observer.checks.node} ` +
        `node, ${observer.checks.pod} pod changes`,
    );
    await expectConverged(cluster, observer);
    // Give the cordon check its confirmation window for the last changes.
    await sleep(1_500);
    expect(observer.violations).toEqual([]);
    expect(observer.maxOutOfIdle).toBe(budget); // the budget was used, never exceeded
    expect(observer.evictedPods.size).toBeGreaterThan(0); // the drains really moved pods
    for (const w of cluster.workloads) expect(observer.minReady.get(w.name)).toBeGreaterThanOrEqual(w.minAvailable);
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(2); // one reboot each
  }, 360_000);
});

describe("a prepare that fails on one node", () => {
  it("is reported, retried after the crash backoff, and does not hold up the other nodes", async () => {
    // The prepare fault is armed on every host; the first node the controller starts fails, and at that moment the
    // fault is disarmed everywhere else. So the failure comes first, and the other nodes must go on after it.
    const nodeNames = Array.from({ length: 5 }, (_, i) => `bottlerocket-${i + 1}`);
    let failing: string | undefined;
    let failedAt: number | undefined;
    let othersDoneAt: number | undefined;
    const { cluster, observer } = await start({
      budget: 1,
      faults: Object.fromEntries(nodeNames.map((n) => [n, ["prepare"]])),
      onChange: () => {
        if (failing !== undefined || !running) return;
        const s = running.observer
          .shadows()
          .find((x) => x.status?.current_state === "ErrorReset" || (x.status?.crash_count ?? 0) > 0);
        if (!s) return;
        failing = nodeOf(s);
        failedAt = Date.now();
        for (const [name, host] of running.cluster.hosts) if (name !== failing) host.clearFaults();
      },
    });
    cluster.publish(TO);
    await until("the first node's failure, then the other nodes updated", 240_000, () => {
      const others = cluster.nodeNames.filter((n) => n !== failing);
      if (failing !== undefined && othersDoneAt === undefined && others.every((n) => updated(observer, n))) {
        othersDoneAt = Date.now();
      }
      return othersDoneAt !== undefined;
    });
    if (failing === undefined || failedAt === undefined || othersDoneAt === undefined) throw new Error("unreachable");
    const failed = failing;
    expect(othersDoneAt).toBeGreaterThan(failedAt);
    expect(updated(observer, failed)).toBe(false); // still backing off while the others finished
    // brupop's backoff after one failure: retried from failure + 3 minutes (src/core/failures.ts).
    await until(`${failed} retried and updated`, 300_000, () => updated(observer, failed));
    const retriedAfterMs = Date.now() - failedAt;
    console.log(
      `prepare failure on ${failed}: the 4 others done ${((othersDoneAt - failedAt) / 1000).toFixed(1)} s after it; ` +
        `${failed} updated ${(retriedAfterMs / 1000).toFixed(1)} s after it`,
    );
    expect(retriedAfterMs).toBeGreaterThanOrEqual(110_000);
    const reasons = observer
      .events()
      .filter((e) => e.involvedObject.name === `brs-${failed}`)
      .map((e) => e.reason);
    expect(reasons).toContain("UpdateFailed");
    await expectConverged(cluster, observer);
    await sleep(1_500);
    expect(observer.violations).toEqual([]);
  }, 480_000);
});

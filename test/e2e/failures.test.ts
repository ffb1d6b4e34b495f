// End to end, when things go wrong: a host that cannot boot the new version, a PodDisruptionBudget that never allows
// the drain, and the operator's own processes killed mid-rollout. Each rollout ends converged (every node Idle,
// uncordoned, at the version it should run) with the invariants held on every observed change.
import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AppsV1Api, CoreV1Api, PolicyV1Api } from "@kubernetes/client-node";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import type { ComponentName, SimulatedCluster } from "../../sim/cluster/simulated-cluster.ts";
import {
  current,
  eventsOf,
  expectConverged,
  expectNoViolations,
  FROM,
  settled,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";

stopClustersAfterEach();

const NODES = 4;
const TARGET = "bottlerocket-2";
// A single failure quarantines: "reported, not retried forever" without waiting out brupop's minutes of backoff.
const QUARANTINE_AT_ONCE = { QUARANTINE_AFTER_FAILURES: "1" };

const allUpdated = ({ cluster, observer }: Running) => cluster.nodeNames.every((n) => updated(observer, n));
const others = ({ cluster }: Running, node: string) => cluster.nodeNames.filter((n) => n !== node);
const shadowOf = ({ observer }: Running, node: string) => observer.shadows().find((s) => nodeOf(s) === node);

/** SIGKILL a component's process (its container restarts in place, as the kubelet would restart it). */
function kill(cluster: SimulatedCluster, component: ComponentName, pod: string | undefined): void {
  if (pod === undefined || cluster.runners[component].crash(pod) === undefined) {
    throw new Error(`no running ${component} process for pod ${pod ?? "(none)"}`);
  }
}

/** A one-pod Deployment pinned to `node` whose PodDisruptionBudget allows no eviction at all (until released). */
async function pinUnevictablePod(running: Running, node: string): Promise<{ release: () => Promise<void> }> {
  const { cluster, observer } = running;
  const namespace = cluster.workloadNamespace;
  const labels = { app: "pinned" };
  await cluster.kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "pinned", labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            // No toleration of the cordon: a replacement stays Pending until the node is uncordoned, as an
            // ordinary workload's would. (One that tolerates it comes back to the cordoned node after each eviction,
            // and no drain, kubectl's included, can have it gone before the reboot.)
            nodeSelector: { "kubernetes.io/hostname": node },
            containers: [{ name: "app", image: "registry.example/pinned:1" }],
          },
        },
      },
    },
  });
  const policy = cluster.kc.makeApiClient(PolicyV1Api);
  await policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name: "pinned-pdb" }, spec: { maxUnavailable: 0, selector: { matchLabels: labels } } },
  });
  const pinned = { kind: "Deployment", name: "pinned", replicas: 1, selector: labels, minAvailable: 1 } as const;
  await until("the pinned pod Ready", 30_000, () => observer.ready(pinned) === 1);
  return {
    release: async () => {
      await policy.deleteNamespacedPodDisruptionBudget({ name: "pinned-pdb", namespace });
    },
  };
}

/** The running API server pod whose log shows it drained (or draining) `node`; null while none does. */
async function apiServerDraining(cluster: SimulatedCluster, node: string): Promise<string | null> {
  for (const [pod, proc] of cluster.runners.apiserver.processes()) {
    if (!proc?.running()) continue;
    if ((await drainsPlanned(proc.logFile, node)) > 0) return pod;
  }
  return null;
}

/** How many drains of `node` an API server log file shows planned (a restarted container appends to its file). */
async function drainsPlanned(logFile: string, node: string): Promise<number> {
  const lines = (await readFile(logFile, "utf8").catch(() => "")).split("\n");
  return lines.filter((l) => l.includes(`"node":"${node}"`) && l.includes("drain planned")).length;
}

/** Drains of `node` planned so far, per API server log file. */
async function drainsPlannedByFile(cluster: SimulatedCluster, node: string): Promise<Map<string, number>> {
  const files = await cluster.logFiles("apiserver");
  return new Map(await Promise.all(files.map(async (f) => [f, await drainsPlanned(f, node)] as const)));
}

describe("a new version that fails to boot on one node", () => {
  it("is rolled back by the host, reported with the reason, quarantined and not retried; the others update", async () => {
    const running = await start({
      nodes: NODES,
      budget: 1,
      faults: { [TARGET]: [`boot:${TO}`] },
      env: { controller: QUARANTINE_AT_ONCE },
    });
    const { cluster, observer } = running;
    cluster.publish(TO);
    await until("the other nodes updated and the failed node quarantined", 480_000, () => {
      const quarantined = eventsOf(observer, TARGET).some((e) => e.reason === "Quarantined");
      return quarantined && others(running, TARGET).every((n) => updated(observer, n));
    });
    await until(`${TARGET} back in service at ${FROM}`, 60_000, () => settled(observer, TARGET, FROM));

    const status = shadowOf(running, TARGET)?.status;
    expect(status?.crash_count).toBe(1);
    expect(status?.failure_reason).toMatch(
      new RegExp(`${TO.replaceAll(".", "\\.")} failed to boot and the host rolled back`),
    );
    const events = eventsOf(observer, TARGET);
    expect(events.find((e) => e.reason === "UpdateFailed")?.message).toMatch(/rolled back/);
    expect(events.filter((e) => e.reason === "UpdateStarted")).toHaveLength(1); // not retried
    expect(cluster.hosts.get(TARGET)?.runningVersion).toBe(FROM);
    await expectConverged(running, (n) => (n === TARGET ? FROM : TO));
    await expectNoViolations(running);
  }, 720_000);
});

describe("a PodDisruptionBudget that never allows the drain", () => {
  it("times the drain out, names the budget in the failure and an Event, uncordons the node, and goes on", async () => {
    const running = await start({
      nodes: NODES,
      budget: 1,
      // Only the web Deployment besides the pinned pod: with a drain timeout this short, Kubernetes' 2-minute hold
      // on an evicted StatefulSet pod's budget (support.ts) would time other nodes' drains out too.
      workloads: { statefulReplicas: 0 },
      // The API server gives up first, so its answer (naming the blocking pods) is what the agent reports.
      env: {
        controller: QUARANTINE_AT_ONCE,
        apiserver: { DRAIN_TIMEOUT: "15s" },
        agent: { DRAIN_TIMEOUT_SECONDS: "30" },
      },
    });
    const { cluster, observer } = running;
    await pinUnevictablePod(running, TARGET);
    cluster.publish(TO);
    await until("the other nodes updated and the blocked node quarantined", 480_000, () => {
      const quarantined = eventsOf(observer, TARGET).some((e) => e.reason === "Quarantined");
      return quarantined && others(running, TARGET).every((n) => updated(observer, n));
    });
    await until(`${TARGET} uncordoned, Idle at ${FROM}`, 60_000, () => settled(observer, TARGET, FROM));

    expect(shadowOf(running, TARGET)?.status?.failure_reason).toMatch(/pinned-pdb/);
    const failed = eventsOf(observer, TARGET).find((e) => e.reason === "UpdateFailed");
    expect(failed?.message).toMatch(/pinned-pdb/);
    // The host never rebooted: the update was staged, the drain failed, the staged update was deactivated.
    expect(cluster.hosts.get(TARGET)?.bootCount).toBe(1);
    await expectConverged(running, (n) => (n === TARGET ? FROM : TO));
    await expectNoViolations(running);
  }, 720_000);
});

describe("the operator's processes killed mid-rollout", () => {
  it("an agent killed while preparing and another killed while its node is drained: both resume and finish", async () => {
    const killed: string[] = [];
    const running = await start({
      nodes: NODES,
      budget: 1,
      onChange: () => {
        const now = current();
        if (!now || killed.length === 2) return;
        for (const s of now.observer.shadows()) {
          const node = nodeOf(s);
          if (killed.includes(node)) continue;
          const preparing = killed.length === 0 && s.spec.state === "StagedAndPerformedUpdate";
          const draining = killed.length === 1 && now.observer.node(node)?.spec?.unschedulable === true;
          if (!preparing && !draining) continue;
          const pod = now.cluster.runners.agent.podOn(node);
          if (pod === undefined) continue;
          killed.push(node);
          kill(now.cluster, "agent", pod);
          return;
        }
      },
    });
    const { cluster, observer } = running;
    cluster.publish(TO);
    await until("every node updated after two agents were killed", 480_000, () => allUpdated(running));
    expect(killed).toHaveLength(2);
    await expectConverged(running);
    await expectNoViolations(running);
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(2); // one reboot each, none repeated
    expect(observer.maxOutOfIdle).toBe(1);
  }, 720_000);

  it("the controller leader killed mid-rollout: a replica takes over and the budget holds throughout", async () => {
    const running = await start({ nodes: NODES, budget: 1 });
    const { cluster, observer } = running;
    cluster.publish(TO);
    await until("the first node updated and the second in progress", 120_000, () => {
      const busy = observer.shadows().some((s) => s.spec.state !== "Idle");
      return busy && cluster.nodeNames.filter((n) => updated(observer, n)).length >= 1;
    });
    const killedLeader = await cluster.controllerLeader();
    kill(cluster, "controller", killedLeader);
    await until("every node updated after the leader was killed", 480_000, () => allUpdated(running));
    console.log(`controller leader ${killedLeader} killed; leader now ${await cluster.controllerLeader()}`);
    await expectConverged(running);
    await expectNoViolations(running);
    expect(observer.maxOutOfIdle).toBe(1);
  }, 720_000);

  it("the API server replica running a drain killed: the agent has the drain started again and finishes", async () => {
    const running = await start({ nodes: NODES, budget: 1 });
    const { cluster, observer } = running;
    // Hold the target's drain up until the replica running it is dead, so the kill lands during the drain.
    const pinned = await pinUnevictablePod(running, TARGET);
    cluster.publish(TO);
    let replica: string | null = null;
    const deadline = Date.now() + 480_000;
    while (replica === null) {
      if (Date.now() > deadline) throw new Error(`no API server replica ever started draining ${TARGET}`);
      replica = observer.node(TARGET)?.spec?.unschedulable ? await apiServerDraining(cluster, TARGET) : null;
      if (replica === null) await sleep(200);
    }
    const before = await drainsPlannedByFile(cluster, TARGET);
    if (cluster.runners.apiserver.crash(replica) === undefined) {
      // Stopped already: a replica on the node it drains is evicted by its own drain, the same loss. Anything else
      // (a crash) fails the test.
      const pod = await cluster.kc
        .makeApiClient(CoreV1Api)
        .readNamespacedPod({ name: replica, namespace: cluster.namespace })
        .catch(() => undefined);
      if (pod !== undefined && pod.spec?.nodeName !== TARGET && pod.metadata?.deletionTimestamp === undefined) {
        throw new Error(`API server replica ${replica} stopped on its own while draining ${TARGET}`);
      }
    }
    // The agent's next poll reaches a replica that does not know the drain (another one, or the killed one's
    // restarted container), which answers 404, and the agent starts the drain there.
    let takenOverIn: string | undefined;
    const takeoverDeadline = Date.now() + 60_000;
    while (takenOverIn === undefined) {
      if (Date.now() > takeoverDeadline) throw new Error(`no API server replica started the drain of ${TARGET} again`);
      const now = await drainsPlannedByFile(cluster, TARGET);
      takenOverIn = [...now].find(([file, count]) => count > (before.get(file) ?? 0))?.[0];
      if (takenOverIn === undefined) await sleep(200);
    }
    await pinned.release();
    await until("every node updated after the draining replica was killed", 480_000, () => allUpdated(running));
    const by = basename(dirname(takenOverIn)); // the pod's directory: <pod>-<uid prefix>
    console.log(`API server replica ${replica} killed during the drain of ${TARGET}; started again by ${by}`);
    const status = shadowOf(running, TARGET)?.status;
    expect(status?.crash_count ?? 0).toBe(0); // resumed, not failed
    await expectConverged(running);
    await expectNoViolations(running);
  }, 720_000);
});

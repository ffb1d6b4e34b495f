// End to end: health gates after the reboot (docs/design/health-gates.md). A DaemonSet runs a pod on every node; on
// one node that pod stops being Ready once the node reboots into the new version, as a kubelet reports a pod whose
// readiness probe fails on the new OS. That node's built-in gate daemonset-pods fails: the update is reported failed
// naming the gate and the pod, the node goes back to the version it ran before (its host is asked to stage it, and
// reboots into it), and it is quarantined; the other nodes pass their gates and finish. All of it is judged from what
// happened: the hosts' versions and boots, the shadows, the Events, and the oracle watching throughout.
import { describe, expect, it } from "vitest";
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import { BRUPOP, run, userEnv } from "./run-command.ts";
import {
  eventsOf,
  expectConverged,
  expectNoViolations,
  FROM,
  policyStatus,
  settled,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";

stopClustersAfterEach();

const NODES = 3;
const TARGET = "bottlerocket-2";
const GATE_TIMEOUT = "20s";
const PROBE = { app: "node-probe" };

/** A DaemonSet with a pod on every node, Ready once kwok has it Running. */
async function createProbeDaemonSet({ cluster, observer }: Running): Promise<void> {
  await cluster.kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: cluster.workloadNamespace,
    body: {
      metadata: { name: "node-probe" },
      spec: {
        selector: { matchLabels: PROBE },
        template: { metadata: { labels: PROBE }, spec: { containers: [{ name: "probe", image: "probe:1" }] } },
      },
    },
  });
  await until("a Ready node-probe pod on every node", 60_000, () =>
    cluster.nodeNames.every((node) => probePod(observer, node)?.ready === true),
  );
}

function probePod(observer: Running["observer"], node: string): { name: string; ready: boolean } | undefined {
  const pod = observer
    .pods()
    .find((p) => p.spec?.nodeName === node && p.metadata?.labels?.app === PROBE.app && !p.metadata.deletionTimestamp);
  if (pod?.metadata?.name === undefined) return undefined;
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
  return { name: pod.metadata.name, ready };
}

/** Breaks the probe pod of the first node that goes down for its reboot into the new version; resolves its name. */
function breakFirstToReboot(running: Running): Promise<string> {
  return new Promise((resolve, reject) => {
    let broken = false;
    for (const [node, host] of running.cluster.hosts) {
      host.on("api-down", () => {
        const pod = probePod(running.observer, node);
        if (broken || pod === undefined) return;
        broken = true;
        markNotReady(running, pod.name).then(() => resolve(node), reject);
      });
    }
  });
}

/** What the kubelet reports for a pod whose container keeps failing its readiness probe. */
async function markNotReady({ cluster }: Running, name: string): Promise<void> {
  const now = new Date();
  await cluster.kc.makeApiClient(CoreV1Api).patchNamespacedPodStatus(
    {
      name,
      namespace: cluster.workloadNamespace,
      body: {
        status: {
          conditions: [
            { type: "Ready", status: "False", reason: "ContainersNotReady", lastTransitionTime: now },
            { type: "ContainersReady", status: "False", reason: "ContainersNotReady", lastTransitionTime: now },
          ],
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
}

describe("a DaemonSet pod that is not Ready after the reboot into the new version", () => {
  it("fails that node's update naming the gate, rolls it back to its version and quarantines it; the others pass", async () => {
    const running = await start({
      nodes: NODES,
      budget: 1,
      env: { controller: { QUARANTINE_AFTER_FAILURES: "1" } },
    });
    const { cluster, observer } = running;
    await createProbeDaemonSet(running);
    await setUpdatePolicy(cluster.kc, cluster.namespace, { healthGates: { timeout: GATE_TIMEOUT } });

    // The probe pod breaks when the target goes down for its reboot into the new version (after its update started).
    const target = cluster.hosts.get(TARGET);
    if (target === undefined) throw new Error(`no host ${TARGET}`);
    let broken: Promise<void> | undefined;
    target.on("api-down", () => {
      const pod = probePod(observer, TARGET);
      if (broken === undefined && pod !== undefined) broken = markNotReady(running, pod.name);
    });

    cluster.publish(TO);
    await until("the other nodes updated and the target quarantined", 480_000, () => {
      const quarantined = eventsOf(observer, TARGET).some((e) => e.reason === "Quarantined");
      return quarantined && cluster.nodeNames.filter((n) => n !== TARGET).every((n) => updated(observer, n));
    });
    await until(`${TARGET} back in service at ${FROM}`, 60_000, () => settled(observer, TARGET, FROM));
    await broken;

    // The target: reported failed by the gate, with the pod; rolled back by its host to the version it ran.
    const events = eventsOf(observer, TARGET);
    const failed = events.find((e) => e.reason === "HealthGateFailed");
    expect(failed?.type).toBe("Warning");
    expect(failed?.message).toMatch(
      new RegExp(`health gate daemonset-pods failed after the update to ${TO.replaceAll(".", "\\.")}`),
    );
    expect(failed?.message).toMatch(/workloads\/node-probe-\w+ \(DaemonSet node-probe: ContainersNotReady\)/);
    expect(failed?.message).toMatch(new RegExp(`rolling back to ${FROM.replaceAll(".", "\\.")}`));
    expect(events.some((e) => e.reason === "UpdateRolledBack")).toBe(true);
    expect(events.filter((e) => e.reason === "UpdateStarted")).toHaveLength(1); // quarantined: not retried
    expect(target.runningVersion).toBe(FROM);
    expect(target.bootCount).toBe(3); // booted, into the new version, back into the old one
    expect(target.state.disk.settings.versionLock).toBe("latest"); // the rollback's pin was put back
    const shadow = observer.shadows().find((s) => nodeOf(s) === TARGET);
    expect(shadow?.metadata.annotations?.["brupop.bottlerocket.aws/gate-failures"]).toBe("1");
    const condition = shadow?.status?.conditions?.find((c) => c.type === "UpdateHealthy");
    expect(condition).toMatchObject({ status: "False", reason: "GateFailed" });
    expect(condition?.message).toMatch(/daemonset-pods/);

    // The others: their gates passed, they finished at the new version after one reboot each.
    for (const node of cluster.nodeNames.filter((n) => n !== TARGET)) {
      const done = eventsOf(observer, node).find((e) => e.reason === "UpdateSucceeded");
      expect(done?.message, node).toMatch(/health gates passed/);
      const healthy = observer
        .shadows()
        .find((s) => nodeOf(s) === node)
        ?.status?.conditions?.find((c) => c.type === "UpdateHealthy");
      expect(healthy, node).toMatchObject({ status: "True", reason: "GatesPassed" });
      expect(cluster.hosts.get(node)?.bootCount, node).toBe(2);
    }
    await expectConverged(running, (n) => (n === TARGET ? FROM : TO));
    await expectNoViolations(running);
  }, 720_000);
});

describe("a failed health gate and the automatic halt (spec.maxFailedNodes 0)", () => {
  it("halts the rollout at the first failed gate; nothing else starts until brupop resume", async () => {
    const running = await start({ nodes: NODES, budget: 1, env: { controller: { QUARANTINE_AFTER_FAILURES: "1" } } });
    const { cluster, observer, oracle } = running;
    await createProbeDaemonSet(running);
    const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, {
      maxFailedNodes: 0,
      healthGates: { timeout: GATE_TIMEOUT },
    });
    await policyStatus(cluster.kc, cluster.namespace, "the controller applies the policy", (s) => {
      return (s.observedGeneration ?? 0) >= generation && s.halt?.limit === 0;
    });
    const failed = breakFirstToReboot(running);

    cluster.publish(TO);
    const haltedStatus = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "the Halted condition",
      (s) => s.conditions?.some((c) => c.type === "Halted" && c.status === "True") === true,
      300_000,
    );
    const node = await failed;
    expect(haltedStatus.halt).toMatchObject({ failed: 1, failedNodes: [node] });
    // The halt says why: the node and the gate that failed on it, in the condition, the Event and brupop status.
    const why = `${node}: health gate daemonset-pods failed`;
    expect(haltedStatus.conditions?.find((c) => c.type === "Halted")?.message).toContain(why);
    expect(haltedStatus.halt?.lastFailures).toContainEqual(
      expect.objectContaining({ node, reason: "health gate daemonset-pods failed" }),
    );
    await until("the UpdatesHalted Event naming the gate", 30_000, () =>
      observer
        .events()
        .some(
          (e) =>
            e.reason === "UpdatesHalted" &&
            e.involvedObject.kind === "BottlerocketUpdatePolicy" &&
            e.message?.includes(why) === true,
        ),
    );
    const status = await run(BRUPOP, ["status", "-n", cluster.namespace], {
      env: userEnv({ KUBECONFIG: cluster.cp.kubeconfigPath, NO_COLOR: "1" }),
      timeoutMs: 60_000,
    });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout.split("\n")[0]).toMatch(/^HALTED\s/);
    expect(status.stdout.split("\n")[0]).toContain(why);
    // The failure the halt counted is the gate's, named on the node.
    const gateFailed = eventsOf(observer, node).find((e) => e.reason === "HealthGateFailed");
    expect(gateFailed?.message).toMatch(/health gate daemonset-pods failed/);

    // The failed node is rolled back while halted (it was already disrupted); no other node starts.
    const others = cluster.nodeNames.filter((n) => n !== node);
    await until(`${node} rolled back to ${FROM}`, 300_000, () => settled(observer, node, FROM));
    const quiet = await policyStatus(cluster.kc, cluster.namespace, "every other node waits, halted", (s) => {
      return s.updating === 0 && (s.blocked?.halted ?? 0) === others.length;
    });
    expect(quiet.blockedNodes?.filter((b) => b.reason === "halted").map((b) => b.node)).toEqual(others);
    for (const other of others) {
      expect(cluster.hosts.get(other)?.bootCount, other).toBe(1);
      expect(
        eventsOf(observer, other).some((e) => e.reason === "UpdateStarted"),
        other,
      ).toBe(false);
    }
    // Halted on purpose: the oracle holds the fleet to "no update starts" until the resume.
    const hold = { closedFrom: Date.now(), closedUntil: Infinity };
    oracle.oracle.schedule((t) => t < hold.closedFrom || t >= hold.closedUntil);

    hold.closedUntil = Date.now();
    const resumed = await run(BRUPOP, ["resume", "-n", cluster.namespace], {
      env: userEnv({ KUBECONFIG: cluster.cp.kubeconfigPath, NO_COLOR: "1" }),
      timeoutMs: 60_000,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    await until("the other nodes updated", 480_000, () => others.every((n) => updated(observer, n)));
    await expectConverged(running, (n) => (n === node ? FROM : TO));
    await expectNoViolations(running);
  }, 900_000);
});

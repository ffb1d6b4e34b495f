// End to end: a job health gate (docs/design/health-gates.md#the-job-gate). The operator runs as it ships (its
// manifest's RBAC included); after each node's reboot into the new version the controller creates one Job pinned to
// that node, kube-controller-manager's Job controller makes its pod, kwok (the simulated kubelet) runs it to
// Succeeded, and only then does the node's update finish. Judged from what is in the cluster: the Jobs, their pods
// and where they ran, the shadows' UpdateHealthy condition, the Events, and the oracle watching throughout.
//
// A Job that fails is test/integration/health-gates-job.test.ts: kwok runs every Job pod to success, so only a
// node without kubelet lets a test report a pod failed the way a kubelet would.
import { describe, expect, it } from "vitest";
import { BatchV1Api, CoreV1Api } from "@kubernetes/client-node";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import {
  eventsOf,
  expectConverged,
  expectNoViolations,
  policyStatus,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
} from "./support.ts";

stopClustersAfterEach();

describe("a job gate", () => {
  it("runs one Job on each node after its reboot; each update finishes once its Job completed", async () => {
    const running = await start({ nodes: 2, budget: 1 });
    const { cluster, observer } = running;
    const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, {
      healthGates: { gates: [{ name: "smoke", timeout: "5m", job: { image: "check:1", command: ["/check"] } }] },
    });
    await policyStatus(cluster.kc, cluster.namespace, "the controller applies the policy", (s) => {
      return (s.observedGeneration ?? 0) >= generation;
    });

    cluster.publish(TO);
    await until("every node updated", 480_000, () => cluster.nodeNames.every((n) => updated(observer, n)));

    const jobs = (
      await cluster.kc.makeApiClient(BatchV1Api).listNamespacedJob({
        namespace: cluster.namespace,
        labelSelector: "brupop.bottlerocket.aws/gate=smoke",
      })
    ).items;
    const core = cluster.kc.makeApiClient(CoreV1Api);
    for (const node of cluster.nodeNames) {
      const shadow = observer.shadows().find((s) => nodeOf(s) === node);
      const ofNode = jobs.filter((j) => j.metadata?.annotations?.["brupop.bottlerocket.aws/gate-node"] === node);
      // One Job for the node's one update, owned by its shadow, about the new version, and Complete.
      expect(ofNode, node).toHaveLength(1);
      const job = ofNode[0];
      const name = job?.metadata?.name ?? "";
      expect(job?.metadata?.ownerReferences?.[0]?.uid, node).toBe(shadow?.metadata.uid);
      expect(job?.metadata?.annotations?.["brupop.bottlerocket.aws/gate-version"], node).toBe(TO);
      expect(job?.status?.conditions?.find((c) => c.type === "Complete")?.status, node).toBe("True");
      // Its pod ran on that node, to the end.
      const pods = (await core.listNamespacedPod({ namespace: cluster.namespace, labelSelector: `job-name=${name}` }))
        .items;
      expect(
        pods.map((p) => [p.spec?.nodeName, p.status?.phase]),
        node,
      ).toEqual([[node, "Succeeded"]]);
      // The gate's pass, named, on the shadow and in the Event that finished the update.
      const healthy = shadow?.status?.conditions?.find((c) => c.type === "UpdateHealthy");
      expect(healthy, node).toMatchObject({ status: "True", reason: "GatesPassed" });
      expect(healthy?.message, node).toContain(`smoke passed: Job ${cluster.namespace}/${name} completed`);
      const done = eventsOf(observer, node).find((e) => e.reason === "UpdateSucceeded");
      expect(done?.message, node).toMatch(/health gates passed/);
      // The Job finished before the update did: the pass waited for it.
      // (completionTime has whole seconds; the Event's time is finer.)
      const completed = new Date(job?.status?.completionTime ?? Number.NaN).getTime();
      const finished = new Date(done?.eventTime ?? done?.lastTimestamp ?? Number.NaN).getTime();
      expect(completed, node).toBeLessThanOrEqual(finished);
    }
    await expectConverged(running, () => TO);
    await expectNoViolations(running);
  }, 720_000);
});

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { PolicyV1Api } from "@kubernetes/client-node";
import { useCluster, eventually, type TestCluster } from "../support/cluster.ts";
import { createWorkloads, readyPods } from "../../sim/cluster/workloads.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
});
afterAll(() => t.cleanup());

describe("simulated workloads", () => {
  it("spread Ready pods over the nodes, each workload guarded by a PDB allowing one disruption", async () => {
    const nodes = await t.createNodes(3);
    const workloads = await createWorkloads(t.kc, {
      namespace: t.namespace,
      nodeSelector: t.nodeSelector,
      webReplicas: 3,
    });
    for (const w of workloads) {
      await eventually(`${w.name} Ready`, async () =>
        (await readyPods(t.kc, t.namespace, w)) === w.replicas ? true : undefined,
      );
    }
    const pods = (await t.core.listNamespacedPod({ namespace: t.namespace })).items;
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(nodes));
    const policy = t.kc.makeApiClient(PolicyV1Api);
    for (const w of workloads) {
      await eventually(`${w.name} PDB allows 1`, async () => {
        const pdb = await policy.readNamespacedPodDisruptionBudget({ name: w.name, namespace: t.namespace });
        return pdb.status?.disruptionsAllowed === 1 ? true : undefined;
      });
    }
  });
});

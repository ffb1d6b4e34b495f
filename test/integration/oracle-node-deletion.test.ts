// The oracle's PodDisruptionBudget check against the real control plane's pod GC: when a Node is deleted, the API
// keeps listing its pods Ready until pod GC removes them, 40 s or more later (its quarantine and period). That late
// removal is the deletion's doing, an involuntary disruption; the oracle must not take it for a new one, which it did
// in chaos seed 2 (20 nodes: `web` at 18 healthy pods, below its 19, a minute after a busy node was deleted).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppsV1Api, PolicyV1Api } from "@kubernetes/client-node";
import { observeWithOracle, type OracleObserver } from "../../sim/oracle/observer.ts";
import { eventually, nodeGroupLabel, useCluster, type TestCluster } from "../support/cluster.ts";
import { ensureShadowCrd } from "../support/shadow-crd.ts";

const REPLICAS = 3;
const APP = { app: "web" };

let t: TestCluster;
let watching: OracleObserver | undefined;

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await ensureShadowCrd(t.kc, t.namespace);
});

afterAll(async () => {
  await watching?.stop();
  await t.cleanup();
});

describe("the oracle and a deleted node", () => {
  it("counts the node's pods down from its deletion, not from pod GC's removal of them", async () => {
    // One node holds every replica, so that the deletion takes more than the budget allows at once.
    const [node = ""] = await t.createNodes(1);
    const apps = t.kc.makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: t.namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: APP },
          template: {
            metadata: { labels: APP },
            spec: { nodeSelector: t.nodeSelector, containers: [{ name: "web", image: "registry.example/web:1" }] },
          },
        },
      },
    });
    const policy = t.kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: t.namespace,
      body: { metadata: { name: "web" }, spec: { minAvailable: REPLICAS - 1, selector: { matchLabels: APP } } },
    });
    const readyPods = async () =>
      (await t.core.listNamespacedPod({ namespace: t.namespace, labelSelector: "app=web" })).items.filter((p) =>
        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      );
    await eventually("every replica Ready on the node", async () =>
      (await readyPods()).length === REPLICAS ? true : undefined,
    );
    await eventually("the budget's status counts them", async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: "web", namespace: t.namespace });
      return pdb.status?.currentHealthy === REPLICAS && pdb.status.expectedPods === REPLICAS ? true : undefined;
    });

    const oracle = observeWithOracle(
      { kc: t.kc, namespace: t.namespace, hosts: new Map() },
      {
        budget: 1,
        reasonWithinMs: 60_000,
        stallMs: 600_000,
        managed: (labels) => labels[nodeGroupLabel] === t.nodeSelector[nodeGroupLabel],
      },
    );
    watching = oracle;
    await oracle.start();
    const key = `${t.namespace}/web`;
    // The check is live: the oracle saw every replica healthy (from here a drop below 2 is a violation).
    await eventually("the oracle checks the budget", async () => oracle.oracle.pdbLowest().get(key));
    await t.core.deleteNode({ name: node });

    // Pod GC removes them (bounded: its 40 s quarantine, its 20 s period, and some slack for a busy machine).
    await eventually(
      "pod GC removed the deleted node's pods",
      async () => ((await readyPods()).length === 0 ? true : undefined),
      180_000,
    );
    expect(await oracle.caughtUp(), "the oracle's watches caught up with the API server").toBe(true);
    const ours = oracle.oracle.violations.filter((v) => v.invariant === "PDB" && v.message.startsWith(`${key}:`));
    expect(ours).toEqual([]);
    expect(oracle.oracle.pdbLowest().get(key)).toBe(REPLICAS);
  });
});

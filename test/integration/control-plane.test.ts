// Proof that the test control plane is a real, working Kubernetes: CRDs, bound tokens and TokenReview,
// scheduling with kwok-simulated kubelets, PodDisruptionBudgets and the Eviction API, garbage collection.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import {
  ApiextensionsV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  CustomObjectsApi,
  PolicyV1Api,
  type V1Pod,
} from "@kubernetes/client-node";
import { useCluster, eventually, type TestCluster } from "../support/cluster.ts";
import { signBoundToken } from "../support/tokens.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
});
afterAll(() => t.cleanup());

const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
const codeOf = (err: unknown) => (err as { code?: number }).code;

describe("simulated Bottlerocket nodes", () => {
  it("are Ready, labelled for the operator, and report a Bottlerocket OS image", async () => {
    const [name] = await t.createNodes(1, { from: 30, osVersion: "1.24.1" });
    const node = await t.core.readNode({ name: name ?? "" });
    expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(node.metadata?.labels?.["bottlerocket.aws/updater-interface-version"]).toBe("2.0.0");
    expect(node.status?.nodeInfo?.osImage).toBe("Bottlerocket OS 1.24.1 (aws-k8s-1.35)");
    expect(node.spec?.taints ?? []).toEqual([]);
  });
});

describe("custom resources", () => {
  it("applies a CRD, waits for Established, then creates and lists a custom object", async () => {
    const ext = t.kc.makeApiClient(ApiextensionsV1Api);
    const group = `${t.namespace}.testenv.brupop.dev`;
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          names: { kind: "Widget", plural: "widgets", singular: "widget" },
          scope: "Namespaced",
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: { spec: { type: "object", properties: { size: { type: "integer" } } } },
                },
              },
            },
          ],
        },
      },
    });
    await eventually("CRD Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      return crd.status?.conditions?.find((c) => c.type === "Established" && c.status === "True");
    });
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    const ref = { group, version: "v1", namespace: t.namespace, plural: "widgets" };
    await eventually("custom object created", () =>
      custom.createNamespacedCustomObject({
        ...ref,
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "w1" }, spec: { size: 3 } },
      }),
    );
    const list = (await custom.listNamespacedCustomObject(ref)) as { items: { spec: { size: number } }[] };
    expect(list.items.map((i) => i.spec.size)).toEqual([3]);
  });
});

describe("service-account tokens bound to a pod", () => {
  const audience = "brupop-apiserver";
  let pod: V1Pod;
  let serviceAccountUid: string;

  beforeAll(async () => {
    const [node] = await t.createNodes(1);
    const sa = await t.core.createNamespacedServiceAccount({
      namespace: t.namespace,
      body: { metadata: { name: "agent" } },
    });
    serviceAccountUid = sa.metadata?.uid ?? "";
    pod = await t.core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: { name: "agent-pod" },
        spec: { nodeName: node, serviceAccountName: "agent", containers: [{ name: "agent", image: "agent" }] },
      },
    });
  });

  const review = async (token: string, audiences = [audience]) =>
    (await t.kc.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token, audiences } } })).status;

  it("passes a TokenReview whose extra names the pod and its node's pod uid", async () => {
    const token = await requestPodToken(t.core, {
      namespace: t.namespace,
      serviceAccount: "agent",
      pod: { name: "agent-pod", uid: pod.metadata?.uid ?? "" },
      audiences: [audience],
    });
    const status = await review(token);
    expect(status?.authenticated).toBe(true);
    expect(status?.user?.username).toBe(`system:serviceaccount:${t.namespace}:agent`);
    expect(status?.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["agent-pod"]);
    expect(status?.user?.extra?.["authentication.kubernetes.io/pod-uid"]).toEqual([pod.metadata?.uid]);
    expect(status?.audiences).toEqual([audience]);
  });

  it("refuses the same token for another audience", async () => {
    const token = await requestPodToken(t.core, {
      namespace: t.namespace,
      serviceAccount: "agent",
      pod: { name: "agent-pod", uid: pod.metadata?.uid ?? "" },
      audiences: ["someone-else"],
    });
    const status = await review(token);
    expect(status?.authenticated).not.toBe(true);
    expect(status?.error).toMatch(/audience/i);
  });

  it("refuses an expired token, while the same token unexpired is accepted", async () => {
    const now = Date.now();
    const claims = {
      namespace: t.namespace,
      serviceAccount: { name: "agent", uid: serviceAccountUid },
      pod: { name: "agent-pod", uid: pod.metadata?.uid ?? "" },
      audiences: [audience],
    };
    const valid = await signBoundToken(t.info, {
      ...claims,
      issuedAt: new Date(now - 60_000),
      expiresAt: new Date(now + 3_600_000),
    });
    expect((await review(valid))?.authenticated).toBe(true);
    const expired = await signBoundToken(t.info, {
      ...claims,
      issuedAt: new Date(now - 7_200_000),
      expiresAt: new Date(now - 3_600_000),
    });
    const status = await review(expired);
    expect(status?.authenticated).not.toBe(true);
    expect(status?.error).toMatch(/expired/i);
  });
});

describe("scheduling, disruption budgets and eviction", () => {
  it("schedules a Deployment onto simulated nodes, honours a PDB on eviction, and replaces the evicted pod", async () => {
    const pool = { "testenv.brupop.dev/pool": "web" };
    const nodes = await t.createNodes(2, { from: 10, labels: pool });
    const labels = { app: "web" };
    await t.kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
      namespace: t.namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { ...t.nodeSelector, ...pool },
              // One replica per node, so the PDB arithmetic below is about whole nodes.
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: "kubernetes.io/hostname",
                  whenUnsatisfiable: "DoNotSchedule",
                  nodeTaintsPolicy: "Honor", // a cordoned node is no longer a domain to spread over
                  labelSelector: { matchLabels: labels },
                },
              ],
              containers: [{ name: "web", image: "nginx" }],
            },
          },
        },
      },
    });
    const listPods = async () =>
      (await t.core.listNamespacedPod({ namespace: t.namespace, labelSelector: "app=web" })).items;
    const running = await eventually("2 web pods Ready on the 2 simulated nodes", async () => {
      const pods = (await listPods()).filter((p) => isReady(p) && !p.metadata?.deletionTimestamp);
      return pods.length === 2 ? pods : undefined;
    });
    expect(new Set(running.map((p) => p.spec?.nodeName))).toEqual(new Set(nodes));

    const policy = t.kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: t.namespace,
      body: { metadata: { name: "web" }, spec: { minAvailable: 2, selector: { matchLabels: labels } } },
    });
    await eventually("PDB observed by the disruption controller", async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: "web", namespace: t.namespace });
      return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === 2
        ? pdb
        : undefined;
    });

    const victim = running[0];
    const victimName = victim?.metadata?.name ?? "";
    const evict = () =>
      t.core.createNamespacedPodEviction({
        name: victimName,
        namespace: t.namespace,
        body: { metadata: { name: victimName, namespace: t.namespace } },
      });
    const refused = await evict().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(codeOf(refused)).toBe(429);

    await policy.patchNamespacedPodDisruptionBudget({
      name: "web",
      namespace: t.namespace,
      body: [{ op: "replace", path: "/spec/minAvailable", value: 1 }],
    });
    await eventually("PDB allows one disruption", async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: "web", namespace: t.namespace });
      return pdb.status?.disruptionsAllowed === 1 ? pdb : undefined;
    });
    // Cordon the victim's node, as a drain does, so the replacement must go to the other node.
    await t.core.patchNode({
      name: victim?.spec?.nodeName ?? "",
      body: [{ op: "add", path: "/spec/unschedulable", value: true }],
    });
    await evict();
    await eventually("evicted pod gone", async () => {
      const pods = await listPods();
      return pods.some((p) => p.metadata?.uid === victim?.metadata?.uid) ? undefined : true;
    });
    const replaced = await eventually("replacement pod Ready on the other node", async () => {
      const pods = (await listPods()).filter((p) => isReady(p) && p.metadata?.uid !== victim?.metadata?.uid);
      return pods.length === 2 ? pods : undefined;
    });
    const otherNode = nodes.find((n) => n !== victim?.spec?.nodeName);
    expect(replaced.map((p) => p.spec?.nodeName)).toEqual([otherNode, otherNode]);
  });
});

describe("garbage collection", () => {
  it("deletes a dependent when its owner Node is deleted", async () => {
    const [name] = await t.createNodes(1, { from: 20 });
    const node = await t.core.readNode({ name: name ?? "" });
    await t.core.createNamespacedConfigMap({
      namespace: t.namespace,
      body: {
        metadata: {
          name: "owned-by-node",
          ownerReferences: [{ apiVersion: "v1", kind: "Node", name: name ?? "", uid: node.metadata?.uid ?? "" }],
        },
      },
    });
    await t.core.deleteNode({ name: name ?? "" });
    await eventually("dependent collected", async () => {
      try {
        await t.core.readNamespacedConfigMap({ name: "owned-by-node", namespace: t.namespace });
        return undefined;
      } catch (err) {
        if (codeOf(err) === 404) return true;
        throw err;
      }
    });
  });
});

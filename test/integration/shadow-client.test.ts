// The controller's consistent read of every shadow, against the real kube-apiserver: in pages of one snapshot,
// trimmed as they arrive.
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, KIND, PLURAL, VERSION_V2 } from "../../src/api/constants.ts";
import { ShadowClient } from "../../src/controller/shadow-client.ts";
import { useCluster, type TestCluster } from "../support/cluster.ts";
import { proxyToApiServer } from "../support/fault-proxy.ts";
import { ensureShadowCrd } from "../support/shadow-crd.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await ensureShadowCrd(t.kc, t.namespace);
});
afterAll(() => t.cleanup());

describe("ShadowClient.list", () => {
  it("reads every shadow in pages of one snapshot, without managedFields", async () => {
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    const ref = { group: API_GROUP, version: VERSION_V2, namespace: t.namespace, plural: PLURAL };
    const names = ["brs-a", "brs-b", "brs-c", "brs-d", "brs-e"];
    for (const name of names) {
      await custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: `${API_GROUP}/${VERSION_V2}`,
          kind: KIND,
          metadata: { name },
          spec: { state: "Idle", version: null, state_transition_timestamp: null },
        },
      });
    }
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    try {
      const client = new ShadowClient(kubeClientOf(kc), t.namespace, { pageSize: 2 });
      const shadows = await client.list();
      expect(shadows.map((s) => s.metadata.name).sort()).toEqual(names);
      expect(shadows.every((s) => (s.metadata as { managedFields?: unknown }).managedFields === undefined)).toBe(true);
      const reads = proxy.log.filter((r) => r.method === "GET" && r.url.includes(`/${PLURAL}?`));
      expect(reads).toHaveLength(3); // 2 + 2 + 1
      expect(reads.slice(1).every((r) => r.url.includes("continue="))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

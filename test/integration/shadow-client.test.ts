// The controller's shadow writes that lean on kube-apiserver's semantics, against the real one: the consistent read
// of every shadow (in pages of one snapshot, trimmed as they arrive), the conditions written after a spec.
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { API_GROUP, KIND, PLURAL, VERSION_V2 } from "../../src/api/constants.ts";
import type { BottlerocketShadow, Condition } from "../../src/api/bottlerocket-shadow.ts";
import { ShadowClient } from "../../src/controller/shadow-client.ts";
import { useCluster, type TestCluster } from "../support/cluster.ts";
import { proxyToApiServer } from "../support/fault-proxy.ts";
import { ensureShadowCrd } from "../support/shadow-crd.ts";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

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

describe("ShadowClient.writeConditionsAfter", () => {
  const custom = () => t.kc.makeApiClient(CustomObjectsApi);
  const ref = (name: string) => ({
    group: API_GROUP,
    version: VERSION_V2,
    namespace: t.namespace,
    plural: PLURAL,
    name,
  });
  const healthy: Condition = {
    type: "UpdateHealthy",
    status: "True",
    reason: "GatesPassed",
    message: "health gates passed",
    lastTransitionTime: "2026-12-07T00:00:00Z",
    observedGeneration: 1,
  };

  async function monitoringShadow(name: string): Promise<{ client: ShadowClient; shadow: BottlerocketShadow }> {
    const { name: _name, ...collection } = ref(name);
    await custom().createNamespacedCustomObject({
      ...collection,
      body: {
        apiVersion: `${API_GROUP}/${VERSION_V2}`,
        kind: KIND,
        metadata: { name },
        spec: { state: "MonitoringUpdate", version: "1.1.0", state_transition_timestamp: "2026-12-07T00:00:00Z" },
      },
    });
    const shadow = (await custom().patchNamespacedCustomObjectStatus(
      {
        ...ref(name),
        body: {
          status: {
            current_version: "1.1.0",
            target_version: "1.1.0",
            current_state: "MonitoringUpdate",
            crash_count: 0,
            conditions: [],
          },
        },
      },
      MERGE_PATCH,
    )) as BottlerocketShadow;
    return { client: new ShadowClient(kubeClientOf(t.kc), t.namespace), shadow };
  }

  it("lands after the agent's report of the spec it follows, and keeps that report", async () => {
    const { client, shadow } = await monitoringShadow("brs-after");
    const written = await client.writeSpec({
      name: "brs-after",
      resourceVersion: shadow.metadata.resourceVersion ?? "",
      spec: { state: "Idle", version: "1.1.0", state_transition_timestamp: "2026-12-07T00:01:00Z" },
      annotations: {},
    });
    // The agent answers the Idle spec before the conditions are written (the resourceVersion moves on).
    await custom().patchNamespacedCustomObjectStatus(
      { ...ref("brs-after"), body: { status: { current_state: "Idle" } } },
      MERGE_PATCH,
    );
    const after = await client.writeConditionsAfter(written, [healthy]);
    expect(after.status?.current_state).toBe("Idle");
    expect(after.status?.conditions).toEqual([healthy]);
    expect(after.spec.state).toBe("Idle");
  });

  it("is refused once the spec moved on, and changes nothing", async () => {
    const { client, shadow } = await monitoringShadow("brs-moved");
    const spec = (state: "Idle" | "StagedAndPerformedUpdate") => ({
      state,
      version: "1.1.0",
      state_transition_timestamp: "2026-12-07T00:01:00Z",
    });
    const written = await client.writeSpec({
      name: "brs-moved",
      resourceVersion: shadow.metadata.resourceVersion ?? "",
      spec: spec("Idle"),
      annotations: {},
    });
    await client.writeSpec({
      name: "brs-moved",
      resourceVersion: written.metadata.resourceVersion ?? "",
      spec: spec("StagedAndPerformedUpdate"),
      annotations: {},
    });
    await expect(client.writeConditionsAfter(written, [healthy])).rejects.toMatchObject({ code: 422 });
    const now = (await custom().getNamespacedCustomObject(ref("brs-moved"))) as BottlerocketShadow;
    expect(now.status?.conditions).toEqual([]);
  });
});

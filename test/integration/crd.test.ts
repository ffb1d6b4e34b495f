// The generated BottlerocketShadow CRD against a real kube-apiserver: accepted as a structural schema, Established,
// serving v2 objects that brupop and our validator agree on, and enforcing the enums and patterns we declare.
// Conversion strategy None: no webhook server runs here.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiextensionsV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import {
  API_GROUP,
  API_VERSION_V2,
  BRS_STATES,
  CRD_NAME,
  KIND,
  PLURAL,
  bottlerocketShadowCrd,
  brsName,
  validateShadow,
  type BottlerocketShadow,
  type BottlerocketShadowStatus,
  type CustomResourceDefinition,
} from "../../src/api/index.ts";

interface CrdCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface StoredCrd extends CustomResourceDefinition {
  metadata: CustomResourceDefinition["metadata"] & { resourceVersion?: string };
  status?: { conditions?: CrdCondition[] };
}

const CRDS = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;
const codeOf = (err: unknown) => (err as { code?: number }).code;
/** The Status message of a failed request (client-node puts the raw response body on the error). */
function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    return String((JSON.parse(String(body)) as { message?: unknown }).message);
  } catch {
    return String(body);
  }
}

let t: TestCluster;
let custom: CustomObjectsApi;
let brs: { group: string; version: string; plural: string; namespace: string };
const crd = bottlerocketShadowCrd({ conversion: "none" });

/**
 * Creates the CRD, or replaces it when another file of this run already did (same generator, same content).
 * Sent through CustomObjectsApi so client-node's model classes never touch it (see the last test).
 */
async function applyCrd(): Promise<void> {
  try {
    await custom.createClusterCustomObject({ ...CRDS, body: crd });
    return;
  } catch (err) {
    if (codeOf(err) !== 409) throw err;
  }
  await eventually("CRD replaced", async () => {
    const existing = (await custom.getClusterCustomObject({ ...CRDS, name: CRD_NAME })) as StoredCrd;
    const body = { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion } };
    await custom.replaceClusterCustomObject({ ...CRDS, name: CRD_NAME, body });
    return true;
  });
}

async function readCrd(): Promise<StoredCrd> {
  return (await custom.getClusterCustomObject({ ...CRDS, name: CRD_NAME })) as StoredCrd;
}

function shadow(name: string, spec: unknown): object {
  return { apiVersion: API_VERSION_V2, kind: KIND, metadata: { name }, spec };
}

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  brs = { group: API_GROUP, version: "v2", plural: PLURAL, namespace: t.namespace };
  await applyCrd();
  await eventually("CRD Established", async () => {
    const conditions = (await readCrd()).status?.conditions ?? [];
    return conditions.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
  });
  // Established can precede the resource being served at its REST path by a moment.
  await eventually("BottlerocketShadows served", () => custom.listNamespacedCustomObject(brs));
});
afterAll(() => t.cleanup());

describe("the BottlerocketShadow CRD on a real API server", () => {
  it("is accepted as a structural schema, with its names", async () => {
    const conditions = (await readCrd()).status?.conditions ?? [];
    expect(conditions.find((c) => c.type === "NonStructuralSchema")).toBeUndefined();
    expect(conditions.find((c) => c.type === "NamesAccepted")).toMatchObject({ status: "True" });
  });

  it("is stored as generated: enums, patterns, list-map markers and printer columns intact", async () => {
    const stored = await readCrd();
    expect(stored.spec.versions.map((v) => v.name)).toEqual(["v2", "v1"]);
    for (const [i, version] of crd.spec.versions.entries()) {
      expect(stored.spec.versions[i]?.schema).toEqual(version.schema);
      expect(stored.spec.versions[i]?.additionalPrinterColumns).toMatchObject(version.additionalPrinterColumns ?? []);
    }
    expect(stored.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec?.properties?.state?.enum).toEqual([
      ...BRS_STATES,
    ]);
  });

  it("stores and returns a v2 object as brupop writes it, which our validator accepts", async () => {
    const name = brsName(t.nodeName(0));
    const created = {
      ...shadow(name, { state: "Idle", state_transition_timestamp: null, version: null }),
      metadata: { name, labels: { team: "platform" }, annotations: { "example.com/note": "kept" } },
    };
    await custom.createNamespacedCustomObject({ ...brs, body: created });

    const status: BottlerocketShadowStatus = {
      current_version: "1.20.3",
      target_version: "1.21.0-rc.1+build.5",
      current_state: "ErrorReset",
      crash_count: 2,
      state_transition_failure_timestamp: "2024-06-21T11:55:48.896347269+00:00",
      failure_reason: "drain timed out",
      conditions: [
        {
          type: "Updating",
          status: "False",
          reason: "DrainTimedOut",
          message: "pod web-0 is protected by a PodDisruptionBudget",
          lastTransitionTime: "2024-06-21T11:55:48Z",
          observedGeneration: 1,
        },
      ],
    };
    const current = (await custom.getNamespacedCustomObject({ ...brs, name })) as BottlerocketShadow;
    await custom.replaceNamespacedCustomObjectStatus({ ...brs, name, body: { ...current, status } });

    const read: unknown = await custom.getNamespacedCustomObject({ ...brs, name });
    const result = validateShadow(read);
    expect(result.ok ? "valid" : result.message).toBe("valid");
    expect(result.ok && result.value).toMatchObject({
      apiVersion: API_VERSION_V2,
      metadata: { name, labels: { team: "platform" }, annotations: { "example.com/note": "kept" } },
      spec: { state: "Idle", state_transition_timestamp: null, version: null },
      status,
    });
  });

  it.each<[string, object, RegExp]>([
    ["a state outside the enum", { state: "Exploded" }, /spec\.state: Unsupported value: "Exploded"/],
    ["a version that is not semver", { state: "Idle", version: "v1.2" }, /spec\.version: Invalid value: "v1\.2"/],
    ["no state", { version: "1.2.3" }, /spec\.state: Required value/],
  ])("refuses a spec with %s", async (_, spec, message) => {
    const name = `brs-refused-${Math.random().toString(36).slice(2, 8)}`;
    const err: unknown = await custom.createNamespacedCustomObject({ ...brs, body: shadow(name, spec) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(codeOf(err)).toBe(422);
    expect(messageOf(err)).toMatch(message);
  });

  it("refuses a status with a negative crash_count", async () => {
    const name = brsName(t.nodeName(1));
    await custom.createNamespacedCustomObject({ ...brs, body: shadow(name, { state: "Idle" }) });
    const current = (await custom.getNamespacedCustomObject({ ...brs, name })) as BottlerocketShadow;
    const status = { current_version: "1.0.0", target_version: "1.0.0", current_state: "Idle", crash_count: -1 };
    const err: unknown = await custom
      .replaceNamespacedCustomObjectStatus({ ...brs, name, body: { ...current, status } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(codeOf(err)).toBe(422);
    expect(messageOf(err)).toMatch(/status\.crash_count: Invalid value: -1/);
  });

  it("prunes fields the schema does not declare", async () => {
    const name = brsName(t.nodeName(2));
    await custom.createNamespacedCustomObject({ ...brs, body: shadow(name, { state: "Idle", surprise: 1 }) });
    const read = (await custom.getNamespacedCustomObject({ ...brs, name })) as { spec: Record<string, unknown> };
    expect(read.spec).toEqual({ state: "Idle" });
  });

  it("is listed by kubectl under its short name with brupop's columns", async () => {
    const { stdout } = await promisify(execFile)(join(t.info.binDir, "kubectl"), [
      "--kubeconfig",
      t.info.kubeconfigPath,
      "get",
      "brs",
      "--namespace",
      t.namespace,
    ]);
    const header = stdout.split("\n")[0] ?? "";
    expect(header).toMatch(/^NAME\s+STATE\s+VERSION\s+TARGET STATE\s+TARGET VERSION\s+CRASH COUNT/);
    expect(stdout).toMatch(
      new RegExp(`${brsName(t.nodeName(0))}\\s+ErrorReset\\s+1\\.20\\.3\\s+Idle\\s+<no value>\\s+2`),
    );
  });

  it("would lose its enums if sent through client-node's typed ApiextensionsV1Api (why we send it raw)", async () => {
    // A dry-run create of a renamed copy: nothing is stored, and the shared CRD is not touched.
    const group = `${t.namespace}.testenv.brupop.dev`;
    const copy = { ...crd, metadata: { name: `${PLURAL}.${group}` }, spec: { ...crd.spec, group } };
    const ext = t.kc.makeApiClient(ApiextensionsV1Api);
    const echoed = await ext.createCustomResourceDefinition({ body: copy, dryRun: "All" });
    const state = echoed.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.spec?.properties?.state;
    expect(state?.type).toBe("string");
    expect(state?._enum).toBeUndefined();
  });
});

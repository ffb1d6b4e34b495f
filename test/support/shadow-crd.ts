// The BottlerocketShadow CRD on the shared control plane: installed by whichever test file needs it first (the same
// generator, so identical content), then waited for until it is served.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, PLURAL, bottlerocketShadowCrd } from "../../src/api/index.ts";
import { eventually } from "./cluster.ts";

export const CRDS = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;

export async function ensureShadowCrd(kc: KubeConfig, namespace: string): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  try {
    await custom.createClusterCustomObject({ ...CRDS, body: bottlerocketShadowCrd({ conversion: "none" }) });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  await eventually("BottlerocketShadows served", () =>
    custom.listNamespacedCustomObject({ group: API_GROUP, version: "v2", plural: PLURAL, namespace }),
  );
}

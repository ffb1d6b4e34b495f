// brupop's BottlerocketShadow CRD under a test's own group, its conversion webhook a URL on a process of the test,
// so the real kube-apiserver calls our /crdconvert. The caBundle is left for ensureBuiltinTls to set.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import { bottlerocketShadowCrd } from "../../src/api/index.ts";

export const CRDS = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;

export async function createWebhookCrd(
  custom: CustomObjectsApi,
  o: { name: string; group: string; port: number },
): Promise<void> {
  const crd = bottlerocketShadowCrd({ conversion: "none" });
  await custom.createClusterCustomObject({
    ...CRDS,
    body: {
      ...crd,
      metadata: { name: o.name },
      spec: {
        ...crd.spec,
        group: o.group,
        conversion: {
          strategy: "Webhook",
          webhook: {
            clientConfig: { url: `https://127.0.0.1:${o.port}/crdconvert` },
            conversionReviewVersions: ["v1"],
          },
        },
      },
    },
  });
}

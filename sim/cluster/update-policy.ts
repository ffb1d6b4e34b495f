// The fleet policy resource written as a person would (`kubectl edit bottlerocketupdatepolicy default`), for tests
// and benchmarks that change it under a running controller.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP } from "../../src/api/constants.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyResourceSpec } from "../../src/api/update-policy.ts";
import {
  UPDATE_POLICY_API_VERSION,
  UPDATE_POLICY_KIND,
  UPDATE_POLICY_NAME,
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_VERSION,
} from "../../src/api/update-policy-names.ts";

/**
 * Sets the policy's spec, creating the object if there is none (a JSON patch of /spec: no resourceVersion, so the
 * controller's status writes don't race it). Returns the policy's new generation, which the controller's status
 * names (observedGeneration) once it has acted on it.
 */
export async function setUpdatePolicy(
  kc: KubeConfig,
  namespace: string,
  spec: UpdatePolicyResourceSpec,
): Promise<number> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const api = { group: API_GROUP, version: UPDATE_POLICY_VERSION, namespace, plural: UPDATE_POLICY_PLURAL };
  let written: BottlerocketUpdatePolicy;
  try {
    written = (await custom.patchNamespacedCustomObject(
      { ...api, name: UPDATE_POLICY_NAME, body: [{ op: "add", path: "/spec", value: spec }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    )) as BottlerocketUpdatePolicy;
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    written = (await custom.createNamespacedCustomObject({
      ...api,
      body: {
        apiVersion: UPDATE_POLICY_API_VERSION,
        kind: UPDATE_POLICY_KIND,
        metadata: { name: UPDATE_POLICY_NAME },
        spec,
      },
    })) as BottlerocketUpdatePolicy;
  }
  const generation = written.metadata.generation;
  if (generation === undefined) throw new Error("the API server gave the policy no generation");
  return generation;
}

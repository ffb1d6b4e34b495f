// The informer over BottlerocketShadows of one namespace: path and selector kept in step in one place, for the
// controller, the simulated cluster's observer, test stand-in agents and benchmarks.
import type { KubernetesObject } from "@kubernetes/client-node";
import { API_GROUP, PLURAL, VERSION_V2 } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { KubeClient } from "./client.ts";
import { SupervisedInformer, type InformerOptions } from "./informer.ts";

export type ShadowObject = BottlerocketShadow & KubernetesObject;

export function shadowInformer(
  client: KubeClient,
  namespace: string,
  options: Pick<InformerOptions<ShadowObject>, "name" | "fieldSelector" | "onChange" | "onError">,
): SupervisedInformer<ShadowObject> {
  return new SupervisedInformer<ShadowObject>({
    ...options,
    client,
    path: `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`,
  });
}

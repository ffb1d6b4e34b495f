// The informer over BottlerocketShadows of one namespace: path, list call and selector kept in step in one place,
// for the controller, the simulated cluster's observer, test stand-in agents and benchmarks.
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { API_GROUP, PLURAL, VERSION_V2 } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { SupervisedInformer, type InformerOptions } from "./informer.ts";

export type ShadowObject = BottlerocketShadow & KubernetesObject;

export function shadowInformer(
  kc: KubeConfig,
  namespace: string,
  options: Pick<InformerOptions<ShadowObject>, "name" | "fieldSelector" | "onChange" | "onError">,
): SupervisedInformer<ShadowObject> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return new SupervisedInformer<ShadowObject>({
    ...options,
    kc,
    path: `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`,
    list: async () =>
      (await custom.listNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace,
        plural: PLURAL,
        ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
      })) as KubernetesListObject<ShadowObject>,
  });
}

import type { CoreV1Api } from "@kubernetes/client-node";

export interface PodTokenRequest {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The pod the token is bound to: the token dies with it, and a TokenReview names it in `extra`. */
  readonly pod: { readonly name: string; readonly uid: string };
  readonly audiences: readonly string[];
  /** Kubernetes' minimum is 600 s. */
  readonly expirationSeconds?: number;
}

/** A bound service-account token, as the kubelet would mount it into the pod (TokenRequest API). */
export async function requestPodToken(core: CoreV1Api, request: PodTokenRequest): Promise<string> {
  const result = await core.createNamespacedServiceAccountToken({
    name: request.serviceAccount,
    namespace: request.namespace,
    body: {
      spec: {
        audiences: [...request.audiences],
        expirationSeconds: request.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: request.pod.name, uid: request.pod.uid },
      },
    },
  });
  const token = result.status?.token;
  if (!token) throw new Error(`TokenRequest for ${request.namespace}/${request.serviceAccount} returned no token`);
  return token;
}

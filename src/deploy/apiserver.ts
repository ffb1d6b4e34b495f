// The API server: 3 replicas behind the `brupop-apiserver` Service, spread over nodes, protected by a
// PodDisruptionBudget (brupop had none, so drains could evict every replica at once and fail every agent;
// docs/design/brupop-compatibility.md#installation).
import type { V1Deployment, V1PodDisruptionBudget, V1Service } from "@kubernetes/client-node";
import { APISERVER_INTERNAL_PORT, APISERVER_SERVICE_PORT, COMPONENT } from "../api/index.ts";
import { componentLabels, podLabels, selectorLabels } from "./labels.ts";
import { NAMES, SERVICE_ACCOUNT } from "./names.ts";
import type { DeployOptions } from "./options.ts";
import {
  TLS_DIR,
  TMP_MOUNT,
  TMP_VOLUME,
  containerResources,
  entryPoint,
  env,
  fieldEnv,
  httpProbe,
  imagePullSecrets,
  placementFields,
  platformAffinity,
  spreadOverNodes,
} from "./pod.ts";
import { APISERVER_METRICS_PORT } from "./ports.ts";
import { nonRootPodSecurityContext, restrictedContainerSecurityContext } from "./security.ts";

export function apiserverDeployment(options: DeployOptions): V1Deployment {
  const selector = selectorLabels(COMPONENT.apiserver);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: NAMES.apiserverDeployment,
      namespace: options.namespace,
      labels: componentLabels(COMPONENT.apiserver),
    },
    spec: {
      replicas: options.replicas.apiserver,
      selector: { matchLabels: selector },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "33%", maxSurge: 1 } },
      template: {
        metadata: { labels: podLabels(COMPONENT.apiserver, options.podLabels) },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT[COMPONENT.apiserver],
          affinity: { ...platformAffinity(), podAntiAffinity: spreadOverNodes(selector) },
          ...placementFields(options.placement.apiserver),
          ...imagePullSecrets(options),
          securityContext: nonRootPodSecurityContext(),
          containers: [
            {
              name: "brupop",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              args: [entryPoint("apiserver")],
              env: [
                env("APISERVER_INTERNAL_PORT", APISERVER_INTERNAL_PORT),
                env("APISERVER_METRICS_PORT", APISERVER_METRICS_PORT),
                // "files": read /etc/brupop-tls-keys (cert-manager's Secret); "builtin": make and rotate its own.
                env("APISERVER_TLS_MODE", options.tls === "builtin" ? "builtin" : "files"),
                env("CLUSTER_DOMAIN", options.clusterDomain),
                fieldEnv("POD_NAMESPACE", "metadata.namespace"),
              ],
              ports: [
                { name: "https", containerPort: APISERVER_INTERNAL_PORT, protocol: "TCP" },
                { name: "metrics", containerPort: APISERVER_METRICS_PORT, protocol: "TCP" },
              ],
              // Over TLS, like brupop's /ping: a server whose TLS listener is wedged is not alive. The startup probe
              // leaves time to create the certificates on a first install.
              startupProbe: httpProbe("/livez", "https", { period: 2, failures: 60 }, "HTTPS"),
              livenessProbe: httpProbe("/livez", "https", { period: 10, failures: 3 }, "HTTPS"),
              readinessProbe: httpProbe("/readyz", "https", { period: 5, failures: 2 }, "HTTPS"),
              resources: containerResources(options.resources.apiserver),
              securityContext: restrictedContainerSecurityContext(),
              volumeMounts: [{ name: "brupop-tls-keys", mountPath: TLS_DIR, readOnly: true }, TMP_MOUNT],
            },
          ],
          volumes: [
            {
              name: "brupop-tls-keys",
              // Built-in TLS: the API server creates this Secret itself, so the pod must start before it exists
              // (the kubelet projects it once it does). With cert-manager it must exist first.
              secret: { secretName: NAMES.apiserverCertificateSecret, optional: options.tls === "builtin" },
            },
            TMP_VOLUME,
          ],
        },
      },
    },
  };
}

/** The agents' (and the conversion webhook's) way in: 443 -> 8443, plus the unauthenticated metrics port. */
export function apiserverService(options: DeployOptions): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: NAMES.apiserverService,
      namespace: options.namespace,
      labels: componentLabels(COMPONENT.apiserver),
    },
    spec: {
      type: "ClusterIP",
      // An asynchronous drain's status lives in the replica running it: each agent keeps talking to one replica.
      sessionAffinity: "ClientIP",
      selector: selectorLabels(COMPONENT.apiserver),
      ports: [
        { name: "https", port: APISERVER_SERVICE_PORT, targetPort: "https", protocol: "TCP" },
        { name: "metrics", port: APISERVER_METRICS_PORT, targetPort: "metrics", protocol: "TCP" },
      ],
    },
  };
}

/** At most one replica down by choice (drains, node upgrades): the rest keep serving agents mid-update. */
export function apiserverDisruptionBudget(options: DeployOptions): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: NAMES.apiserverPdb, namespace: options.namespace, labels: componentLabels(COMPONENT.apiserver) },
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(COMPONENT.apiserver) },
      // A crash-looping replica must not block the drain of its node.
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}

// The API server: 3 replicas behind the `brupop-apiserver` Service, spread over nodes, protected by a
// PodDisruptionBudget (brupop had none, so drains could evict every replica at once and fail every agent;
// docs/design/brupop-compatibility.md#installation).
import type { V1Deployment, V1PodDisruptionBudget, V1Service } from "@kubernetes/client-node";
import { COMPONENT } from "../api/index.ts";
import { componentLabels, podLabels, selectorLabels } from "./labels.ts";
import { NAMES, SERVICE_ACCOUNT } from "./names.ts";
import type { DeployOptions } from "./options.ts";
import {
  TLS_DIR,
  TLS_VOLUME,
  TMP_MOUNT,
  TMP_VOLUME,
  containerCommand,
  runtimeEnv,
  containerResources,
  env,
  fieldEnv,
  httpProbe,
  imagePullSecrets,
  loggingEnv,
  placementAffinity,
  placementFields,
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
          affinity: placementAffinity(options.placement.apiserver),
          ...placementFields(options.placement.apiserver),
          ...imagePullSecrets(options),
          securityContext: nonRootPodSecurityContext(),
          containers: [
            {
              name: "brupop",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              ...containerCommand("apiserver"),
              env: [
                env("APISERVER_INTERNAL_PORT", options.apiserverInternalPort),
                env("APISERVER_METRICS_PORT", APISERVER_METRICS_PORT),
                // "files": read /etc/brupop-tls-keys (cert-manager's Secret); "builtin": make and rotate its own.
                env("APISERVER_TLS_MODE", options.tls === "builtin" ? "builtin" : "files"),
                env("CLUSTER_DOMAIN", options.clusterDomain),
                fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                ...loggingEnv(options, "apiserver"),
                ...runtimeEnv("apiserver"),
              ],
              ports: [
                { name: "https", containerPort: options.apiserverInternalPort, protocol: "TCP" },
                { name: "metrics", containerPort: APISERVER_METRICS_PORT, protocol: "TCP" },
              ],
              // Over TLS, like brupop's /ping: a server whose TLS listener is wedged is not alive. The startup probe
              // leaves time to create the certificates on a first install.
              startupProbe: httpProbe("/livez", "https", { period: 2, failures: 60 }, "HTTPS"),
              livenessProbe: httpProbe("/livez", "https", { period: 10, failures: 3 }, "HTTPS"),
              readinessProbe: httpProbe("/readyz", "https", { period: 5, failures: 2 }, "HTTPS"),
              resources: containerResources(options.resources.apiserver),
              securityContext: restrictedContainerSecurityContext(),
              volumeMounts: [{ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true }, TMP_MOUNT],
            },
          ],
          volumes: [
            {
              name: TLS_VOLUME,
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
        // By number, as brupop's Service had it: during a switch brupop's API server pods (whose port has no name)
        // are endpoints too, and a named target port would leave them out while they still serve agents.
        {
          name: "https",
          port: options.apiserverServicePort,
          targetPort: options.apiserverInternalPort,
          protocol: "TCP",
        },
        // By name: only our pods serve metrics; brupop's must not receive scrapes.
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

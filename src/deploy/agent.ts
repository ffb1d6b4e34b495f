// The agent DaemonSet: one pod on every node labelled for the operator, talking to the host's API socket and, with
// a projected token only the API server accepts, to the API server.
import type { V1DaemonSet } from "@kubernetes/client-node";
import {
  AGENT_TOKEN_PATH,
  COMPONENT,
  LABEL_UPDATER_INTERFACE_VERSION,
  TOKEN_AUDIENCE,
  UPDATER_INTERFACE_VERSION,
} from "../api/index.ts";
import { podLabels, componentLabels, selectorLabels } from "./labels.ts";
import { NAMES, SERVICE_ACCOUNT } from "./names.ts";
import type { DeployOptions } from "./options.ts";
import {
  NODE_FLAGS,
  TLS_DIR,
  TLS_VOLUME,
  TMP_MOUNT,
  TMP_VOLUME,
  containerCommand,
  containerResources,
  env,
  fieldEnv,
  httpProbe,
  imagePullSecrets,
  loggingEnv,
  placementAffinity,
  placementFields,
} from "./pod.ts";
import { agentSecurityContext } from "./security.ts";

/** Bottlerocket's API socket on the host, mounted at the same path. */
export const HOST_API_SOCKET = "/run/api.sock";
/** The agent's /livez and /readyz port (plain HTTP on the pod network). */
export const AGENT_HEALTH_PORT = 8081;

/** Node flags for the agent, before its entry point (the benchmarks run it with them); see NODE_FLAGS. */
export const AGENT_NODE_FLAGS: readonly string[] = NODE_FLAGS.agent;

// brupop's mount path, trailing slash included: an apply over brupop's DaemonSet then updates its mount (volume
// mounts are merged by path) instead of adding a second one of the same directory.
const tokenDir = AGENT_TOKEN_PATH.slice(0, AGENT_TOKEN_PATH.lastIndexOf("/") + 1);
const tokenFile = AGENT_TOKEN_PATH.slice(AGENT_TOKEN_PATH.lastIndexOf("/") + 1);

export function agentDaemonSet(options: DeployOptions): V1DaemonSet {
  const selector = selectorLabels(COMPONENT.agent);
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: NAMES.agentDaemonSet, namespace: options.namespace, labels: componentLabels(COMPONENT.agent) },
    spec: {
      selector: { matchLabels: selector },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: podLabels(COMPONENT.agent, options.podLabels) },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT[COMPONENT.agent],
          // Only nodes the user opted in (brupop's interface-version label).
          affinity: placementAffinity(options.placement.agent, [
            { key: LABEL_UPDATER_INTERFACE_VERSION, operator: "In", values: [UPDATER_INTERFACE_VERSION] },
          ]),
          ...placementFields(options.placement.agent),
          ...imagePullSecrets(options),
          containers: [
            {
              name: "brupop",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              ...containerCommand("agent"),
              env: [
                fieldEnv("MY_NODE_NAME", "spec.nodeName"),
                env("APISERVER_SERVICE_PORT", options.apiserverServicePort),
                // brupop's later fix for its hard-coded cluster.local (PR #736).
                env("KUBERNETES_SERVICE_CLUSTER_DOMAIN", options.clusterDomain),
                env("EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC", options.excludeFromLbWaitTimeInSec),
                env("AGENT_HEALTH_PORT", AGENT_HEALTH_PORT),
                ...loggingEnv(options, "agent"),
              ],
              // Liveness: the process answers (every wait inside the agent is bounded by its own timeouts).
              // Readiness: its watches of its BottlerocketShadow and Node have listed.
              ports: [{ name: "health", containerPort: AGENT_HEALTH_PORT, protocol: "TCP" }],
              livenessProbe: httpProbe("/livez", "health", { period: 20, failures: 3, initialDelay: 5 }),
              readinessProbe: httpProbe("/readyz", "health", { period: 10, failures: 3 }),
              resources: containerResources(options.resources.agent),
              securityContext: agentSecurityContext(),
              volumeMounts: [
                { name: "bottlerocket-api-socket", mountPath: HOST_API_SOCKET },
                { name: "bottlerocket-agent-service-account-token", mountPath: tokenDir, readOnly: true },
                { name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true },
                TMP_MOUNT,
              ],
            },
          ],
          volumes: [
            { name: "bottlerocket-api-socket", hostPath: { path: HOST_API_SOCKET, type: "Socket" } },
            {
              name: "bottlerocket-agent-service-account-token",
              projected: {
                sources: [
                  { serviceAccountToken: { audience: TOKEN_AUDIENCE, path: tokenFile, expirationSeconds: 3600 } },
                ],
              },
            },
            // Only the CA: the agent verifies the API server, it does not present a certificate.
            {
              name: TLS_VOLUME,
              secret: { secretName: NAMES.agentCaSecret, items: [{ key: "ca.crt", path: "ca.crt" }] },
            },
            TMP_VOLUME,
          ],
        },
      },
    },
  };
}

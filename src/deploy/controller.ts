// The controller: 2 replicas, one leader at a time (a Lease), so a dead or hung controller is replaced in seconds
// (brupop ran 1 replica with Recreate and no probes; docs/design/brupop-compatibility.md#controller).
import type { V1Deployment, V1Service } from "@kubernetes/client-node";
import { COMPONENT } from "../api/index.ts";
import { componentLabels, podLabels, selectorLabels } from "./labels.ts";
import { NAMES, SERVICE_ACCOUNT } from "./names.ts";
import type { DeployOptions } from "./options.ts";
import {
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
import { CONTROLLER_HTTP_PORT, CONTROLLER_SERVICE_PORT } from "./ports.ts";
import { nonRootPodSecurityContext, restrictedContainerSecurityContext } from "./security.ts";

const prometheusAnnotations = { "prometheus.io/port": String(CONTROLLER_HTTP_PORT), "prometheus.io/scrape": "true" };

export function controllerDeployment(options: DeployOptions): V1Deployment {
  const selector = selectorLabels(COMPONENT.controller);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: NAMES.controllerDeployment,
      namespace: options.namespace,
      labels: componentLabels(COMPONENT.controller),
    },
    spec: {
      replicas: options.replicas.controller,
      selector: { matchLabels: selector },
      // Leader election makes overlapping replicas safe, so a rollout never leaves the fleet without a controller.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: podLabels(COMPONENT.controller, options.podLabels), annotations: prometheusAnnotations },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT[COMPONENT.controller],
          affinity: { ...platformAffinity(), podAntiAffinity: spreadOverNodes(selector) },
          ...placementFields(options.placement.controller),
          ...imagePullSecrets(options),
          securityContext: nonRootPodSecurityContext(),
          containers: [
            {
              name: "brupop",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              args: [entryPoint("controller")],
              env: [
                // Its own node is updated last (brupop's order).
                fieldEnv("MY_NODE_NAME", "spec.nodeName"),
                // Its identity in the Lease; the Lease's name is the one its Role grants.
                fieldEnv("POD_NAME", "metadata.name"),
                env("LEADER_ELECTION_LEASE_NAME", NAMES.controllerLease),
                env("METRICS_PORT", CONTROLLER_HTTP_PORT),
                env("MAX_CONCURRENT_UPDATE", options.maxConcurrentUpdates),
                env("AUTO_LABEL_NODES", String(options.autoLabelNodes)),
                env("SCHEDULER_CRON_EXPRESSION", options.schedulerCronExpression),
                ...(options.updateWindow
                  ? [
                      env("UPDATE_WINDOW_START", options.updateWindow.start),
                      env("UPDATE_WINDOW_STOP", options.updateWindow.stop),
                    ]
                  : []),
              ],
              ports: [{ name: "http", containerPort: CONTROLLER_HTTP_PORT, protocol: "TCP" }],
              livenessProbe: httpProbe("/livez", "http", { period: 10, failures: 3, initialDelay: 5 }),
              readinessProbe: httpProbe("/readyz", "http", { period: 5, failures: 2 }),
              resources: containerResources(options.resources.controller),
              securityContext: restrictedContainerSecurityContext(),
              volumeMounts: [TMP_MOUNT],
            },
          ],
          volumes: [TMP_VOLUME],
        },
      },
    },
  };
}

/** brupop's `brupop-controller-server` (port `main`), kept for existing scrape configurations. */
export function controllerService(options: DeployOptions): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: NAMES.controllerService,
      namespace: options.namespace,
      labels: componentLabels(COMPONENT.controller),
      annotations: prometheusAnnotations,
    },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(COMPONENT.controller),
      ports: [{ name: "main", port: CONTROLLER_SERVICE_PORT, targetPort: "http", protocol: "TCP" }],
    },
  };
}

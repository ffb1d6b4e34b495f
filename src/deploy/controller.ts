// The controller: 2 replicas, one leader at a time (a Lease), so a dead or hung controller is replaced in seconds
// (brupop ran 1 replica with no probes; docs/design/brupop-compatibility.md#controller). Recreate, as brupop's: see
// controllerDeployment.
import type { V1Deployment, V1Service } from "@kubernetes/client-node";
import { COMPONENT } from "../api/index.ts";
import { componentLabels, podLabels, selectorLabels } from "./labels.ts";
import { NAMES, SERVICE_ACCOUNT } from "./names.ts";
import type { DeployOptions } from "./options.ts";
import {
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
      // Recreate: every old pod is gone before a new one starts. Our replicas would share a Lease, but brupop's
      // controller (replaced by the same Deployment when switching in place, or replacing ours when switching back)
      // takes none, so overlapping pods could be two controllers deciding at once. The price is a few seconds
      // without a controller during an upgrade, when nothing new starts and agents finish their current step.
      strategy: { type: "Recreate" },
      template: {
        metadata: { labels: podLabels(COMPONENT.controller, options.podLabels), annotations: prometheusAnnotations },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT[COMPONENT.controller],
          affinity: placementAffinity(options.placement.controller),
          ...placementFields(options.placement.controller),
          ...imagePullSecrets(options),
          securityContext: nonRootPodSecurityContext(),
          containers: [
            {
              name: "brupop",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              ...containerCommand("controller"),
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
                ...loggingEnv(options, "controller"),
                ...runtimeEnv("controller"),
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
      // By number, as brupop's (its controller pods declare no ports).
      ports: [{ name: "main", port: CONTROLLER_SERVICE_PORT, targetPort: CONTROLLER_HTTP_PORT, protocol: "TCP" }],
    },
  };
}

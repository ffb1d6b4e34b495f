// Optional prometheus-operator ServiceMonitors: the controller (brupop's, which its chart misfiled under "apiserver")
// and the API server's metrics port, which brupop could not offer (its /metrics required an agent token).
import { COMPONENT, type Component } from "../api/index.ts";
import { componentLabels, selectorLabels } from "./labels.ts";
import type { ManifestObject } from "./object.ts";
import type { DeployOptions } from "./options.ts";

function serviceMonitor(component: Component, name: string, port: string, options: DeployOptions): ManifestObject {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name, namespace: options.namespace, labels: componentLabels(component) },
    spec: {
      endpoints: [{ port, path: "/metrics" }],
      namespaceSelector: { matchNames: [options.namespace] },
      selector: { matchLabels: selectorLabels(component) },
    },
  };
}

export function serviceMonitors(options: DeployOptions): ManifestObject[] {
  return [
    serviceMonitor(COMPONENT.controller, "brupop-controller", "main", options),
    serviceMonitor(COMPONENT.apiserver, "brupop-apiserver", "metrics", options),
  ];
}

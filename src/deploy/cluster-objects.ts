// The installation's shared objects: its namespace, the BottlerocketShadow CRD, the controller's PriorityClass.
import type { V1Namespace, V1PriorityClass } from "@kubernetes/client-node";
import { bottlerocketShadowCrd, updatePolicyCrd, type CustomResourceDefinition } from "../api/index.ts";
import { operatorLabels } from "./labels.ts";
import { NAMES } from "./names.ts";
import { CONTROLLER_PRIORITY_CLASS, type DeployOptions } from "./options.ts";

export function namespace(options: DeployOptions): V1Namespace {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: options.namespace,
      // The agent needs a hostPath socket, uid 0 and an SELinux type, which only the "privileged" Pod Security level
      // admits; say so explicitly rather than fail on clusters whose default level is stricter.
      labels: { ...operatorLabels(), "pod-security.kubernetes.io/enforce": "privileged" },
    },
  };
}

/**
 * The CRD with its conversion webhook at the API server's Service. With cert-manager, the CA is injected from the
 * Certificate that really signs the serving certificate (brupop pointed at `<ns>/root-certificate`, which no object is
 * called, so its caBundle was never filled in). With built-in TLS the API server patches the caBundle itself.
 */
export function crd(options: DeployOptions): CustomResourceDefinition {
  return bottlerocketShadowCrd({
    conversion: { webhook: { namespace: options.namespace, port: options.apiserverServicePort } },
    labels: operatorLabels(),
    ...(options.tls === "cert-manager"
      ? {
          annotations: { "cert-manager.io/inject-ca-from": `${options.namespace}/${NAMES.apiserverCertificateSecret}` },
        }
      : {}),
  });
}

/** The fleet policy (`kubectl get bottlerocketupdatepolicy`), a namespaced singleton the controller reads. */
export function policyCrd(): CustomResourceDefinition {
  return updatePolicyCrd({ labels: operatorLabels() });
}

export function controllerPriorityClass(): V1PriorityClass {
  return {
    apiVersion: "scheduling.k8s.io/v1",
    kind: "PriorityClass",
    metadata: { name: CONTROLLER_PRIORITY_CLASS, labels: operatorLabels() },
    value: 1_000_000,
    // brupop's Never kept: the controller waits for room rather than evicting someone's workload to get it.
    preemptionPolicy: "Never",
    globalDefault: false,
    description: "Bottlerocket update operator controller: scheduled ahead of ordinary workloads, never preempts them.",
  };
}

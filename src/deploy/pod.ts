// Pieces every pod template of the operator shares: where it may run, env from the downward API, probes, scratch space.
import type {
  V1Affinity,
  V1EnvVar,
  V1LocalObjectReference,
  V1NodeSelectorRequirement,
  V1Probe,
  V1ResourceRequirements,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { DeployOptions, Placement, ResourceRequirements } from "./options.ts";

/**
 * Where the operator's processes find TLS material (brupop's path,
 * docs/design/brupop-compatibility.md#names-and-labels).
 */
export const TLS_DIR = "/etc/brupop-tls-keys";
/** The image's working directory; dist/ holds the compiled entry points. */
export const APP_DIR = "/app";
export const entryPoint = (component: "agent" | "apiserver" | "controller"): string =>
  `${APP_DIR}/dist/${component}/main.js`;

/** Linux on the architectures the image is built for (brupop's node affinity). */
export function platformRequirements(): V1NodeSelectorRequirement[] {
  return [
    { key: "kubernetes.io/os", operator: "In", values: ["linux"] },
    { key: "kubernetes.io/arch", operator: "In", values: ["amd64", "arm64"] },
  ];
}

export function platformAffinity(extra: V1NodeSelectorRequirement[] = []): V1Affinity {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [...platformRequirements(), ...extra] }],
      },
    },
  };
}

/** Spread replicas over nodes when possible; soft so a small cluster still runs them all. */
export function spreadOverNodes(selector: Record<string, string>): NonNullable<V1Affinity["podAntiAffinity"]> {
  return {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" },
      },
    ],
  };
}

/** The optional pod-spec fields of a placement, present only when set (keeps the manifest free of empty keys). */
export function placementFields(placement: Placement): {
  tolerations?: V1Toleration[];
  nodeSelector?: Record<string, string>;
  priorityClassName?: string;
} {
  return {
    ...(placement.tolerations?.length ? { tolerations: placement.tolerations.map((t) => ({ ...t })) } : {}),
    ...(placement.nodeSelector && Object.keys(placement.nodeSelector).length > 0
      ? { nodeSelector: { ...placement.nodeSelector } }
      : {}),
    ...(placement.priorityClassName ? { priorityClassName: placement.priorityClassName } : {}),
  };
}

export function imagePullSecrets(options: DeployOptions): { imagePullSecrets?: V1LocalObjectReference[] } {
  // brupop's chart wrote `image_pull_secrets`, which the API server dropped
  // (docs/design/brupop-compatibility.md#installation).
  return options.imagePullSecrets.length > 0
    ? { imagePullSecrets: options.imagePullSecrets.map((name) => ({ name })) }
    : {};
}

export const env = (name: string, value: string | number): V1EnvVar => ({ name, value: String(value) });
export const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { fieldPath } },
});

/** An HTTP probe; the thresholds are spelled out so the manifest says what restarts a pod. */
export function httpProbe(
  path: string,
  port: string,
  timing: { period: number; failures: number; initialDelay?: number },
  scheme: "HTTP" | "HTTPS" = "HTTP",
): V1Probe {
  return {
    httpGet: { path, port, scheme },
    ...(timing.initialDelay ? { initialDelaySeconds: timing.initialDelay } : {}),
    periodSeconds: timing.period,
    timeoutSeconds: 2,
    failureThreshold: timing.failures,
  };
}

/** A small writable /tmp: the root filesystem is read-only, and Node or a library may still want a temp file. */
export const TMP_VOLUME: V1Volume = { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } };
export const TMP_MOUNT: V1VolumeMount = { name: "tmp", mountPath: "/tmp" };

export function containerResources(r: ResourceRequirements): V1ResourceRequirements {
  return {
    ...(r.requests ? { requests: { ...r.requests } } : {}),
    ...(r.limits ? { limits: { ...r.limits } } : {}),
  };
}

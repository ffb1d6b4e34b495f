// Everything an installation may vary, with brupop 1.4's defaults where brupop had the setting
// (docs/design/brupop-compatibility.md#installation), and resolveOptions() to fill in and check a partial set. Builders
// take the resolved form only, so each one reads plain values and never re-implements a default.
import type { V1PodAffinity, V1PodAntiAffinity, V1TopologySpreadConstraint } from "@kubernetes/client-node";
import {
  APISERVER_INTERNAL_PORT,
  APISERVER_SERVICE_PORT,
  COMPONENT,
  DNS_SUBDOMAIN,
  OPERATOR_NAMESPACE,
} from "../api/index.ts";
import { imageReference, type ImageSource } from "./image.ts";
import { selectorLabels } from "./labels.ts";

/** Kubernetes resource quantities, as in a container's `resources`. */
export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: "Exists" | "Equal";
  readonly value?: string;
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  readonly tolerationSeconds?: number;
}

/** Where a component's pods may run (brupop's `placement.<component>` values). */
export interface Placement {
  readonly tolerations?: readonly Toleration[];
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly priorityClassName?: string;
  readonly podAffinity?: Readonly<V1PodAffinity>;
  readonly podAntiAffinity?: Readonly<V1PodAntiAffinity>;
  readonly topologySpreadConstraints?: readonly Readonly<V1TopologySpreadConstraint>[];
}

/** brupop's `LOGGING_FORMATTER` values (src/logging renders each). */
export type LogFormatter = "json" | "full" | "compact" | "pretty";

/** brupop's logging settings, which every component honours (Helm `logging`). */
export interface LoggingOptions {
  readonly formatter: LogFormatter;
  /** `LOGGING_ANSI_ENABLED`: colours in the human-readable formats. */
  readonly ansiEnabled: boolean;
  /** `TRACING_FILTER_DIRECTIVE` per component: a level (`info`, `debug`, ...) or brupop's directive syntax. */
  readonly tracingFilter: Readonly<Record<"agent" | "apiserver" | "controller", string>>;
}

/**
 * How the API server gets its TLS certificate. `builtin` (default): it creates its own CA and serving certificate in
 * Secrets and injects the CA into the CRD's conversion webhook; no cert-manager needed. `cert-manager`: brupop's
 * Issuers and Certificates, with the CA injection pointing at a Certificate that exists.
 */
export type TlsMode = "builtin" | "cert-manager";

export interface DeployOptions {
  readonly namespace: string;
  /** Full image reference; or build one from a registry, see image.ts. */
  readonly image: string;
  readonly imagePullSecrets: readonly string[];
  readonly tls: TlsMode;
  /** `MAX_CONCURRENT_UPDATE`: a positive integer or `unlimited`. */
  readonly maxConcurrentUpdates: string;
  /** `SCHEDULER_CRON_EXPRESSION`, brupop's 6/7-field cron (seconds first, UTC). */
  readonly schedulerCronExpression: string;
  /** Deprecated `UPDATE_WINDOW_START/STOP` (brupop's chart had the values but never rendered them); set both or neither. */
  readonly updateWindow?: { readonly start: string; readonly stop: string };
  /** `EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC`; 0 disables load-balancer exclusion before a drain. */
  readonly excludeFromLbWaitTimeInSec: number;
  /** The cluster's DNS domain, for the API server's Service name (brupop hard-coded `cluster.local`, issue #436). */
  readonly clusterDomain: string;
  /** The API server's container port (`APISERVER_INTERNAL_PORT`) and its Service's port (`APISERVER_SERVICE_PORT`). */
  readonly apiserverInternalPort: number;
  readonly apiserverServicePort: number;
  readonly logging: LoggingOptions;
  readonly replicas: { readonly controller: number; readonly apiserver: number };
  /** Labels added to every pod template (brupop's `podLabels`). */
  readonly podLabels: Readonly<Record<string, string>>;
  readonly resources: Readonly<Record<"agent" | "apiserver" | "controller", ResourceRequirements>>;
  readonly placement: Readonly<Record<"agent" | "apiserver" | "controller", Placement>>;
  /** Emit prometheus-operator ServiceMonitors for the controller and the API server's metrics port. */
  readonly serviceMonitor: boolean;
  /** `AUTO_LABEL_NODES`: the controller labels Bottlerocket nodes itself (and may then patch Nodes). */
  readonly autoLabelNodes: boolean;
}

export type DeployOptionsInput = Partial<
  Omit<DeployOptions, "image" | "resources" | "placement" | "replicas" | "logging">
> & {
  /** A full reference, or the parts to build one from (registry, region, tag). */
  readonly image?: string | ImageSource;
  readonly resources?: Partial<DeployOptions["resources"]>;
  readonly placement?: Partial<DeployOptions["placement"]>;
  readonly replicas?: Partial<DeployOptions["replicas"]>;
  readonly logging?: Partial<Omit<LoggingOptions, "tracingFilter">> & {
    readonly tracingFilter?: Partial<LoggingOptions["tracingFilter"]>;
  };
};

/** The PriorityClass brupop gives the controller; the default placement of the controller refers to it. */
export const CONTROLLER_PRIORITY_CLASS = "brupop-controller-high-priority";

// The agent's limit, 80Mi, holds its ~15 MiB of anonymous memory and the ~43 MiB of the node binary's page cache
// charged to its cgroup, so the kernel need not reclaim: its working set (what the kubelet and `kubectl top`
// show, and what eviction weighs against the request) is then ~17 MiB through an update, and its request, 24Mi,
// covers that. Under brupop's 50Mi the same agent reads as a 34 MiB working set, the reclaim promoting the
// binary's pages to active (docs/adr/0008-agent-memory-limit.md). A 10m CPU limit (brupop's) would stretch Node's
// start-up (~0.15 s of CPU) to many seconds: 100m.
//
// The controller and the API server request what they were measured to hold at rest with 1,000 nodes (97 and
// 116 MiB RSS; 72 and 94 with 100), with margin. Limits are twice the measured peaks: 123-130 MiB for the
// controller in a 1,000-node rollout, 125 for the API server there and 133 answering the largest conversion
// reviews (bench/footprint.ts; the sizing table in docs/operations.md).
export const DEFAULT_RESOURCES: DeployOptions["resources"] = {
  agent: { requests: { cpu: "5m", memory: "24Mi" }, limits: { cpu: "100m", memory: "80Mi" } },
  apiserver: { requests: { cpu: "10m", memory: "128Mi" }, limits: { memory: "256Mi" } },
  controller: { requests: { cpu: "10m", memory: "128Mi" }, limits: { memory: "256Mi" } },
};

/** Soft anti-affinity: replicas on different nodes when possible, so a small cluster still runs them all. */
function spreadOverNodes(component: (typeof COMPONENT)[keyof typeof COMPONENT]): V1PodAntiAffinity {
  return {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: {
          labelSelector: { matchLabels: selectorLabels(component) },
          topologyKey: "kubernetes.io/hostname",
        },
      },
    ],
  };
}

export const DEFAULTS: DeployOptions = {
  namespace: OPERATOR_NAMESPACE,
  image: imageReference({}),
  imagePullSecrets: [],
  tls: "builtin",
  maxConcurrentUpdates: "1",
  schedulerCronExpression: "* * * * * * *",
  excludeFromLbWaitTimeInSec: 0,
  clusterDomain: "cluster.local",
  apiserverInternalPort: APISERVER_INTERNAL_PORT,
  apiserverServicePort: APISERVER_SERVICE_PORT,
  // JSON lines for log collectors (brupop's default was "pretty", with colours).
  logging: {
    formatter: "json",
    ansiEnabled: false,
    tracingFilter: { agent: "info", apiserver: "info", controller: "info" },
  },
  replicas: { controller: 2, apiserver: 3 },
  podLabels: {},
  resources: DEFAULT_RESOURCES,
  placement: {
    agent: {},
    apiserver: { podAntiAffinity: spreadOverNodes(COMPONENT.apiserver) },
    controller: {
      priorityClassName: CONTROLLER_PRIORITY_CLASS,
      podAntiAffinity: spreadOverNodes(COMPONENT.controller),
    },
  },
  serviceMonitor: false,
  autoLabelNodes: false,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Fills in defaults and rejects values that would produce an invalid or misleading manifest (RangeError). */
export function resolveOptions(input: DeployOptionsInput = {}): DeployOptions {
  const image = typeof input.image === "string" ? input.image : imageReference(input.image ?? {});
  const options: DeployOptions = {
    ...DEFAULTS,
    ...withoutUndefined(input),
    image,
    resources: { ...DEFAULTS.resources, ...withoutUndefined(input.resources ?? {}) },
    // Per component, like Helm's merge of values: setting tolerations keeps the default anti-affinity.
    placement: {
      agent: { ...DEFAULTS.placement.agent, ...withoutUndefined(input.placement?.agent ?? {}) },
      apiserver: { ...DEFAULTS.placement.apiserver, ...withoutUndefined(input.placement?.apiserver ?? {}) },
      controller: { ...DEFAULTS.placement.controller, ...withoutUndefined(input.placement?.controller ?? {}) },
    },
    replicas: { ...DEFAULTS.replicas, ...withoutUndefined(input.replicas ?? {}) },
    logging: {
      ...DEFAULTS.logging,
      ...withoutUndefined(input.logging ?? {}),
      tracingFilter: { ...DEFAULTS.logging.tracingFilter, ...withoutUndefined(input.logging?.tracingFilter ?? {}) },
    },
  };
  check(DNS_LABEL.test(options.namespace), `namespace ${JSON.stringify(options.namespace)} is not a DNS label`);
  check(image.trim() !== "" && !/\s/.test(image), `image ${JSON.stringify(image)} is not an image reference`);
  for (const secret of options.imagePullSecrets) {
    check(DNS_SUBDOMAIN.test(secret), `image pull secret ${JSON.stringify(secret)} is not a Secret name`);
  }
  // From untyped input (CLI flags, JSON) the union is not guaranteed.
  const tlsModes: readonly string[] = ["builtin", "cert-manager"];
  check(tlsModes.includes(options.tls), `tls must be builtin or cert-manager (got ${JSON.stringify(options.tls)})`);
  check(
    /^[1-9][0-9]*$/.test(options.maxConcurrentUpdates) || options.maxConcurrentUpdates.toLowerCase() === "unlimited",
    `max concurrent updates ${JSON.stringify(options.maxConcurrentUpdates)} must be a positive integer or "unlimited"`,
  );
  check(options.schedulerCronExpression.trim() !== "", "the scheduler cron expression is empty");
  check(
    Number.isInteger(options.excludeFromLbWaitTimeInSec) && options.excludeFromLbWaitTimeInSec >= 0,
    "exclude-from-LB wait time must be a whole number of seconds, 0 or more",
  );
  check(
    DNS_SUBDOMAIN.test(options.clusterDomain),
    `cluster domain ${JSON.stringify(options.clusterDomain)} is invalid`,
  );
  for (const [name, port] of Object.entries({
    "API server internal port": options.apiserverInternalPort,
    "API server service port": options.apiserverServicePort,
  })) {
    check(Number.isInteger(port) && port >= 1 && port <= 65_535, `${name} ${String(port)} is not a port number`);
  }
  const formatters: readonly string[] = ["json", "full", "compact", "pretty"];
  check(
    formatters.includes(options.logging.formatter),
    `logging formatter must be one of ${formatters.join(", ")} (got ${JSON.stringify(options.logging.formatter)})`,
  );
  for (const [component, filter] of Object.entries(options.logging.tracingFilter)) {
    check(
      filter.trim() !== "" && !/\s/.test(filter),
      `${component} tracing filter ${JSON.stringify(filter)} is invalid`,
    );
  }
  for (const [component, n] of Object.entries(options.replicas)) {
    check(Number.isInteger(n) && n >= 1, `${component} replicas must be a positive integer (got ${String(n)})`);
  }
  return options;
}

function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new RangeError(message);
}

/** `{...defaults, ...input}` must not let an explicit `undefined` erase a default. */
function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

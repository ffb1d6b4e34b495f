// Pieces every pod template of the operator shares: where it may run, env from the downward API, probes, scratch space.
import type {
  V1Affinity,
  V1EnvVar,
  V1LocalObjectReference,
  V1NodeSelectorRequirement,
  V1Probe,
  V1TopologySpreadConstraint,
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
/** brupop's name for that volume: an apply over brupop's pod templates replaces the volume instead of adding one. */
export const TLS_VOLUME = "bottlerocket-tls-keys";

// ---- The image contract: what a container of the operator runs (the image is built from these: scripts/image). ----

export type ComponentName = "agent" | "apiserver" | "controller";
export const COMPONENT_NAMES: readonly ComponentName[] = ["agent", "apiserver", "controller"];

/** The image's working directory. */
export const APP_DIR = "/app";
/** The exact Node.js runtime of the project (package.json's `node`), the image's ENTRYPOINT. */
export const NODE_BINARY = "/nodejs/bin/node";
/** A component's entry point in the image: one bundled ES module holding all the code that component loads. */
export const entryPoint = (component: ComponentName): string => `${APP_DIR}/dist/${component}/main.js`;
/**
 * brupop's executables, `./agent`, `./apiserver` and `./controller` in the image's working directory, as brupop's
 * manifests and charts name them in `command`. Each starts the component's entry point with its node flags; the
 * arguments after it (this project's `args`, when a `kubectl apply` left brupop's `command` in place) are ignored.
 */
export const brupopExecutable = (component: ComponentName): string => `${APP_DIR}/${component}`;

/**
 * Node flags per component, before its entry point. The agent's --jitless: V8 interprets and never compiles to
 * machine code, so the compilers' text pages are never touched: the agent needs ~4 MiB less page cache and 1 MiB
 * less heap (under a 32 MiB limit it still updates cleanly, without the flag it thrashes), for no measurable CPU (it
 * waits on I/O). It also disables WebAssembly, which the agent does not load. See docs/adr/0007-agent-memory.md.
 * The API server's --lite-mode (--jitless --optimize-for-size) too: its work is TLS and JSON, which are native code,
 * so interpreting the rest costs it little CPU, for 2.2 MiB less at rest. The controller's --max-opt=1: V8 compiles to
 * baseline machine code (Sparkplug) but never optimises (Maglev, TurboFan), whose code and work memory cost ~8 MiB
 * at rest; it waits on kube-apiserver, and 1,000-node rollouts kept their latency, which everything interpreted
 * did not (docs/adr/0009-runtime-flags.md).
 * At most one flag each: brupop's executables carry them on their `#!` line, which Linux passes as one argument
 * (the controller sets --optimize-for-size itself, in its main.ts).
 */
export const NODE_FLAGS: Readonly<Record<ComponentName, readonly string[]>> = {
  agent: ["--jitless"],
  apiserver: ["--lite-mode"],
  controller: ["--max-opt=1"],
};

/**
 * Environment the runtime reads, per component (docs/adr/0009-runtime-flags.md). glibc gives each thread that
 * allocates its own malloc arena (up to 8 per core); Node's V8 and libuv threads each keep one, partly touched: two
 * arenas save 1–2.5 MiB at rest. A fixed mmap threshold keeps blocks of 64 KiB and more (V8's compiler and parser
 * zones, large response buffers) out of the heap and gives them back when freed; by default glibc raises the
 * threshold to the largest block freed so far, and such blocks then stay as holes in the heap: 0.6–0.8 MiB less at
 * rest.
 */
const MALLOC_ENV = { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536" } as const;
export const RUNTIME_ENV: Readonly<Record<ComponentName, Readonly<Record<string, string>>>> = {
  agent: {},
  apiserver: MALLOC_ENV,
  controller: MALLOC_ENV,
};

/**
 * The container's command and args: the image's node, the component's node flags, its entry point. The command is
 * spelled out although it is the image's entry point: applied over a brupop installation that Helm made (no
 * last-applied annotation to tell kubectl what to remove), a pod template without `command` would keep brupop's
 * `./agent`, `./apiserver` or `./controller`.
 */
export function containerCommand(component: ComponentName): { command: string[]; args: string[] } {
  return { command: [NODE_BINARY], args: [...NODE_FLAGS[component], entryPoint(component)] };
}

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

/** The optional pod-spec fields of a placement, present only when set (keeps the manifest free of empty keys). */
export function placementFields(placement: Placement): {
  tolerations?: V1Toleration[];
  nodeSelector?: Record<string, string>;
  priorityClassName?: string;
  topologySpreadConstraints?: V1TopologySpreadConstraint[];
} {
  return {
    ...(placement.tolerations?.length ? { tolerations: placement.tolerations.map((t) => ({ ...t })) } : {}),
    ...(placement.nodeSelector && Object.keys(placement.nodeSelector).length > 0
      ? { nodeSelector: { ...placement.nodeSelector } }
      : {}),
    ...(placement.priorityClassName ? { priorityClassName: placement.priorityClassName } : {}),
    ...(placement.topologySpreadConstraints?.length
      ? {
          topologySpreadConstraints: structuredClone(
            placement.topologySpreadConstraints,
          ) as V1TopologySpreadConstraint[],
        }
      : {}),
  };
}

/** Node affinity on the platform, plus the placement's pod (anti-)affinity when set. */
export function placementAffinity(placement: Placement, extra: V1NodeSelectorRequirement[] = []): V1Affinity {
  const nonEmpty = (o: object | undefined) => o !== undefined && Object.keys(o).length > 0;
  return {
    ...platformAffinity(extra),
    ...(nonEmpty(placement.podAffinity) ? { podAffinity: structuredClone(placement.podAffinity) } : {}),
    ...(nonEmpty(placement.podAntiAffinity) ? { podAntiAffinity: structuredClone(placement.podAntiAffinity) } : {}),
  };
}

export function imagePullSecrets(options: DeployOptions): { imagePullSecrets?: V1LocalObjectReference[] } {
  // brupop's chart wrote `image_pull_secrets`, which the API server dropped
  // (docs/design/brupop-compatibility.md#installation).
  return options.imagePullSecrets.length > 0
    ? { imagePullSecrets: options.imagePullSecrets.map((name) => ({ name })) }
    : {};
}

export const env = (name: string, value: string | number | boolean): V1EnvVar => ({ name, value: String(value) });
/** The runtime's environment for `component` (RUNTIME_ENV) as container env. */
export const runtimeEnv = (component: ComponentName): V1EnvVar[] =>
  Object.entries(RUNTIME_ENV[component]).map(([name, value]) => env(name, value));
/**
 * A downward-API variable. `apiVersion: v1` is what the API server defaults it to; spelled out, the stored field
 * equals the applied one, so `kubectl apply --server-side` over brupop's objects (which left it to the default) finds
 * no conflict on it.
 */
export const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { apiVersion: "v1", fieldPath } },
});

/** brupop's logging variables, which every component reads (src/logging). */
export function loggingEnv(options: DeployOptions, component: ComponentName): V1EnvVar[] {
  return [
    env("LOGGING_FORMATTER", options.logging.formatter),
    env("LOGGING_ANSI_ENABLED", options.logging.ansiEnabled),
    env("TRACING_FILTER_DIRECTIVE", options.logging.tracingFilter[component]),
  ];
}

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

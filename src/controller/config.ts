// The controller's process configuration from its environment, parsed purely: every problem is reported at once,
// naming the variable. The fleet policy variables (MAX_CONCURRENT_UPDATE, SCHEDULER_CRON_EXPRESSION, …) are not
// parsed here: src/core's resolveFleetPolicy reads them together with the policy resource, which may override them.
import { OPERATOR_NAMESPACE } from "../api/constants.ts";
import { MANAGED_NODE_SELECTOR_ENV } from "../core/model.ts";
import { parseDuration } from "../core/duration.ts";
import type { ControllerEnv } from "../core/policy.ts";

export interface ControllerConfig {
  /** Where the BottlerocketShadows, the policy resource, the Lease and our Events live. */
  namespace: string;
  /** MY_NODE_NAME: the controller's own node, updated last. */
  controllerNodeName: string | null;
  /** This replica's name in the Lease (POD_NAME), unique among replicas. */
  identity: string;
  /** Extra label selector ANDed with the managed-node label (e.g. one node pool; tests use it to isolate). */
  extraNodeSelector: string | null;
  metrics: { host: string; port: number };
  lease: { name: string; durationMs: number; renewDeadlineMs: number; retryPeriodMs: number; renewPeriodMs: number };
  /** Every key is re-checked this often even without events. */
  resyncPeriodMs: number;
  /** Parallel reconciles (never two on one node; the fleet key is one of them). */
  workers: number;
  /** The whole environment, for resolveFleetPolicy. */
  policyEnv: ControllerEnv;
}

/**
 * Reconciles mostly wait on kube-apiserver, so several run at once: at 1,000 nodes, 4 left node keys waiting a
 * median 0.7 s for a worker and the status→spec p99 at 1.7 s; 16 brought both under a second on 2 cores
 * (docs/design/footprint.md#latency).
 */
export const DEFAULT_WORKERS = 16;

export const CONFIG_ENV = {
  namespace: "BRUPOP_NAMESPACE",
  nodeName: "MY_NODE_NAME",
  podName: "POD_NAME",
  nodeSelector: MANAGED_NODE_SELECTOR_ENV,
  metricsPort: "METRICS_PORT",
  leaseName: "LEADER_ELECTION_LEASE_NAME",
  leaseDuration: "LEADER_ELECTION_LEASE_DURATION",
  renewDeadline: "LEADER_ELECTION_RENEW_DEADLINE",
  retryPeriod: "LEADER_ELECTION_RETRY_PERIOD",
  renewPeriod: "LEADER_ELECTION_RENEW_PERIOD",
  resyncPeriod: "RESYNC_PERIOD",
  workers: "RECONCILE_WORKERS",
} as const;

/** What a leader leaves of its renew deadline for retries, when the renew period is not set. */
const RENEW_RETRY_WINDOW_MS = 10_000;
export const DEFAULT_LEASE_NAME = "brupop-controller-leader";

export class ConfigError extends Error {
  override name = "ConfigError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid controller configuration:\n  - ${problems.join("\n  - ")}`);
    this.problems = problems;
  }
}

export interface ConfigDefaults {
  /** The namespace of the pod's service account, when running in a cluster. */
  serviceAccountNamespace?: string;
  /** Fallback identity (e.g. the host name) when POD_NAME is unset. */
  hostname?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// One `key=value`, `key!=value`, `key` or `!key` term of a label selector (set-based terms are not needed here).
const SELECTOR_TERM =
  /^!?[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?((==?|!=)[A-Za-z0-9]?([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function value(env: ControllerEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? undefined : raw.trim();
}

/** Parses the environment; throws a ConfigError listing every problem. */
export function parseControllerConfig(env: ControllerEnv, defaults: ConfigDefaults = {}): ControllerConfig {
  const problems: string[] = [];

  const namespace = value(env, CONFIG_ENV.namespace) ?? defaults.serviceAccountNamespace ?? OPERATOR_NAMESPACE;
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
    problems.push(`${CONFIG_ENV.namespace}: "${namespace}" is not a namespace name`);
  }

  const controllerNodeName = value(env, CONFIG_ENV.nodeName) ?? null;
  if (controllerNodeName === null) {
    problems.push(`${CONFIG_ENV.nodeName} is required (the controller's own node; set it from spec.nodeName)`);
  } else if (!DNS_SUBDOMAIN.test(controllerNodeName)) {
    problems.push(`${CONFIG_ENV.nodeName}: "${controllerNodeName}" is not a node name`);
  }

  const identity = value(env, CONFIG_ENV.podName) ?? defaults.hostname;
  if (identity === undefined) problems.push(`${CONFIG_ENV.podName} is required (this replica's name in the Lease)`);

  const extraNodeSelector = value(env, CONFIG_ENV.nodeSelector) ?? null;
  if (extraNodeSelector !== null) {
    for (const term of extraNodeSelector.split(",")) {
      if (!SELECTOR_TERM.test(term.trim())) {
        problems.push(`${CONFIG_ENV.nodeSelector}: "${term}" is not a label selector term such as pool=blue`);
      }
    }
  }

  const port = integer(env, CONFIG_ENV.metricsPort, 8080, 1, 65535, problems);
  const workers = integer(env, CONFIG_ENV.workers, DEFAULT_WORKERS, 1, 64, problems);
  // Longer than client-go's 15/10/2 s so that an idle leader renews about 140 times an hour, not 1,800, while a
  // dead leader is still replaced within 45 s (docs/design/footprint.md).
  const durationMs = millis(env, CONFIG_ENV.leaseDuration, 40_000, problems);
  const renewDeadlineMs = millis(env, CONFIG_ENV.renewDeadline, 35_000, problems);
  const retryPeriodMs = millis(env, CONFIG_ENV.retryPeriod, 2_000, problems);
  // By default a leader renews when 10 s of its deadline are left for retries (never more often than it retries).
  const renewPeriodMs = millis(
    env,
    CONFIG_ENV.renewPeriod,
    Math.max(retryPeriodMs, renewDeadlineMs - RENEW_RETRY_WINDOW_MS),
    problems,
  );
  const resyncPeriodMs = millis(env, CONFIG_ENV.resyncPeriod, 5 * 60_000, problems);
  // client-go's rules: a leader must give up (renew deadline) before others may take over (lease duration).
  if (renewDeadlineMs >= durationMs) {
    problems.push(`${CONFIG_ENV.renewDeadline} must be shorter than ${CONFIG_ENV.leaseDuration}`);
  }
  if (retryPeriodMs >= renewDeadlineMs) {
    problems.push(`${CONFIG_ENV.retryPeriod} must be shorter than ${CONFIG_ENV.renewDeadline}`);
  }
  if (renewPeriodMs >= renewDeadlineMs) {
    problems.push(`${CONFIG_ENV.renewPeriod} must be shorter than ${CONFIG_ENV.renewDeadline}`);
  }
  const leaseName = value(env, CONFIG_ENV.leaseName) ?? DEFAULT_LEASE_NAME;
  if (!DNS_SUBDOMAIN.test(leaseName)) problems.push(`${CONFIG_ENV.leaseName}: "${leaseName}" is not an object name`);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    namespace,
    controllerNodeName,
    identity: identity ?? "",
    extraNodeSelector,
    // brupop binds [::] when the cluster is IPv6 (KUBERNETES_SERVICE_HOST holds a colon).
    metrics: { host: (env.KUBERNETES_SERVICE_HOST ?? "").includes(":") ? "::" : "0.0.0.0", port },
    lease: { name: leaseName, durationMs, renewDeadlineMs, retryPeriodMs, renewPeriodMs },
    resyncPeriodMs,
    workers,
    policyEnv: env,
  };
}

function integer(
  env: ControllerEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const text = value(env, name);
  if (text === undefined) return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`${name}: "${text}" is not a whole number from ${min} to ${max}`);
    return fallback;
  }
  return n;
}

function millis(env: ControllerEnv, name: string, fallbackMs: number, problems: string[]): number {
  const text = value(env, name);
  if (text === undefined) return fallbackMs;
  try {
    const seconds = parseDuration(text);
    if (seconds <= 0) throw new Error("must be longer than 0s");
    return seconds * 1000;
  } catch (error) {
    problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return fallbackMs;
  }
}

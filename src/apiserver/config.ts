// The API server's configuration: brupop 1.4's environment (APISERVER_INTERNAL_PORT, KUBERNETES_SERVICE_HOST,
// TERMINATION_LOG, the TLS files under /etc/brupop-tls-keys) plus our additions, all optional with brupop-compatible
// defaults. Pure: main.ts passes the environment and the namespace file's content; every problem is reported at
// once, naming the variable and what it should look like.
import { OPERATOR_NAMESPACE } from "../api/constants.ts";
import { parseDuration } from "../core/duration.ts";
import { LabelSelectorError, parseLabelSelector, type LabelRequirement } from "../core/drain-plan-selector.ts";
import { AGENT_BODY_LIMIT_BYTES } from "./limits.ts";
import { parseLogSettings, type LogSettings } from "../logging/settings.ts";

export const AGENT_SERVICE_ACCOUNT = "brupop-agent-service-account";

export type TlsConfig =
  | { mode: "files"; certPath: string; keyPath: string; caPath: string; reloadIntervalMs: number }
  | {
      mode: "builtin";
      /** Secret holding the CA certificate and key (only the API server reads it). */
      caSecret: string;
      /** Secret holding the serving certificate (tls.crt, tls.key, ca.crt). */
      servingSecret: string;
      /** Secret with ca.crt that agents mount (brupop's name for it). */
      publishSecret: string;
      /** brupop's cert-manager CA Secret, adopted when caSecret does not exist; "" (set: none) adopts nothing. */
      adoptCaSecret: string;
      serviceName: string;
      clusterDomain: string;
      /** CRDs whose conversion webhook caBundle is kept current. */
      crdNames: string[];
      /** Regular re-check of the certificates; checks also run when something falls due (a rotation phase). */
      checkIntervalMs: number;
      /** How long a new CA is published next to the current one before the serving certificate switches to it. */
      caPropagationDelayMs: number;
    };

export interface ApiServerConfig {
  host: string;
  port: number;
  metricsPort: number;
  namespace: string;
  agentServiceAccount: string;
  tls: TlsConfig;
  drain: {
    timeoutMs: number;
    concurrency: number;
    gracePeriodSeconds: number | undefined;
    podSelector: LabelRequirement[];
    skipWaitForDeleteTimeoutSeconds: number | undefined;
  };
  syncDrainTimeoutMs: number;
  tokenCache: { positiveTtlMs: number; negativeTtlMs: number; maxEntries: number };
  /** undefined: no per-node limit. */
  rateLimit: { perMinute: number; burst: number } | undefined;
  bodyLimitBytes: number;
  /** brupop's LOGGING_FORMATTER, LOGGING_ANSI_ENABLED and TRACING_FILTER_DIRECTIVE, and LOG_LEVEL (src/logging). */
  logging: LogSettings;
  terminationLogPath: string;
  shutdownGraceMs: number;
}

export type ConfigResult = { ok: true; config: ApiServerConfig } | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

class Reader {
  readonly errors: string[] = [];
  readonly #env: Env;
  constructor(env: Env) {
    this.#env = env;
  }

  raw(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value === "" ? undefined : value;
  }

  integer(name: string, fallback: number | undefined, min: number, max: number): number | undefined {
    const text = this.raw(name);
    if (text === undefined) {
      if (fallback === undefined) this.errors.push(`${name} is required (a whole number from ${min} to ${max})`);
      return fallback;
    }
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      this.errors.push(`${name}=${JSON.stringify(text)} must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  /** Seconds, from a duration such as 90s or 10m. */
  seconds(name: string, fallback: number | undefined): number | undefined {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    try {
      return parseDuration(text);
    } catch (err) {
      this.errors.push(`${name}: ${(err as Error).message}`);
      return fallback;
    }
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const text = this.raw(name)?.toLowerCase();
    if (text === undefined) return fallback;
    if ((allowed as readonly string[]).includes(text)) return text as T;
    this.errors.push(`${name}=${JSON.stringify(text)} must be one of ${allowed.join(", ")}`);
    return fallback;
  }

  name(name: string, fallback: string): string {
    const text = this.raw(name) ?? fallback;
    if (!DNS_LABEL.test(text) || text.length > 63) {
      this.errors.push(`${name}=${JSON.stringify(text)} must be a DNS label (lower-case letters, digits, '-')`);
    }
    return text;
  }
}

/**
 * Parses the environment. `serviceAccountNamespace` is the content of the pod's service-account namespace file
 * (undefined outside a pod); `POD_NAMESPACE` overrides it.
 */
export function parseApiServerConfig(env: Env, serviceAccountNamespace?: string): ConfigResult {
  const r = new Reader(env);
  const port = r.integer("APISERVER_INTERNAL_PORT", undefined, 1, 65535) ?? 0;
  const metricsPort = r.integer("APISERVER_METRICS_PORT", 9090, 1, 65535) ?? 9090;
  if (metricsPort === port) r.errors.push(`APISERVER_METRICS_PORT must differ from APISERVER_INTERNAL_PORT (${port})`);
  // brupop: an IPv6 cluster (a ':' in the API server's address) listens on [::], otherwise on 0.0.0.0.
  const host = r.raw("APISERVER_BIND_ADDRESS") ?? (r.raw("KUBERNETES_SERVICE_HOST")?.includes(":") ? "::" : "0.0.0.0");

  const namespace = r.raw("POD_NAMESPACE") ?? serviceAccountNamespace?.trim() ?? OPERATOR_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) r.errors.push(`namespace ${JSON.stringify(namespace)} is not a valid namespace name`);
  const agentServiceAccount = r.raw("AGENT_SERVICE_ACCOUNT") ?? AGENT_SERVICE_ACCOUNT;

  const mode = r.oneOf("APISERVER_TLS_MODE", ["files", "builtin"] as const, "files");
  let tls: TlsConfig;
  if (mode === "files") {
    const dir = (r.raw("APISERVER_TLS_DIR") ?? "/etc/brupop-tls-keys").replace(/\/+$/, "");
    tls = {
      mode,
      certPath: r.raw("APISERVER_TLS_CERT_FILE") ?? `${dir}/tls.crt`,
      keyPath: r.raw("APISERVER_TLS_KEY_FILE") ?? `${dir}/tls.key`,
      caPath: r.raw("APISERVER_TLS_CA_FILE") ?? `${dir}/ca.crt`,
      reloadIntervalMs: (r.seconds("APISERVER_TLS_RELOAD_INTERVAL", 60) ?? 60) * 1000,
    };
  } else {
    tls = {
      mode,
      caSecret: r.name("APISERVER_CA_SECRET", "brupop-apiserver-ca"),
      servingSecret: r.name("APISERVER_TLS_SECRET", "brupop-apiserver-certificate"),
      publishSecret: r.name("APISERVER_CA_PUBLISH_SECRET", "brupop-apiserver-client-certificate"),
      adoptCaSecret: ((name) => (name === "none" ? "" : name))(
        r.name("APISERVER_ADOPT_CA_SECRET", "brupop-root-ca-secret"),
      ),
      serviceName: r.name("APISERVER_SERVICE_NAME", "brupop-apiserver"),
      clusterDomain: r.raw("CLUSTER_DOMAIN") ?? "cluster.local",
      crdNames: (r.raw("APISERVER_CONVERSION_CRDS") ?? "bottlerocketshadows.brupop.bottlerocket.aws")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
      checkIntervalMs: (r.seconds("APISERVER_TLS_CHECK_INTERVAL", 300) ?? 300) * 1000,
      // Agents read the bundle from a mounted Secret that the kubelet refreshes after a minute or two.
      caPropagationDelayMs: (r.seconds("APISERVER_CA_PROPAGATION_DELAY", 600) ?? 600) * 1000,
    };
    if (tls.checkIntervalMs === 0) r.errors.push("APISERVER_TLS_CHECK_INTERVAL must be longer than 0s");
  }

  const drainTimeout = r.seconds("DRAIN_TIMEOUT", 600) ?? 600;
  if (drainTimeout === 0) r.errors.push("DRAIN_TIMEOUT must be longer than 0s: every drain is bounded");
  let podSelector: LabelRequirement[] = [];
  try {
    podSelector = parseLabelSelector(r.raw("DRAIN_POD_SELECTOR") ?? "");
  } catch (err) {
    if (!(err instanceof LabelSelectorError)) throw err;
    r.errors.push(`DRAIN_POD_SELECTOR: ${err.message}`);
  }
  const graceText = r.raw("DRAIN_GRACE_PERIOD_SECONDS");
  const gracePeriodSeconds =
    graceText === undefined ? undefined : r.integer("DRAIN_GRACE_PERIOD_SECONDS", 0, 0, 86_400);
  const skipWait = r.seconds("DRAIN_SKIP_WAIT_FOR_DELETE_TIMEOUT", undefined);
  // The synchronous route answers a little after the drain's own deadline, so it reports the drain's verdict.
  const syncDrainTimeout = r.seconds("SYNC_DRAIN_TIMEOUT", drainTimeout + 30) ?? drainTimeout + 30;

  const perMinute = r.integer("AGENT_RATE_LIMIT_PER_MINUTE", 60, 0, 1_000_000) ?? 60;
  const burst = r.integer("AGENT_RATE_LIMIT_BURST", 30, 1, 1_000_000) ?? 30;

  const logging = parseLogSettings(env, "apiserver");
  if (!logging.ok) r.errors.push(...logging.errors);

  const concurrency = r.integer("DRAIN_CONCURRENCY", 5, 1, 100) ?? 5;
  const tokenCache = {
    positiveTtlMs: (r.seconds("TOKEN_CACHE_TTL", 300) ?? 300) * 1000,
    negativeTtlMs: (r.seconds("TOKEN_CACHE_NEGATIVE_TTL", 10) ?? 10) * 1000,
    maxEntries: r.integer("TOKEN_CACHE_SIZE", 10_000, 1, 10_000_000) ?? 10_000,
  };
  const bodyLimitBytes =
    r.integer("APISERVER_BODY_LIMIT_BYTES", AGENT_BODY_LIMIT_BYTES, 1024, 64 * 1024 * 1024) ?? AGENT_BODY_LIMIT_BYTES;
  const shutdownGraceMs = (r.seconds("SHUTDOWN_GRACE", 25) ?? 25) * 1000;

  if (r.errors.length > 0 || !logging.ok) return { ok: false, errors: r.errors };
  return {
    ok: true,
    config: {
      host,
      port,
      metricsPort,
      namespace,
      agentServiceAccount,
      tls,
      drain: {
        timeoutMs: drainTimeout * 1000,
        concurrency,
        gracePeriodSeconds,
        podSelector,
        skipWaitForDeleteTimeoutSeconds: skipWait,
      },
      syncDrainTimeoutMs: syncDrainTimeout * 1000,
      tokenCache,
      rateLimit: perMinute === 0 ? undefined : { perMinute, burst },
      bodyLimitBytes,
      logging: logging.settings,
      terminationLogPath: r.raw("TERMINATION_LOG") ?? "/dev/termination-log",
      shutdownGraceMs,
    },
  };
}

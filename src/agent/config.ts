// The agent's configuration, parsed purely from its environment. brupop 1.4's variables keep their meaning
// (MY_NODE_NAME, APISERVER_SERVICE_PORT, EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC, TERMINATION_LOG); the rest are ours and
// optional. Every problem is reported at once, each naming its variable.
import { AGENT_TOKEN_PATH, APISERVER_SERVICE_NAME, DNS_SUBDOMAIN, OPERATOR_NAMESPACE } from "../api/constants.ts";
import { HOST_BOOT_ID_PATH } from "../host/boot.ts";
import { DEFAULT_HOST_API_SOCKET } from "../host/types.ts";

/** Where the API server's CA is mounted (brupop: `/etc/brupop-tls-keys/ca.crt`). */
export const APISERVER_CA_PATH = "/etc/brupop-tls-keys/ca.crt";
/** The pod's own service account, used only to watch its brs and Node. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeAccess {
  /** `https://<KUBERNETES_SERVICE_HOST>:<KUBERNETES_SERVICE_PORT>`, or KUBE_API_URL. */
  url: string;
  /** Re-read on every request: projected service-account tokens rotate. */
  tokenFile: string;
  /** Null when the URL is plain http (tests). */
  caFile: string | null;
}

export interface ApiServerAccess {
  url: string;
  /** Projected token for audience brupop-apiserver, re-read on every request (brupop 1.4 does the same). */
  tokenFile: string;
  /** Re-read on every request, so a renewed CA is picked up without a restart. Null for plain http (tests). */
  caFile: string | null;
}

export interface AgentConfig {
  nodeName: string;
  namespace: string;
  kube: KubeAccess;
  apiServer: ApiServerAccess;
  hostSocketPath: string;
  /** Null disables the boot-ID evidence (then only host evidence tells a reboot happened). */
  bootIdPath: string | null;
  /** 0 = off (brupop's default). Otherwise label the Node out of external load balancers and wait before draining. */
  excludeFromLbWaitMs: number;
  terminationLogPath: string;
  /** Port of the /livez and /readyz probes; null (AGENT_HEALTH_PORT unset) serves none. */
  healthPort: number | null;
  timing: AgentTiming;
}

export interface AgentTiming {
  /** How often the host is re-observed when nothing else wakes the agent (brupop: every 5 s). */
  syncIntervalMs: number;
  /** Minimum time between two `refresh-updates` (brupop: 120 s). */
  updateCheckIntervalMs: number;
  /** Bound on an ordinary API server call (create, status, uncordon, labels). */
  requestTimeoutMs: number;
  /** Bound on the whole cordon-and-drain (brupop: none). */
  drainTimeoutMs: number;
  /** Pause between polls of the API server's asynchronous drain. */
  drainPollIntervalMs: number;
  /** After asking for a reboot: how long the host may take to go down and come back before it is a failure. */
  rebootTimeoutMs: number;
  /** Server-side timeout asked for each watch request (randomised up to twice it); the stream is re-opened after it. */
  watchTimeoutSeconds: number;
}

export const DEFAULT_TIMING: AgentTiming = Object.freeze({
  syncIntervalMs: 5_000,
  updateCheckIntervalMs: 120_000,
  requestTimeoutMs: 30_000,
  drainTimeoutMs: 600_000,
  drainPollIntervalMs: 2_000,
  rebootTimeoutMs: 600_000,
  watchTimeoutSeconds: 12 * 3600, // hours, not client-go's minutes: an idle fleet's agents stay off the wire
});

export class AgentConfigError extends Error {
  override readonly name = "AgentConfigError";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid agent configuration:\n  - ${problems.join("\n  - ")}`);
    this.problems = problems;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads a file's text; injected so parsing stays pure (the namespace may come from the service-account mount). */
export type ReadText = (path: string) => string | undefined;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses the agent's environment. `readText` is consulted only for the namespace file when no namespace variable
 * is set. Throws AgentConfigError listing every problem.
 */
export function parseAgentConfig(env: Env, readText: ReadText = () => undefined): AgentConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };

  const nodeName = get("MY_NODE_NAME");
  if (nodeName === undefined) problems.push("MY_NODE_NAME is required (the downward API's spec.nodeName)");
  else if (!DNS_SUBDOMAIN.test(nodeName) || nodeName.length > 249) {
    problems.push(`MY_NODE_NAME ${JSON.stringify(nodeName)} is not a valid node name`);
  }

  const saDir = get("KUBE_SERVICE_ACCOUNT_DIR") ?? SERVICE_ACCOUNT_DIR;
  const namespace = get("POD_NAMESPACE") ?? readText(`${saDir}/namespace`)?.trim() ?? OPERATOR_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) problems.push(`namespace ${JSON.stringify(namespace)} is not a valid namespace`);

  // The API server: an explicit URL wins; otherwise the Service name, with the cluster domain only if given.
  // `<svc>.<ns>.svc` resolves through the pod's DNS search path in any cluster domain (brupop hard-coded
  // cluster.local, issue #436); KUBERNETES_SERVICE_CLUSTER_DOMAIN is brupop's later fix (PR #736).
  let apiServerUrl = get("APISERVER_URL");
  if (apiServerUrl !== undefined) {
    const problem = urlProblem(apiServerUrl);
    if (problem) problems.push(`APISERVER_URL ${problem}`);
    apiServerUrl = apiServerUrl.replace(/\/+$/, "");
  } else {
    const port = parsePort(get("APISERVER_SERVICE_PORT"));
    if (typeof port === "string") problems.push(`APISERVER_SERVICE_PORT ${port}`);
    const domain = get("KUBERNETES_SERVICE_CLUSTER_DOMAIN")?.replace(/^\.+|\.+$/g, "");
    if (domain !== undefined && !DNS_SUBDOMAIN.test(domain)) {
      problems.push(`KUBERNETES_SERVICE_CLUSTER_DOMAIN ${JSON.stringify(domain)} is not a DNS domain`);
    }
    const host = `${APISERVER_SERVICE_NAME}.${namespace}.svc${domain === undefined ? "" : `.${domain}`}`;
    apiServerUrl = `https://${host}:${typeof port === "number" ? port : 0}`;
  }

  let kubeUrl = get("KUBE_API_URL");
  if (kubeUrl !== undefined) {
    const problem = urlProblem(kubeUrl);
    if (problem) problems.push(`KUBE_API_URL ${problem}`);
    kubeUrl = kubeUrl.replace(/\/+$/, "");
  } else {
    const host = get("KUBERNETES_SERVICE_HOST");
    const port = parsePort(get("KUBERNETES_SERVICE_PORT"));
    if (host === undefined) problems.push("KUBERNETES_SERVICE_HOST is required (or set KUBE_API_URL)");
    if (typeof port === "string") problems.push(`KUBERNETES_SERVICE_PORT ${port}`);
    const bracketed = host?.includes(":") ? `[${host}]` : host;
    kubeUrl = `https://${bracketed ?? "unset"}:${typeof port === "number" ? port : 0}`;
  }

  const excludeFromLbWaitMs = parseLbWait(env.EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC);

  const timing: Record<keyof AgentTiming, number> = { ...DEFAULT_TIMING };
  const seconds: [keyof AgentTiming, string][] = [
    ["syncIntervalMs", "AGENT_SYNC_INTERVAL_SECONDS"],
    ["updateCheckIntervalMs", "UPDATE_CHECK_INTERVAL_SECONDS"],
    ["requestTimeoutMs", "APISERVER_REQUEST_TIMEOUT_SECONDS"],
    ["drainTimeoutMs", "DRAIN_TIMEOUT_SECONDS"],
    ["drainPollIntervalMs", "DRAIN_POLL_INTERVAL_SECONDS"],
    ["rebootTimeoutMs", "REBOOT_TIMEOUT_SECONDS"],
  ];
  for (const [key, name] of seconds) {
    const text = get(name);
    if (text === undefined) continue;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0)
      problems.push(`${name} must be a positive number of seconds, got ${text}`);
    else timing[key] = Math.round(value * 1000);
  }

  const healthText = get("AGENT_HEALTH_PORT");
  const health = healthText === undefined ? null : parsePort(healthText);
  if (typeof health === "string") problems.push(`AGENT_HEALTH_PORT ${health}`);

  const boot = env.HOST_BOOT_ID_PATH;
  const isHttp = (url: string): boolean => url.startsWith("http://");

  if (problems.length > 0) throw new AgentConfigError(problems);
  return {
    nodeName: nodeName ?? "",
    namespace,
    kube: {
      url: kubeUrl,
      tokenFile: get("KUBE_TOKEN_FILE") ?? `${saDir}/token`,
      caFile: isHttp(kubeUrl) ? null : (get("KUBE_CA_FILE") ?? `${saDir}/ca.crt`),
    },
    apiServer: {
      url: apiServerUrl,
      tokenFile: get("APISERVER_TOKEN_FILE") ?? AGENT_TOKEN_PATH,
      caFile: isHttp(apiServerUrl) ? null : (get("APISERVER_CA_FILE") ?? APISERVER_CA_PATH),
    },
    hostSocketPath: get("HOST_API_SOCKET") ?? DEFAULT_HOST_API_SOCKET,
    // Set but empty turns boot-ID evidence off; unset uses the host kernel's boot ID.
    bootIdPath: boot === undefined ? HOST_BOOT_ID_PATH : boot.trim() === "" ? null : boot.trim(),
    excludeFromLbWaitMs,
    terminationLogPath: get("TERMINATION_LOG") ?? "/dev/termination-log",
    healthPort: typeof health === "number" ? health : null,
    timing,
  };
}

function parsePort(text: string | undefined): number | string {
  if (text === undefined) return "is required";
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) return `must be a port number (1-65535), got ${text}`;
  return port;
}

function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a URL: ${text}`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `must be http(s), got ${url.protocol}`;
  if (url.pathname !== "/" && url.pathname !== "") return `must not have a path, got ${url.pathname}`;
  return undefined;
}

/** brupop: only an integer > 0 enables the feature; anything else (missing, garbage) silently means off. */
function parseLbWait(text: string | undefined): number {
  const trimmed = text?.trim() ?? "";
  if (!/^\d+$/.test(trimmed)) return 0;
  return Number(trimmed) * 1000;
}

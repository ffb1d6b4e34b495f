// Where a component's Kubernetes client connects and how it authenticates, as kubectl and client-go find it:
// $KUBECONFIG (first file), ~/.kube/config, else in-cluster (the service account). Only what kubectl users and our
// deployments use: certificate-authority(-data), client-certificate(-data)/client-key(-data), token/tokenFile,
// insecure-skip-tls-verify, tls-server-name and the current context (kubeconfig.ts). Exec and auth-provider plugins
// are refused with a clear error rather than silently ignored.
import { readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface Connection {
  /** The API server's URL, e.g. `https://10.0.0.1:443` (may carry a path prefix). */
  readonly server: string;
  /** PEM CA bundle to trust; undefined: the system roots. */
  readonly ca?: string | undefined;
  /** PEM client certificate and key (mutual TLS). */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly insecureSkipTlsVerify?: boolean | undefined;
  readonly tlsServerName?: string | undefined;
  /** The bearer token for the next request (a token file is read again once a minute); undefined: none. */
  readonly token?: (() => Promise<string>) | undefined;
}

/**
 * The connection kubectl would use: $KUBECONFIG, ~/.kube/config, then in-cluster, and without any of them
 * http://localhost:8080 (kubectl's and client-node's last resort). A component then starts, serves its probes and
 * reports every Kubernetes call it cannot make, rather than exiting before anyone can see why.
 */
export async function loadConnection(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Connection> {
  const path = kubeconfigPath(env);
  if (path !== undefined) {
    // Imported only here: a pod's connection is in-cluster, and the YAML parser is 0.6 MiB of memory it never needs.
    const { connectionFromKubeconfig } = await import("./kubeconfig.ts");
    return connectionFromKubeconfig(readFileSync(path, "utf8"), dirname(path));
  }
  if (env.KUBERNETES_SERVICE_HOST !== undefined) return inClusterConnection(env);
  return { server: "http://localhost:8080" };
}

function kubeconfigPath(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const candidates = [
    ...(env.KUBECONFIG ?? "").split(":").filter((p) => p !== ""),
    join(env.HOME ?? homedir(), ".kube", "config"),
  ];
  return candidates.find((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/** The service account's connection: the token file is re-read when it changes (bound tokens rotate). */
export function inClusterConnection(
  env: Readonly<Record<string, string | undefined>> = process.env,
  dir = SERVICE_ACCOUNT_DIR,
): Connection {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    token: tokenFile(join(dir, "token")),
  };
}

/**
 * How long a token read from its file is used before the file is read again. client-go's file token source reads it
 * once a minute too; the kubelet replaces a bound token at 80 % of its life and the old one stays valid until it
 * expires, so a minute late is never too late. Looking at the file on every request (a stat each) was a tenth of the
 * controller's and the API server's CPU profiles in a 1,000-node rollout (docs/design/footprint.md#latency).
 */
export const TOKEN_REREAD_MS = 60_000;

/** A token read from `path`, read again once the last read is TOKEN_REREAD_MS old (`now`: ms since the epoch). */
export function tokenFile(path: string, now: () => number = Date.now): () => Promise<string> {
  let cached: { readAt: number; token: string } | undefined;
  return async () => {
    const at = now();
    // A read stamped later than `at` means the clock was set back: read again rather than trust it for as long.
    if (cached !== undefined && cached.readAt <= at && at - cached.readAt < TOKEN_REREAD_MS) return cached.token;
    const token = (await readFile(path, "utf8")).trim();
    if (token === "") throw new Error(`token file ${path} is empty`);
    cached = { readAt: at, token };
    return token;
  };
}

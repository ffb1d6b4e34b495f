// Where a component's Kubernetes client connects and how it authenticates, as kubectl and client-go find it:
// $KUBECONFIG (first file), ~/.kube/config, else in-cluster (the service account). Only what kubectl users and our
// deployments use: certificate-authority(-data), client-certificate(-data)/client-key(-data), token/tokenFile,
// insecure-skip-tls-verify, tls-server-name and the current context. Exec and auth-provider plugins are refused
// with a clear error rather than silently ignored.
import { readFileSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

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
  /** The bearer token for the next request (re-read when its file changes); undefined: none. */
  readonly token?: (() => Promise<string>) | undefined;
}

/**
 * The connection kubectl would use: $KUBECONFIG, ~/.kube/config, then in-cluster, and without any of them
 * http://localhost:8080 (kubectl's and client-node's last resort). A component then starts, serves its probes and
 * reports every Kubernetes call it cannot make, rather than exiting before anyone can see why.
 */
export function loadConnection(env: Readonly<Record<string, string | undefined>> = process.env): Connection {
  const path = kubeconfigPath(env);
  if (path !== undefined) return connectionFromKubeconfig(readFileSync(path, "utf8"), dirname(path));
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

/** A token read from `path`, read again only when the file's modification time or size changes. */
export function tokenFile(path: string): () => Promise<string> {
  let cached: { stamp: string; token: string } | undefined;
  return async () => {
    const info = await stat(path);
    const stamp = `${info.mtimeMs}/${info.size}/${info.ino}`;
    if (cached?.stamp !== stamp) {
      const token = (await readFile(path, "utf8")).trim();
      if (token === "") throw new Error(`token file ${path} is empty`);
      cached = { stamp, token };
    }
    return cached.token;
  };
}

interface Named<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}
type Entry = Record<string, unknown>;

/**
 * The current context's connection from a kubeconfig's text (YAML or JSON); relative file paths are resolved
 * against `baseDir`, as kubectl resolves them against the kubeconfig's directory.
 */
export function connectionFromKubeconfig(text: string, baseDir = process.cwd()): Connection {
  const config = (parse(text) ?? {}) as {
    "current-context"?: string;
    clusters?: Named<Entry>[];
    users?: Named<Entry>[];
    contexts?: Named<Entry>[];
  };
  const contextName = config["current-context"];
  if (contextName === undefined || contextName === "") throw new Error("kubeconfig: no current-context");
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (context === undefined) throw new Error(`kubeconfig: context "${contextName}" not found`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (cluster === undefined) throw new Error(`kubeconfig: cluster "${String(context.cluster)}" not found`);
  const user = context.user === undefined ? {} : config.users?.find((u) => u.name === context.user)?.user;
  if (user === undefined) throw new Error(`kubeconfig: user "${String(context.user)}" not found`);
  for (const unsupported of ["exec", "auth-provider", "username", "password"]) {
    if (user[unsupported] !== undefined && user[unsupported] !== null) {
      throw new Error(`kubeconfig: user "${String(context.user)}": ${unsupported} is not supported`);
    }
  }
  const server = str(cluster.server);
  if (server === undefined) throw new Error(`kubeconfig: cluster "${String(context.cluster)}" has no server`);
  const file = (key: string) => {
    const path = str(cluster[key] ?? user[key]);
    return path === undefined ? undefined : readFileSync(isAbsolute(path) ? path : join(baseDir, path), "utf8");
  };
  const data = (key: string) => {
    const value = str(cluster[key] ?? user[key]);
    return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
  };
  const token = str(user.token);
  const tokenPath = str(user.tokenFile);
  return {
    server,
    ca: data("certificate-authority-data") ?? file("certificate-authority"),
    cert: data("client-certificate-data") ?? file("client-certificate"),
    key: data("client-key-data") ?? file("client-key"),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    tlsServerName: str(cluster["tls-server-name"]),
    token:
      token !== undefined
        ? () => Promise.resolve(token)
        : tokenPath === undefined
          ? undefined
          : tokenFile(isAbsolute(tokenPath) ? tokenPath : join(baseDir, tokenPath)),
  };
}

const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);

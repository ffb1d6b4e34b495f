// A kubeconfig's current context as a Connection (connection.ts): kept apart so that only a process started with a
// kubeconfig loads the YAML parser.
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { tokenFile, type Connection } from "./connection.ts";

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

// What every cluster-facing command shares: the kubectl-style connection options, loading the kubeconfig the way
// kubectl does, and turning API errors into one line that says what to do. The Kubernetes client is imported
// lazily so that `--help` stays fast.
import { Option } from "@commander-js/extra-typings";
import type { KubeConfig } from "@kubernetes/client-node";
import { OPERATOR_NAMESPACE } from "../api/constants.ts";
import { apiMessage, statusCode } from "../kube/errors.ts";

export const kubeconfigOption = () =>
  new Option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)");
export const contextOption = () => new Option("--context <name>", "kubeconfig context to use (default: current)");
export const namespaceOption = () =>
  new Option("-n, --namespace <name>", "the operator's namespace").default(OPERATOR_NAMESPACE);

export interface ConnectionOptions {
  kubeconfig?: string;
  context?: string;
}

/** A failure the user can act on: printed as one line (no stack), exit code 1 unless said otherwise. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export async function loadKubeConfig(options: ConnectionOptions): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    // loadFromDefault follows kubectl: $KUBECONFIG (several files merged), ~/.kube/config, then in-cluster.
    if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CliError(
      `cannot load the kubeconfig${options.kubeconfig === undefined ? "" : ` ${options.kubeconfig}`}: ${apiMessage(err)}`,
    );
  }
  // With nothing to load, the library falls back to http://localhost:8080, which then fails with a message about TLS.
  const cluster = kc.getCurrentCluster();
  if (
    options.kubeconfig === undefined &&
    (process.env.KUBECONFIG ?? "") === "" &&
    cluster?.name === "cluster" &&
    cluster.server === "http://localhost:8080"
  ) {
    throw new CliError(
      "no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist and this is not a pod; " +
        "point at your cluster with --kubeconfig FILE or KUBECONFIG=FILE",
    );
  }
  if (options.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(options.context)) {
      throw new CliError(
        `context "${options.context}" is not in the kubeconfig (contexts: ${names.join(", ") || "none"})`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (kc.getCurrentCluster() === null) {
    const names = kc.getContexts().map((c) => c.name);
    throw new CliError(
      `the kubeconfig has no current context with a cluster (contexts: ${names.join(", ") || "none"}); ` +
        "pass --context NAME or run kubectl config use-context NAME",
    );
  }
  return kc;
}

/**
 * One line for a failed API call made while `doing` something. 404s are the caller's to interpret (a missing CRD is
 * not a missing object), so call this only for what remains.
 */
export function describeKubeError(err: unknown, doing: string, server?: string): string {
  const code = statusCode(err);
  if (code === 401) return `${doing}: unauthorized; check the credentials of your kubeconfig context`;
  if (code === 403) return `${doing}: forbidden (${apiMessage(err)}); ask for RBAC access or use another context`;
  if (code === undefined) {
    const where = server === undefined ? "the Kubernetes API server" : `the Kubernetes API server at ${server}`;
    return `${doing}: cannot reach ${where}: ${transportProblem(err)}`;
  }
  return `${doing}: ${apiMessage(err)} (HTTP ${code})`;
}

/** What went wrong below HTTP (fetch's "fetch failed" hides it in `cause`), and what to check. */
export function transportProblem(err: unknown): string {
  let cause: unknown = err;
  let code: string | undefined;
  let message = apiMessage(err);
  for (let depth = 0; depth < 5 && typeof cause === "object" && cause !== null; depth++) {
    if ("code" in cause && typeof cause.code === "string") code = cause.code;
    if (cause instanceof Error) message = cause.message;
    cause = "cause" in cause ? cause.cause : undefined;
  }
  const check = "check the server and context of your kubeconfig (kubectl config view --minify)";
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused: is the cluster running? If it is, ${check}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host not found (${message}): ${check}`;
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no answer (${message}): is the cluster reachable from here (network, VPN, firewall)? Else ${check}`;
    case "ECONNRESET":
      return `the connection was reset (${message}): is the server address a Kubernetes API server? ${check}`;
    default:
      if (code?.startsWith("ERR_TLS") || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code ?? "")) {
        return `TLS failed (${message}): check the certificate-authority of your kubeconfig's cluster`;
      }
      return `${message}; ${check}`;
  }
}

export function crdMissing(kind: string, crd: string): CliError {
  return new CliError(
    `${kind} CRD not installed (${crd} not served by this cluster): kubectl apply -f bottlerocket-update-operator.yaml ` +
      `(or brupop manifests | kubectl apply -f -)`,
  );
}

/** Runs an action, printing a CliError as `brupop <command>: <message>` and setting the exit code. */
export function run<A extends unknown[]>(
  command: string,
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      console.error(`brupop ${command}: ${err.message}`);
      process.exitCode = err.exitCode;
    }
  };
}

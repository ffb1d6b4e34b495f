// A component started as its pod runs it: in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service account's files
// where the kubelet mounts them), not from a kubeconfig. What a process loads is what its memory is: the kubeconfig
// path imports a YAML parser (0.6 MiB) that a pod never loads. The files are put in place inside a mount namespace
// of the process's own (`unshare --mount`, a tmpfs over /run), so the machine's /run is untouched and the pid spawned
// is the component's (unshare and sh exec, they do not fork). Needs root (CAP_SYS_ADMIN); where `unshare` cannot,
// the benchmark keeps the kubeconfig and says so.
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where a component reaches kube-apiserver from inside the cluster (a counting proxy here), and its CA. */
export interface InClusterAccess {
  readonly url: string;
  readonly caPem: string;
}

export interface Launch {
  readonly command: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

/**
 * The token of a component behind a counting proxy: the proxy presents the admin identity upstream, so kube-apiserver
 * never sees it (the count, not RBAC, is measured).
 */
export const PROXIED_TOKEN = "counted-not-authenticated\n";

const SERVICE_ACCOUNT_DIR = "/run/secrets/kubernetes.io/serviceaccount"; // /var/run is /run
const MOUNT_AND_EXEC = `mount -t tmpfs tmpfs /run && mkdir -p ${SERVICE_ACCOUNT_DIR} && cp "$0"/* ${SERVICE_ACCOUNT_DIR}/ && exec "$@"`;

let available: boolean | undefined;

/** Whether this machine lets the benchmark make mount namespaces (checked once). */
export function inClusterAvailable(): boolean {
  available ??= spawnSync("unshare", ["--mount", "sh", "-c", "mount -t tmpfs tmpfs /run"]).status === 0;
  return available;
}

/**
 * How to start `command args` in-cluster through `access` (a counting proxy: the token is `PROXIED_TOKEN`).
 */
export async function inClusterLaunch(
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  access: InClusterAccess,
): Promise<Launch> {
  const dir = await mkdtemp(join(tmpdir(), "brupop-bench-in-cluster-"));
  const files = join(dir, "serviceaccount");
  await mkdir(files, { mode: 0o700 });
  await writeFile(join(files, "token"), PROXIED_TOKEN, { mode: 0o600 });
  await writeFile(join(files, "ca.crt"), access.caPem);
  const { KUBECONFIG: _kubeconfig, ...rest } = env;
  const url = new URL(access.url);
  return {
    command: "unshare",
    args: ["--mount", "sh", "-c", MOUNT_AND_EXEC, files, command, ...args],
    // HOME without a .kube/config, which would come before in-cluster.
    env: { ...rest, HOME: dir, KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port },
  };
}

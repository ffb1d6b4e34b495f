// The API server's serving certificate in a simulated cluster: issued by the control plane's CA (which agents and
// kube-apiserver already trust), valid for the brupop-apiserver Service's names and loopback, written as the files
// the API server reads in APISERVER_TLS_MODE=files.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadCertificateAuthority } from "../../src/pki/certificates.ts";
import type { ControlPlane } from "../control-plane/control-plane.ts";

export interface ApiServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  /** The control plane's CA: what agents trust. */
  readonly ca: string;
}

export async function writeApiServerTlsFiles(
  cp: Pick<ControlPlane, "dir" | "caPem">,
  o: { dir: string; namespace: string; clusterDomain: string },
): Promise<ApiServerTlsFiles> {
  await mkdir(o.dir, { recursive: true });
  const ca = await loadCertificateAuthority(
    await readFile(join(cp.dir, "pki", "ca.crt"), "utf8"),
    await readFile(join(cp.dir, "pki", "ca.key"), "utf8"),
  );
  const service = "brupop-apiserver";
  const serving = await ca.issue({
    commonName: `${service}.${o.namespace}.svc`,
    dnsNames: [
      service,
      `${service}.${o.namespace}`,
      `${service}.${o.namespace}.svc`,
      `${service}.${o.namespace}.svc.${o.clusterDomain}`,
    ],
    ipAddresses: ["127.0.0.1"],
    usages: ["server"],
  });
  const files = { cert: join(o.dir, "tls.crt"), key: join(o.dir, "tls.key"), ca: join(o.dir, "ca.crt") };
  await Promise.all([
    writeFile(files.cert, serving.certPem),
    writeFile(files.key, serving.keyPem, { mode: 0o600 }),
    writeFile(files.ca, cp.caPem),
  ]);
  return files;
}

/**
 * The environment of an API server process on the host, serving these files on loopback (APISERVER_TLS_MODE=files),
 * for tests and benchmarks that run it outside a pod.
 */
export function apiServerProcessEnv(o: {
  kubeconfigPath: string;
  namespace: string;
  port: number;
  metricsPort: number;
  tls: ApiServerTlsFiles;
  terminationLog: string;
}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    KUBECONFIG: o.kubeconfigPath,
    POD_NAMESPACE: o.namespace,
    APISERVER_BIND_ADDRESS: "127.0.0.1",
    APISERVER_INTERNAL_PORT: String(o.port),
    APISERVER_METRICS_PORT: String(o.metricsPort),
    APISERVER_TLS_MODE: "files",
    APISERVER_TLS_CERT_FILE: o.tls.cert,
    APISERVER_TLS_KEY_FILE: o.tls.key,
    APISERVER_TLS_CA_FILE: o.tls.ca,
    TERMINATION_LOG: o.terminationLog,
    LOG_LEVEL: "warn",
  };
}

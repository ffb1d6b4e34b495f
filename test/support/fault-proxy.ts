// A fault proxy (sim/cluster/fault-proxy.ts) in front of the test control plane's kube-apiserver, with a client
// configuration that goes through it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { loadCertificateAuthority } from "../../src/pki/certificates.ts";
import { startFaultProxy, type FaultProxy } from "../../sim/cluster/fault-proxy.ts";
import type { TestCluster } from "./cluster.ts";

export interface ProxiedAccess {
  readonly proxy: FaultProxy;
  /** The admin client configuration, through the proxy. */
  readonly kc: KubeConfig;
  /** PEM file of the CA that signed the proxy's (and the API server's) serving certificate. */
  readonly caFile: string;
}

/**
 * Starts a proxy to the file's control plane. With `asAdmin` it presents the admin client certificate upstream (for
 * clients of `kc`); without it, it forwards the client's own bearer token.
 */
export async function proxyToApiServer(t: TestCluster, options: { asAdmin?: boolean } = {}): Promise<ProxiedAccess> {
  const caFile = join(t.info.dir, "pki", "ca.crt");
  const ca = await loadCertificateAuthority(
    await readFile(caFile, "utf8"),
    await readFile(join(t.info.dir, "pki", "ca.key"), "utf8"),
  );
  const serving = await ca.issue({ commonName: "fault-proxy", usages: ["server"], ipAddresses: ["127.0.0.1"] });
  const admin = t.kc.getCurrentUser();
  const pem = (base64: string | undefined) => Buffer.from(base64 ?? "", "base64").toString("utf8");
  const proxy = await startFaultProxy({
    upstream: t.info.server,
    upstreamCaPem: t.info.caPem,
    serving,
    ...(options.asAdmin === true
      ? { upstreamIdentity: { certPem: pem(admin?.certData), keyPem: pem(admin?.keyData) } }
      : {}),
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: t.kc.clusters.map((c) => ({ ...c, server: proxy.url })),
    users: t.kc.users,
    contexts: t.kc.contexts,
    currentContext: t.kc.currentContext,
  });
  return { proxy, kc, caFile };
}

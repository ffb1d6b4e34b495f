// A fault proxy (sim/cluster/fault-proxy.ts) in front of the test control plane's kube-apiserver.
import { join } from "node:path";
import { proxyKubeApiserver, type ProxiedAccess } from "../../sim/cluster/fault-proxy.ts";
import type { TestCluster } from "./cluster.ts";

export type { ProxiedAccess };

/** With `asAdmin` the proxy presents the admin certificate upstream; without, it forwards the client's token. */
export function proxyToApiServer(t: TestCluster, options: { asAdmin?: boolean } = {}): Promise<ProxiedAccess> {
  return proxyKubeApiserver({
    server: t.info.server,
    caPem: t.info.caPem,
    pkiDir: join(t.info.dir, "pki"),
    kc: t.kc,
    ...options,
  });
}

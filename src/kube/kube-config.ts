// The KubeConfig of a long-running component. @kubernetes/client-node 2.0 builds a new undici Agent for every call
// of a generated API client (KubeConfig.applySecurityAuthentication → createDispatcher), so each request opens a new
// TLS connection to kube-apiserver and leaves an Agent for the garbage collector: a handshake per request and memory
// that grows with the request rate. This one keeps one Agent per set of connection options, so requests share
// keep-alive connections, as client-go's transport does. Watches already use client-node's cached agent.
import { KubeConfig, type Cluster } from "@kubernetes/client-node";
import type { AgentOptions } from "node:https";

/** client-node's dispatcher factory (private in its types, an ordinary method at run time). */
type CreateDispatcher = (cluster: Cluster | null, agentOptions: AgentOptions) => unknown;

export class PooledKubeConfig extends KubeConfig {
  constructor() {
    super();
    const self = this as unknown as { createDispatcher: CreateDispatcher };
    const create = self.createDispatcher.bind(this);
    const pool = new Map<string, unknown>();
    self.createDispatcher = (cluster, agentOptions) => {
      // The options are the cluster's and the user's certificates: fixed for the life of a kubeconfig. (A bearer
      // token, re-read for every request, is a header, not a dispatcher option.)
      const key = JSON.stringify([cluster?.server, cluster?.proxyUrl, agentOptions]);
      if (!pool.has(key)) pool.set(key, create(cluster, agentOptions));
      return pool.get(key);
    };
  }
}

/** The configuration kubectl would use ($KUBECONFIG, ~/.kube/config, then in-cluster), with pooled connections. */
export function loadKubeConfig(): KubeConfig {
  const kc = new PooledKubeConfig();
  kc.loadFromDefault();
  return kc;
}

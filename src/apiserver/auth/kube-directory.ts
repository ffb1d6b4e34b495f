// The Kubernetes side of authentication: TokenReview, and informer caches of agent pods (label-selected, operator
// namespace) and Nodes. A cache miss falls back to one GET, so an agent that started a moment ago is not refused
// while the watch catches up; a deleted pod or node is gone from the cache, and the GET then confirms it.
import type { V1Node, V1Pod, V1TokenReview } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { TOKEN_AUDIENCE } from "../../api/constants.ts";
import type { KubeClient } from "../../kube/client.ts";
import { isNotFound } from "../../kube/errors.ts";
import { SupervisedInformer } from "../../kube/informer.ts";
import type { NodeFacts, PodFacts } from "./authorize.ts";
import type { AgentDirectory, TokenReviewer } from "./authenticator.ts";

export function kubeTokenReviewer(client: KubeClient): TokenReviewer {
  return async (token) => {
    const review = await client.create<V1TokenReview>("/apis/authentication.k8s.io/v1/tokenreviews", {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token, audiences: [TOKEN_AUDIENCE] },
    });
    return review.status;
  };
}

function podFacts(pod: V1Pod): PodFacts | undefined {
  const { name, namespace, uid } = pod.metadata ?? {};
  if (!name || !namespace || !uid) return undefined;
  return {
    namespace,
    name,
    uid,
    labels: pod.metadata?.labels ?? {},
    nodeName: pod.spec?.nodeName,
    phase: pod.status?.phase,
  };
}

function nodeFacts(node: V1Node): NodeFacts | undefined {
  const { name, uid } = node.metadata ?? {};
  return name && uid ? { name, uid } : undefined;
}

export interface KubeAgentDirectoryOptions {
  client: KubeClient;
  namespace: string;
  agentLabel: { key: string; value: string };
  log: Logger;
}

export class KubeAgentDirectory implements AgentDirectory {
  readonly pods: SupervisedInformer<V1Pod>;
  readonly nodes: SupervisedInformer<V1Node>;
  readonly #client: KubeClient;
  readonly #namespace: string;

  constructor({ client, namespace, agentLabel, log }: KubeAgentDirectoryOptions) {
    this.#client = client;
    this.#namespace = namespace;
    const labelSelector = `${agentLabel.key}=${agentLabel.value}`;
    const onError = (name: string) => (err: unknown, retryInMs: number) =>
      log.warn({ informer: name, err: String(err), retryInMs }, "informer failed; restarting");
    this.pods = new SupervisedInformer<V1Pod>({
      name: "agent-pods",
      client,
      path: `/api/v1/namespaces/${namespace}/pods`,
      labelSelector,
      onError: onError("agent-pods"),
    });
    this.nodes = new SupervisedInformer<V1Node>({
      name: "nodes",
      client,
      path: "/api/v1/nodes",
      onError: onError("nodes"),
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.nodes.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.nodes.stop()]);
  }

  get synced(): boolean {
    return this.pods.synced && this.nodes.synced;
  }

  async pod(name: string): Promise<PodFacts | undefined> {
    const cached = this.pods.get(name, this.#namespace);
    if (cached) return podFacts(cached);
    try {
      return podFacts(await this.#client.get<V1Pod>(`/api/v1/namespaces/${this.#namespace}/pods/${name}`));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async node(name: string): Promise<NodeFacts | undefined> {
    const cached = this.nodes.get(name);
    if (cached) return nodeFacts(cached);
    try {
      return nodeFacts(await this.#client.get<V1Node>(`/api/v1/nodes/${name}`));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

// Wiring: the app with its Kubernetes-backed services (authentication caches, shadows, node actions, drains,
// metrics), and an orderly shutdown. Used by main.ts and by the integration tests, which run it in-process.
import type { RequestListener, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { COMPONENT, LABEL_COMPONENT } from "../api/constants.ts";
import type { KubeClient } from "../kube/client.ts";
import { buildApiServer, type ApiServerApp } from "./app.ts";
import { AgentAuthenticator, type AgentDirectory, type TokenReviewer } from "./auth/authenticator.ts";
import type { AgentRateLimit } from "./auth/gate.ts";
import { KubeAgentDirectory, kubeTokenReviewer } from "./auth/kube-directory.ts";
import { ReviewCache, type ReviewCacheOptions } from "./auth/review-cache.ts";
import { DEFAULT_DRAIN_OPTIONS, Drain, type DrainKube, type DrainOptions } from "./drain/executor.ts";
import { kubeDrain } from "./drain/kube.ts";
import { DrainRegistry } from "./drain/registry.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { ApiServerMetrics } from "./metrics.ts";
import { setExcludedFromLoadBalancers, uncordon } from "./node-actions.ts";
import { ShadowStore } from "./shadows.ts";

export interface ApiServerOptions {
  client: KubeClient;
  log: Logger;
  namespace: string;
  agentServiceAccount: string;
  drain?: Partial<DrainOptions>;
  syncDrainTimeoutMs?: number;
  tokenCache?: ReviewCacheOptions;
  rateLimit?: AgentRateLimit;
  bodyLimitBytes?: number;
  conversionGroup?: string;
  serverFactory?: (handler: RequestListener) => HttpServer | HttpsServer;
  /** Replace Kubernetes-backed parts (tests). */
  overrides?: { review?: TokenReviewer; directory?: AgentDirectory; drainKube?: DrainKube };
  defaultMetrics?: boolean;
}

export interface ApiServer {
  app: ApiServerApp;
  lifecycle: Lifecycle;
  metrics: ApiServerMetrics;
  drains: DrainRegistry;
  /** Starts the informers (resolves once synced); the app reports not ready until then. */
  startCaches(): Promise<void>;
  /** Refuses new agent requests (503), cancels running drains, closes the server and the caches. */
  shutdown(): Promise<void>;
}

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { client, log, namespace } = options;
  const agentLabel = { key: LABEL_COMPONENT, value: COMPONENT.agent };
  const metrics = new ApiServerMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const kubeDirectory =
    options.overrides?.directory === undefined
      ? new KubeAgentDirectory({ client, namespace, agentLabel, log })
      : undefined;
  const directory = options.overrides?.directory ?? kubeDirectory;
  if (!directory) throw new Error("no agent directory");
  const authenticator = new AgentAuthenticator({
    review: options.overrides?.review ?? kubeTokenReviewer(client),
    directory,
    cache: new ReviewCache(options.tokenCache),
    namespace,
    serviceAccount: options.agentServiceAccount,
    agentLabel,
    log,
    observe: ({ result, reason, cached }) =>
      metrics.authentications.inc({ result, reason, cached: cached ? "true" : "false" }),
  });
  const drainOptions: DrainOptions = { ...DEFAULT_DRAIN_OPTIONS, ...options.drain };
  const drainKube = options.overrides?.drainKube ?? kubeDrain(client);
  const drains = new DrainRegistry({
    run: ({ node, id }, signal, onUpdate) =>
      new Drain({
        id,
        node,
        kube: drainKube,
        options: drainOptions,
        log: log.child({ node, drain: id }),
        onUpdate,
      }).run(signal),
    onStart: () => metrics.drainsInProgress.inc(),
    onFinish: (status, durationMs) => {
      metrics.drainsInProgress.dec();
      metrics.drains.inc({ outcome: status.phase });
      metrics.drainDuration.observe({ outcome: status.phase }, durationMs / 1000);
      log.info({ node: status.node, phase: status.phase, durationMs }, status.message);
    },
  });
  const { app, lifecycle } = buildApiServer({
    log,
    authenticate: (credentials) => authenticator.authenticate(credentials),
    shadows: new ShadowStore(client, namespace),
    nodes: {
      uncordon: (name) => uncordon(client, name),
      setExcludedFromLoadBalancers: (name, value) => setExcludedFromLoadBalancers(client, name, value),
    },
    drains,
    metrics,
    syncDrainTimeoutMs: options.syncDrainTimeoutMs ?? drainOptions.timeoutMs + 30_000,
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    ...(options.conversionGroup === undefined ? {} : { conversionGroup: options.conversionGroup }),
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
    notReadyReason: () =>
      kubeDirectory === undefined || kubeDirectory.synced ? undefined : "agent pod and node caches are not synced yet",
  });

  return {
    app,
    lifecycle,
    metrics,
    drains,
    startCaches: async () => {
      await kubeDirectory?.start();
    },
    async shutdown() {
      lifecycle.shuttingDown = true;
      await drains.close();
      // Keep-alive clients (kube-apiserver calling the webhook) may hold connections open; close() waits for
      // them, so after a few seconds the remaining connections are cut.
      const closing = app.close();
      const timer = setTimeout(() => app.server.closeAllConnections(), 5_000);
      await closing;
      clearTimeout(timer);
      await kubeDirectory?.stop();
    },
  };
}

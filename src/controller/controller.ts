// The controller process, wired: informers → keyed work queue → the node and fleet reconciles, behind a Lease.
//
// Caches start at once (a standby replica keeps warm caches); workers run only while this replica leads. Every
// event enqueues its node's key and the fleet key, so a status change reaches the next spec write without any
// polling; a resync re-enqueues everything in case an event was lost. Losing the lease stops the workers at once
// and calls `onLeadershipLost` (the entry point exits the process, as client-go's leader election does). The clients
// that carry the reconciles' decisions are fenced by the lease: a request is refused unless this replica leads by
// the clock, and aborted in flight when leadership ends, so nothing a reconcile sends reaches the cluster after that.
import type { KubernetesObject, V1Node } from "@kubernetes/client-node";
import { API_GROUP } from "../api/constants.ts";
import { managedNodeSelector } from "../core/model.ts";
import type { BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import { UPDATE_POLICY_NAME, UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../api/update-policy-names.ts";
import { SupervisedInformer, type ChangeKind } from "../kube/informer.ts";
import { shadowInformer, type ShadowObject } from "../kube/shadow-informer.ts";
import type { KubeClient } from "../kube/client.ts";
import { acquireLeadership, type Leadership } from "../kube/leader-election.ts";
import { WorkQueue, runWorkers } from "../kube/work-queue.ts";
import { apiMessage } from "../kube/errors.ts";
import type { ControllerConfig } from "./config.ts";
import { EventRecorder } from "./events.ts";
import { serveMetrics, type MetricsServer } from "./http.ts";
import { ControllerMetrics } from "./metrics.ts";
import { FleetReconciler } from "./fleet-reconciler.ts";
import { GateObserver } from "./gate-observer.ts";
import { callHook } from "./hook-caller.ts";
import { ConfigMapFleetState } from "./fleet-state.ts";
import { NodeClient } from "./node-client.ts";
import { NodeReconciler } from "./node-reconciler.ts";
import { PolicySource } from "./policy-source.ts";
import { FLEET_KEY, errorPolicy, nodeKey, type Logger, type ReconcileKey } from "./reconcile.ts";
import { ShadowClient } from "./shadow-client.ts";
import { shadowNodeName } from "../core/views.ts";

export interface ControllerOptions {
  /** The Kubernetes client (src/kube/client.ts); the reconciles' writes go through a copy fenced by the lease. */
  client: KubeClient;
  config: ControllerConfig;
  /** Called once when the lease is lost (not when released by stop()). The entry point exits the process. */
  onLeadershipLost: (reason: unknown) => void;
  log?: Logger & { error(message: string): void };
  /** Serve /metrics, /livez, /readyz (default true; port 0 picks a free port). */
  serveHttp?: boolean;
}

type Policy = BottlerocketUpdatePolicy & KubernetesObject;

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class Controller {
  readonly metrics = new ControllerMetrics();
  readonly events: EventRecorder;
  readonly #options: ControllerOptions;
  readonly #log: Logger & { error(message: string): void };
  readonly #queue = new WorkQueue<ReconcileKey>({
    baseDelayMs: 100,
    maxDelayMs: 60_000,
    onWait: (key, ms) => this.metrics.queueWaited(key === FLEET_KEY ? "fleet" : "node", ms / 1000),
  });
  readonly #shadows: SupervisedInformer<ShadowObject>;
  readonly #nodes: SupervisedInformer<V1Node>;
  readonly #policies: SupervisedInformer<Policy>;
  readonly #nodeReconciler: NodeReconciler;
  readonly #fleetReconciler: FleetReconciler;
  readonly #stop = new AbortController();
  #leadership: Leadership | undefined;
  #leading = false;
  readonly #led = Promise.withResolvers<undefined>();
  #workers: Promise<void> | undefined;
  #resync: NodeJS.Timeout | undefined;
  #http: MetricsServer | undefined;
  #synced = false;
  #leaderElection: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#log = options.log ?? silent;
    const { client, config } = options;
    const ns = config.namespace;
    const nodeSelector = managedNodeSelector(config.extraNodeSelector);
    const informerError = (what: string) => (err: unknown, retryInMs: number) =>
      this.#log.warn(`${what} watch failed (${apiMessage(err)}); restarting in ${retryInMs} ms`);

    this.#shadows = shadowInformer(client, ns, {
      name: "bottlerocketshadows",
      onChange: (_kind, shadow) => {
        const node = shadowNodeName(shadow);
        if (node !== undefined) this.#queue.add(nodeKey(node));
        this.#queue.add(FLEET_KEY);
      },
      onError: informerError("BottlerocketShadow"),
    });
    this.#nodes = new SupervisedInformer<V1Node>({
      name: "nodes",
      client,
      path: "/api/v1/nodes",
      labelSelector: nodeSelector,
      // A node that loses the label leaves this selection ("delete"): its key is reconciled, which finds the
      // shadow without a managed node and garbage-collects it.
      onChange: (_kind: ChangeKind, node) => {
        const name = node.metadata?.name;
        if (name !== undefined) this.#queue.add(nodeKey(name));
        this.#queue.add(FLEET_KEY);
      },
      onError: informerError("Node"),
    });
    const policyField = `metadata.name=${UPDATE_POLICY_NAME}`;
    this.#policies = new SupervisedInformer<Policy>({
      name: UPDATE_POLICY_PLURAL,
      client,
      path: `/apis/${API_GROUP}/${UPDATE_POLICY_VERSION}/namespaces/${ns}/${UPDATE_POLICY_PLURAL}`,
      fieldSelector: policyField,
      onChange: () => this.#enqueueAll(),
      onError: (err, retryInMs) =>
        this.#log.warn(
          `BottlerocketUpdatePolicy watch failed (${apiMessage(err)}; is its CRD installed?); restarting in ${retryInMs} ms`,
        ),
    });

    this.events = new EventRecorder({ client, instance: config.identity, log: (m) => this.#log.warn(m) });
    const fenced = client.fenced(() => this.#writeFence());
    const context = {
      namespace: ns,
      controllerNodeName: config.controllerNodeName,
      shadows: this.#shadows,
      nodes: this.#nodes,
      policy: new PolicySource({
        env: config.policyEnv,
        policies: this.#policies,
        namespace: ns,
        events: this.events,
        log: this.#log,
      }),
      shadowClient: new ShadowClient(fenced, ns),
      nodeClient: new NodeClient(fenced),
      gateObserver: new GateObserver(fenced, ns),
      callHook,
      fleetState: new ConfigMapFleetState(fenced, ns),
      events: this.events,
      metrics: this.metrics,
      log: this.#log,
      clock: () => new Date(),
      enqueueFleet: () => this.#queue.add(FLEET_KEY),
      enqueueNode: (nodeName: string) => this.#queue.add(nodeKey(nodeName)),
    };
    this.#nodeReconciler = new NodeReconciler(context);
    this.#fleetReconciler = new FleetReconciler(context);
    this.metrics.trackQueue(() => this.#queue.length);
    this.#led.promise.catch(() => undefined); // a replica that never leads is not an error by itself
  }

  /**
   * Serves HTTP, syncs the caches and starts competing for the lease; resolves once the caches are synced. Use
   * `whenLeading()` to wait for leadership.
   */
  async start(): Promise<void> {
    const { config } = this.#options;
    if (this.#options.serveHttp ?? true) {
      this.#http = await serveMetrics(
        this.metrics.registry,
        { live: () => !this.#stop.signal.aborted, ready: () => this.#synced },
        config.metrics,
      );
    }
    await Promise.all([this.#shadows.start(), this.#nodes.start(), this.#policies.start()]);
    this.#synced = true;
    this.#leaderElection = this.#lead();
  }

  /** Resolves when this replica leads and its workers run; rejects if it stops (or its election fails) first. */
  whenLeading(): Promise<void> {
    return this.#led.promise;
  }

  get isLeader(): boolean {
    return this.#leading && this.#leadership?.isLeading() === true;
  }

  get metricsPort(): number | undefined {
    return this.#http?.port;
  }

  /** Graceful shutdown: stop working, release the lease so another replica takes over at once, close everything. */
  async stop(): Promise<void> {
    await this.#shutDown(true);
  }

  /** Stops as a crash would: no lease release (the next leader waits out the lease), no Event flush. */
  async kill(): Promise<void> {
    await this.#shutDown(false);
  }

  async #lead(): Promise<void> {
    const { config, client } = this.#options;
    let leadership: Leadership;
    try {
      leadership = await acquireLeadership(
        {
          client,
          namespace: config.namespace,
          name: config.lease.name,
          identity: config.identity,
          leaseDurationMs: config.lease.durationMs,
          renewDeadlineMs: config.lease.renewDeadlineMs,
          retryPeriodMs: config.lease.retryPeriodMs,
          renewPeriodMs: config.lease.renewPeriodMs,
          watch: true,
          log: (m) => this.#log.info(m),
        },
        this.#stop.signal,
      );
    } catch (err) {
      if (!this.#stop.signal.aborted) this.#log.error(`leader election: ${apiMessage(err)}`);
      this.#led.reject(new Error(`controller did not lead: ${apiMessage(err)}`));
      return;
    }
    if (this.#stop.signal.aborted) {
      this.#led.reject(new Error("controller stopped before it led"));
      await leadership.release();
      return;
    }
    this.#leadership = leadership;
    this.#leading = true;
    this.metrics.leading(true);
    this.#log.info(`leading as ${config.identity}`);
    leadership.signal.addEventListener("abort", () => {
      this.#leading = false;
      this.metrics.leading(false);
      this.#queue.shutDown(); // stop acting at once: another replica may already lead
      if (!this.#stop.signal.aborted) {
        this.#log.error(`lost the lease: ${String(leadership.signal.reason)}`);
        this.#options.onLeadershipLost(leadership.signal.reason);
      }
    });
    this.#enqueueAll();
    this.#resync = setInterval(() => this.#enqueueAll(), config.resyncPeriodMs);
    this.#resync.unref();
    const reconcile = (key: ReconcileKey, signal: AbortSignal) =>
      key === FLEET_KEY
        ? this.#fleetReconciler.reconcile(signal)
        : this.#nodeReconciler.reconcile(key.slice("node/".length), signal);
    this.#led.resolve(undefined);
    this.#workers = runWorkers(this.#queue, config.workers, reconcile, {
      // No write starts once the lease is lost or the controller stops: another replica may already decide.
      signal: AbortSignal.any([leadership.signal, this.#stop.signal]),
      errorPolicy,
      onResult: (key, outcome) => {
        const kind = key === FLEET_KEY ? "fleet" : "node";
        this.metrics.reconciled(kind, outcome.error === undefined ? "ok" : "error", outcome.durationMs / 1000);
        if (outcome.error !== undefined) {
          this.#log.warn(`reconcile ${key}: ${apiMessage(outcome.error)}; retrying in ${outcome.retryInMs ?? 0} ms`);
        }
      },
    });
  }

  /** The signal that ends this replica's right to act; throws unless it leads right now. */
  #writeFence(): AbortSignal {
    const leadership = this.#leadership;
    if (!this.#leading || leadership?.isLeading() !== true) throw new Error("not leading: request refused");
    return leadership.signal;
  }

  #enqueueAll(): void {
    for (const shadow of this.#shadows.list()) {
      const node = shadowNodeName(shadow);
      if (node !== undefined) this.#queue.add(nodeKey(node));
    }
    for (const node of this.#nodes.list()) {
      if (node.metadata?.name !== undefined) this.#queue.add(nodeKey(node.metadata.name));
    }
    this.#queue.add(FLEET_KEY);
  }

  async #shutDown(release: boolean): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort(new Error(release ? "controller stopping" : "controller killed"));
    this.#led.reject(new Error("controller stopped before it led")); // no-op once it led
    clearInterval(this.#resync);
    this.#queue.shutDown();
    this.#leading = false;
    this.metrics.leading(false);
    if (release) {
      await this.#workers; // in-flight reconciles finish their writes before the lease goes
      await this.#nodeReconciler.outcomesWritten(); // and so do the writes they left running
      await this.#leadership?.release();
      await this.events.flush();
    }
    await Promise.allSettled([this.#shadows.stop(), this.#nodes.stop(), this.#policies.stop()]);
    await this.#http?.close();
    if (release) await this.#leaderElection;
  }
}

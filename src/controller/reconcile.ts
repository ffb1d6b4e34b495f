// What the node and fleet reconciles share: their keys, the context they run in, and the one error policy.
//
// A reconcile reads the caches (level-triggered: never the event's content), decides through src/core, and
// writes. It throws whatever the API server answered; `errorPolicy` decides what that means, in one place:
// a write conflict (409) is the normal outcome of optimistic concurrency (decide again at once, from the newer
// state), a 404 means the object is gone (its deletion reaches us as an event if anything is left to do), anything
// else is retried with backoff. The signal is aborted when this replica stops leading: no write starts after that.
import type { V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import type { ReconcileResult } from "../kube/work-queue.ts";
import type { EventRecorder } from "./events.ts";
import type { FleetState } from "./fleet-state.ts";
import type { GateObserver } from "./gate-observer.ts";
import type { HookCaller } from "./hook-caller.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { NodeClient } from "./node-client.ts";
import type { PolicySource } from "./policy-source.ts";
import type { ShadowClient } from "./shadow-client.ts";

export const FLEET_KEY = "fleet";
export type ReconcileKey = typeof FLEET_KEY | `node/${string}`;

export function nodeKey(nodeName: string): ReconcileKey {
  return `node/${nodeName}`;
}

/** Read access to an informer cache. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** Everything a reconcile reads and writes through. */
export interface ControllerContext {
  namespace: string;
  controllerNodeName: string | null;
  shadows: Cache<BottlerocketShadow>;
  /** Managed nodes only (label-selected). */
  nodes: Cache<V1Node>;
  policy: PolicySource;
  shadowClient: ShadowClient;
  nodeClient: NodeClient;
  /** Reads what the health gates look at (pods, Prometheus) for a node in MonitoringUpdate. */
  gateObserver: Pick<GateObserver, "observe">;
  /** Calls a pre-drain or post-reboot hook (docs/design/hooks.md). */
  callHook: HookCaller;
  fleetState: FleetState;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  clock: () => Date;
  /** Called when a node decision may have changed what the fleet can do (a node freed budget). */
  enqueueFleet: () => void;
  /** Has the node reconciled again (after work it did in the background). */
  enqueueNode: (nodeName: string) => void;
}

/** A 409 on a write: someone changed the object; decide again once the cache has the newer version. */
export const CONFLICT_RETRY_MS = 50;

/** The controller's error policy (kube-rs' `error_policy`), for every key. */
export function errorPolicy(_key: ReconcileKey, error: unknown): ReconcileResult | "backoff" {
  if (isConflict(error)) return { requeueAfterMs: CONFLICT_RETRY_MS };
  if (isNotFound(error)) return {};
  return "backoff";
}

export function isBeingDeleted(object: { metadata: object }): boolean {
  // ObjectMeta leaves deletionTimestamp out (client-node types it as Date, the wire has a string).
  const meta = object.metadata as { deletionTimestamp?: unknown };
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

// Kubernetes Events for every decision a user would ask "why?" about, on the BottlerocketShadow and on its Node
// (so both `kubectl describe brs-x` and `kubectl describe node x` show them).
//
// Transitions (started, advanced, timed out, failed, done) happen once each and are always recorded. Blocking
// reasons (budget full, outside window, paused, backoff …) hold for many reconciles: they are recorded only when a
// node's reason changes, so a waiting node does not spam. Sending is asynchronous and never fails a reconcile:
// an Event is an explanation, not state.
import type { CoreV1Event } from "@kubernetes/client-node";
import { formatTimestamp } from "../api/timestamps.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiMessage } from "../kube/errors.ts";

export type EventType = "Normal" | "Warning";

export interface EventSubject {
  kind: "BottlerocketShadow" | "Node" | "BottlerocketUpdatePolicy";
  apiVersion: string;
  name: string;
  uid?: string;
  /** Empty for cluster-scoped objects (Node). */
  namespace?: string;
}

export interface EventNote {
  type: EventType;
  /** CamelCase, stable: e.g. UpdateStarted, BudgetFull. */
  reason: string;
  message: string;
  /** What the controller did or decided, e.g. Start, Skip, Reset. */
  action: string;
}

/**
 * Events sent at once. They share the controller's connections to kube-apiserver with its spec writes, which must
 * not wait behind a burst of them: a 1,000-node fleet's first pass explains 900 waits, on two objects each.
 */
const SENDS_IN_FLIGHT = 4;
/** Events waiting beyond this are dropped (and counted in the log): an Event is an explanation, not state. */
const QUEUE_LIMIT = 10_000;

export const REPORTING_CONTROLLER = "brupop.bottlerocket.aws/controller";

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #instance: string;
  readonly #log: (message: string) => void;
  /** The last blocking reason recorded per subject key. */
  readonly #lastReason = new Map<string, string>();
  readonly #pending = new Set<Promise<void>>();
  readonly #queue: { namespace: string; body: unknown; what: string }[] = [];
  #sent = 0;
  #dropped = 0;

  constructor(options: { client: KubeClient; instance: string; log?: (message: string) => void }) {
    this.#client = options.client;
    this.#instance = options.instance;
    this.#log = options.log ?? (() => undefined);
  }

  /** Records a transition on every subject. */
  record(subjects: readonly EventSubject[], note: EventNote): void {
    for (const subject of subjects) this.#send(subject, note);
  }

  /**
   * Records `note` unless the last note recorded for `key` had the same `state` (e.g. a NotStartedReason code):
   * a node blocked for an hour for the same reason gets one Event. Returns whether it was recorded.
   */
  recordOnChange(key: string, state: string, subjects: readonly EventSubject[], note: EventNote): boolean {
    if (this.#lastReason.get(key) === state) return false;
    this.#lastReason.set(key, state);
    this.record(subjects, note);
    return true;
  }

  /** Whether the last note recorded for `key` had `state`: recordOnChange would record nothing. */
  hasRecorded(key: string, state: string): boolean {
    return this.#lastReason.get(key) === state;
  }

  /** Forgets the blocking reason of `key` (it started, or went away), so the next block is reported again. */
  forget(key: string): void {
    this.#lastReason.delete(key);
  }

  /** Events recorded so far (sent, failed, waiting or dropped); for tests and logs. */
  get sent(): number {
    return this.#sent;
  }

  /** Waits for Events still being sent (graceful shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #send(subject: EventSubject, note: EventNote): void {
    const now = formatTimestamp(new Date());
    // The API server requires an Event about a cluster-scoped object (a Node) to live in "default", as the
    // kubelet's do; Events about our namespaced objects live beside them.
    const namespace = subject.namespace ?? "default";
    // The wire form: metav1.Time as an RFC 3339 string (client-node's type says Date).
    const body: Omit<CoreV1Event, "firstTimestamp" | "lastTimestamp"> & {
      firstTimestamp: string;
      lastTimestamp: string;
    } = {
      metadata: { generateName: `${subject.name}.`, namespace },
      involvedObject: {
        kind: subject.kind,
        apiVersion: subject.apiVersion,
        name: subject.name,
        ...(subject.uid === undefined ? {} : { uid: subject.uid }),
        ...(subject.namespace === undefined ? {} : { namespace: subject.namespace }),
      },
      type: note.type,
      reason: note.reason,
      message: note.message.length > 1024 ? `${note.message.slice(0, 1021)}...` : note.message,
      action: note.action,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: "brupop-controller" },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
    };
    this.#sent++;
    if (this.#queue.length >= QUEUE_LIMIT) {
      if (this.#dropped++ % 1000 === 0)
        this.#log(`${this.#dropped} event(s) dropped: more than ${QUEUE_LIMIT} waiting`);
      return;
    }
    this.#queue.push({ namespace, body, what: `${note.reason} on ${subject.kind} ${subject.name}` });
    this.#pump();
  }

  #pump(): void {
    while (this.#pending.size < SENDS_IN_FLIGHT) {
      const next = this.#queue.shift();
      if (next === undefined) return;
      const sending = this.#client
        .create(`/api/v1/namespaces/${next.namespace}/events`, next.body)
        .then(
          () => undefined,
          (err: unknown) => this.#log(`event ${next.what}: ${apiMessage(err)}`),
        )
        .finally(() => {
          this.#pending.delete(sending);
          this.#pump();
        });
      this.#pending.add(sending);
    }
  }
}

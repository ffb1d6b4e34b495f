// Leader election on a coordination.k8s.io Lease, with client-go's semantics: acquire when the lease is free or
// its holder has not renewed for a lease duration (measured on OUR clock from when we last saw the record change,
// so clock skew between replicas does not matter), renew every retry period, and give up leadership when a renewal
// has not succeeded within the renew deadline. Every write carries the resourceVersion it read (a 409 means
// another replica won). Losing the lease is fatal for the caller: it must stop acting at once.
import type { CoordinationV1Api, V1Lease } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { apiMessage, isConflict, isNotFound } from "./errors.ts";

export interface LeaderElectionOptions {
  readonly api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;
  /** This replica, usually the pod name. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly log?: (message: string) => void;
}

export interface Leadership {
  /** Aborted when leadership is lost (or released). */
  readonly signal: AbortSignal;
  /** Gives the lease up so another replica can take over at once. */
  release(): Promise<void>;
}

/**
 * A metav1.MicroTime. client-node types these fields as Date but serialises a Date with millisecond precision,
 * which kube-apiserver rejects ("cannot parse .795Z as .000000"); a string passes through its serialiser as is.
 */
export function microTime(date: Date): Date {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z") as unknown as Date;
}

/**
 * Waits until this replica holds the lease, then keeps renewing it in the background until the lease is lost,
 * released, or `stop` is aborted (which stops renewing without releasing, as a crashed process would).
 */
export async function acquireLeadership(options: LeaderElectionOptions, stop?: AbortSignal): Promise<Leadership> {
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const log = options.log ?? (() => undefined);
  const observed = { key: "", at: 0 };

  const attempt = async (): Promise<boolean> => {
    const now = microTime(new Date());
    let lease: V1Lease | undefined;
    try {
      lease = await options.api.readNamespacedLease({ name: options.name, namespace: options.namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (lease === undefined) {
      await options.api.createNamespacedLease({
        namespace: options.namespace,
        body: {
          metadata: { name: options.name, namespace: options.namespace },
          spec: {
            holderIdentity: options.identity,
            leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const key = `${holder}|${lease.metadata?.resourceVersion ?? ""}`;
    if (key !== observed.key) {
      observed.key = key;
      observed.at = Date.now();
    }
    const heldByOther =
      holder !== "" &&
      holder !== options.identity &&
      Date.now() - observed.at < (spec.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
    if (heldByOther) return false;
    const taking = holder !== options.identity;
    await options.api.replaceNamespacedLease({
      name: options.name,
      namespace: options.namespace,
      body: {
        ...lease,
        spec: {
          holderIdentity: options.identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: taking ? now : (spec.acquireTime ?? now),
          renewTime: now,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder !== "" ? 1 : 0),
        },
      },
    });
    if (taking) log(`acquired lease ${options.namespace}/${options.name} (previous holder: ${holder || "none"})`);
    return true;
  };

  const tryOnce = async () => {
    try {
      return await attempt();
    } catch (err) {
      if (!isConflict(err)) log(`lease ${options.namespace}/${options.name}: ${apiMessage(err)}`);
      return false;
    }
  };
  const jittered = () => retryPeriodMs * (1 + Math.random() * 0.2);

  while (!(await tryOnce())) {
    if (stop?.aborted) throw new Error("stopped before acquiring leadership");
    await sleep(jittered());
  }

  const lost = new AbortController();
  let lastRenew = Date.now();
  let released = false;
  const renewLoop = async () => {
    for (;;) {
      await sleep(retryPeriodMs);
      if (lost.signal.aborted) return; // released meanwhile
      if (stop?.aborted) return; // the caller is going away without releasing (as a crash would)
      if (await tryOnce()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > renewDeadlineMs) {
        log(`lost lease ${options.namespace}/${options.name}: no renewal for ${Date.now() - lastRenew} ms`);
        lost.abort(new Error("leadership lost"));
      }
    }
  };
  void renewLoop();

  return {
    signal: lost.signal,
    async release() {
      if (released) return;
      released = true;
      lost.abort(new Error("leadership released"));
      try {
        const lease = await options.api.readNamespacedLease({ name: options.name, namespace: options.namespace });
        if (lease.spec?.holderIdentity !== options.identity) return;
        await options.api.replaceNamespacedLease({
          name: options.name,
          namespace: options.namespace,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
        });
      } catch (err) {
        log(`releasing lease ${options.namespace}/${options.name}: ${apiMessage(err)}`);
      }
    },
  };
}

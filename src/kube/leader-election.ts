// Leader election on a coordination.k8s.io Lease, with client-go's semantics: acquire when the lease is free or
// its holder has not renewed for a lease duration (measured on OUR clock from when we last saw the record change,
// so clock skew between replicas does not matter), renew every retry period, and give up leadership when a renewal
// has not succeeded within the renew deadline. Every write carries the resourceVersion it read (a 409 means
// another replica won). Losing the lease is fatal for the caller: it must stop acting at once.
//
// The deadline holds whatever the network does. Leadership lasts until `renewDeadline` after the moment the last
// successful renewal was SENT: another replica counts its lease duration from when it saw that renewal, which is
// later, so the margin (lease duration - renew deadline) covers clock rates and the time to stop. Every request is
// aborted at that deadline (client-go's slow-renew fix bounds each round by the renew deadline), an answer that
// comes back after it does not count, and a timer ends leadership at the deadline even while a request hangs.
// `isLeading()` checks the clock too, so a timer that fires late never stretches leadership.
//
// Quiet at rest (docs/design/footprint.md): a leader renews every `renewPeriod` (longer than client-go's retry
// period) with one PUT of the lease it last wrote, reading it again only after a conflict; a standby with `watch`
// watches the lease and tries to take it only when the lease would have expired, instead of reading it every retry
// period. Failures are retried every retry period, as before.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeClient } from "./client.ts";
import { apiMessage, isConflict, isNotFound } from "./errors.ts";
import { SupervisedInformer } from "./informer.ts";

/** A coordination.k8s.io/v1 Lease as the wire has it (times are MicroTime strings). */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** This replica, usually the pod name. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  /** Pause between tries after a failure (and a standby's polls when it has no `kc`). */
  readonly retryPeriodMs?: number;
  /** Pause between a leader's successful renewals; defaults to the retry period (client-go). */
  readonly renewPeriodMs?: number;
  /** When true, a standby watches the lease (one long watch) rather than reading it every retry period. */
  readonly watch?: boolean;
  readonly log?: (message: string) => void;
}

export interface Leadership {
  /** Aborted when leadership is lost or released: at the latest `renewDeadline` after the last renewal was sent. */
  readonly signal: AbortSignal;
  /** Whether this replica still leads, by the clock as well as by the signal. */
  isLeading(): boolean;
  /** Gives the lease up so another replica can take over at once. */
  release(): Promise<void>;
}

/** A metav1.MicroTime: RFC 3339 with microseconds, as kube-apiserver requires for a Lease's times. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

type Attempt = { readonly held: true } | { readonly held: false; readonly holder?: string };

/**
 * Waits until this replica holds the lease, then keeps renewing it in the background until the lease is lost,
 * released, or `stop` is aborted (which stops renewing without releasing, as a crashed process would).
 */
export async function acquireLeadership(options: LeaderElectionOptions, stop?: AbortSignal): Promise<Leadership> {
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const renewPeriodMs = options.renewPeriodMs ?? retryPeriodMs;
  if (!(Math.max(retryPeriodMs, renewPeriodMs) < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new Error("leader election needs retry and renew periods < renew deadline < lease duration");
  }
  const log = options.log ?? (() => undefined);
  const lease = { name: options.name, namespace: options.namespace };
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases`;
  const leasePath = `${leases}/${options.name}`;
  const client = options.client;
  const where = `lease ${options.namespace}/${options.name}`;
  const observed = { key: "", at: 0 };
  const now = () => performance.now();

  /** The lease as we last wrote it while holding it: a renewal PUTs it without reading first. */
  let written: Lease | undefined;
  const observe = (current: Lease) => {
    const key = `${current.spec?.holderIdentity ?? ""}|${current.metadata?.resourceVersion ?? ""}`;
    if (key !== observed.key) {
      observed.key = key;
      observed.at = now();
    }
  };

  /** How long `current` stays held by another replica, measured from when we saw it change; 0 if free or ours. */
  const heldByOtherFor = (current: Lease | undefined): number => {
    const spec = current?.spec;
    const holder = spec?.holderIdentity ?? "";
    const left = observed.at + (spec?.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000 - now();
    return holder !== "" && holder !== options.identity && left > 0 ? left : 0;
  };

  const attempt = async (signal: AbortSignal): Promise<Attempt> => {
    const time = microTime(new Date());
    const call = { signal };
    let current: Lease | undefined = written;
    written = undefined; // kept only if this attempt writes it
    try {
      current ??= await client.get<Lease>(leasePath, call);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (current === undefined) {
      written = await client.create<Lease>(
        leases,
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: lease,
          spec: {
            holderIdentity: options.identity,
            leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
            acquireTime: time,
            renewTime: time,
            leaseTransitions: 0,
          },
        },
        call,
      );
      return { held: true };
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    observe(current);
    if (heldByOtherFor(current) > 0) return { held: false, holder };
    const taking = holder !== options.identity;
    written = await client.replace<Lease>(
      leasePath,
      {
        ...current,
        spec: {
          holderIdentity: options.identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: taking ? time : (spec.acquireTime ?? time),
          renewTime: time,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder !== "" ? 1 : 0),
        },
      },
      call,
    );
    if (taking) log(`acquired ${where} (previous holder: ${holder || "none"})`);
    return { held: true };
  };

  /** One try, aborted after `timeoutMs` or by `cancel`; failures other than a lost race are logged. */
  const tryOnce = async (timeoutMs: number, cancel?: AbortSignal): Promise<Attempt> => {
    try {
      const timeout = AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)));
      return await attempt(cancel === undefined ? timeout : AbortSignal.any([timeout, cancel]));
    } catch (err) {
      if (!isConflict(err) && cancel?.aborted !== true) log(`${where}: ${apiMessage(err)}`);
      return { held: false };
    }
  };
  const jittered = () => retryPeriodMs * (1 + Math.random() * 0.2);
  const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

  // Acquire. `validUntil`: leadership ends renewDeadline after the successful try was sent.
  let validUntil = 0;
  const watcher = options.watch === true ? new LeaseWatcher(client, leases, options.name, observe) : undefined;
  try {
    watcher?.start();
    for (;;) {
      if (stop?.aborted) throw new Error("stopped before acquiring leadership");
      const sentAt = now();
      const result = await tryOnce(renewDeadlineMs, stop);
      if (result.held && now() < sentAt + renewDeadlineMs) {
        validUntil = sentAt + renewDeadlineMs;
        break;
      }
      written = undefined;
      // Held by another and watched: nothing to read until the lease would expire (or is released).
      const heldElsewhere = () => heldByOtherFor(watcher?.lease);
      let left = watcher?.synced === true ? heldElsewhere() : 0;
      if (left === 0) await pause(jittered(), stop ?? new AbortController().signal);
      for (; left > 0 && stop?.aborted !== true; left = heldElsewhere()) await watcher?.changeOrTimeout(left, stop);
    }
  } finally {
    await watcher?.stop();
  }

  const ended = new AbortController();
  let watchdog: NodeJS.Timeout | undefined;
  const end = (reason: string) => {
    if (ended.signal.aborted) return;
    clearTimeout(watchdog);
    log(`lost ${where}: ${reason}`);
    ended.abort(new Error(`leadership lost: ${reason}`));
  };
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(
      () => end(`no renewal within the renew deadline (${renewDeadlineMs} ms)`),
      validUntil - now(),
    );
    watchdog.unref();
  };
  const isLeading = () => {
    if (!ended.signal.aborted && now() >= validUntil) end(`renew deadline (${renewDeadlineMs} ms) passed`);
    return !ended.signal.aborted;
  };
  arm();

  const renewLoop = async () => {
    const quit = AbortSignal.any([ended.signal, ...(stop === undefined ? [] : [stop])]);
    const goOn = () => !quit.aborted && isLeading();
    let renewed = true;
    while (goOn()) {
      await pause(renewed ? renewPeriodMs : retryPeriodMs, quit);
      if (!goOn()) return;
      const sentAt = now();
      // Bounded by the deadline itself (as client-go bounds a round), not less: a slow server still renews in time.
      const result = await tryOnce(validUntil - sentAt, quit);
      if (!goOn()) return; // an answer after the deadline does not count
      renewed = result.held;
      if (result.held) {
        validUntil = sentAt + renewDeadlineMs;
        arm();
      } else if (result.holder !== undefined) {
        end(`held by ${result.holder}`);
      }
      // Any other failure: try again until the deadline.
    }
  };
  // A bug in the loop must not leave a leader that no longer renews: it ends leadership.
  renewLoop().catch((err: unknown) => end(`renewing failed: ${String(err)}`));

  let released = false;
  return {
    signal: ended.signal,
    isLeading,
    async release() {
      if (released) return;
      released = true;
      clearTimeout(watchdog);
      ended.abort(new Error("leadership released"));
      const call = { signal: AbortSignal.timeout(renewDeadlineMs) };
      try {
        const current = await client.get<Lease>(leasePath, call);
        if (current.spec?.holderIdentity !== options.identity) return;
        await client.replace(
          leasePath,
          { ...current, spec: { ...current.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
          call,
        );
      } catch (err) {
        log(`releasing ${where}: ${apiMessage(err)}`);
      }
    },
  };
}

/**
 * A standby's view of the lease: one long watch (field-selected by name) that records every change of holder or
 * renewal as it happens, so the standby needs no reads until the lease would expire.
 */
class LeaseWatcher {
  readonly #informer: SupervisedInformer<Lease>;
  #changed: (() => void) | undefined;
  /** The lease as last seen on the watch. */
  lease: Lease | undefined;

  constructor(client: KubeClient, leases: string, name: string, observe: (lease: Lease) => void) {
    this.#informer = new SupervisedInformer<Lease>({
      name: "leader-lease",
      client,
      path: leases,
      fieldSelector: `metadata.name=${name}`,
      onChange: (kind, current) => {
        this.lease = kind === "delete" ? undefined : current;
        observe(current);
        this.#changed?.();
      },
    });
  }

  start(): void {
    void this.#informer.start();
  }

  get synced(): boolean {
    return this.#informer.synced;
  }

  /** Resolves after `ms`, at the next change of the lease, or when `stop` aborts, whichever comes first. */
  async changeOrTimeout(ms: number, stop: AbortSignal | undefined): Promise<void> {
    if (ms <= 0) return;
    const changed = new AbortController();
    this.#changed = () => changed.abort();
    const signal = stop === undefined ? changed.signal : AbortSignal.any([changed.signal, stop]);
    await sleep(ms, undefined, { signal }).catch(() => undefined);
    this.#changed = undefined;
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }
}

// The chaos plan: which disruption happens when, drawn from a seed. Pure: the same seed and options give the same
// plan, so a run that finds something can be repeated with `--seed`.
//
// A plan fixes the time, the kind and a random draw of each disruption; it does not name processes or pods, which do
// not exist yet when the plan is drawn. The runner resolves a draw against the cluster at the moment of the
// disruption ("the leader" from the Lease, "a random API server replica" among the running ones, "a node still to
// update"), with resolveDraw below, so the plan stays reproducible and every disruption lands on something real.
//
// Rates are bounded: a minimum gap between any two disruptions, a minimum spacing per kind (a controller kill every
// couple of seconds would only measure leader election), and at most `maxHostFaults` host faults, one per node.
//
// Two fault sets: the default one (process kills and one-shot host faults the operator recovers from alone), and
// "all" (`--faults all`, FAULT_SETS.all): every kind below, including faults that need a person to repair the node
// (needsAPerson), with every kind planned at least once and no host fault repeated before all were used.
import { seededRandom } from "../seeded-random.ts";

export const DISRUPTION_KINDS = [
  /** SIGKILL the controller replica holding the leader Lease (a crash; the kubelet restarts it). */
  "kill-controller-leader",
  /** SIGKILL a random controller replica (leader or not). */
  "kill-controller",
  /** SIGKILL a random API server replica (drains it runs must be taken over by another). */
  "kill-apiserver",
  /** SIGKILL a random agent, preferably one whose node is mid-update. */
  "kill-agent",
  /** Arm a one-shot fault on the host of a node still to update. */
  "host-fault",
  /** A node's kubelet goes down for a while (Node NotReady; its agent stops and is not restarted meanwhile). */
  "kill-agent-notready",
  /** The API server replica that starts the next drain is killed before the agent's first poll of it. */
  "restart-apiserver-mid-drain",
  /** A node's network is cut off for a while: its agent reaches neither the kube-apiserver nor the API server. */
  "cut-agent-off",
  /** A host's API service restarts without a reboot: its socket refuses connections for a while. */
  "restart-host-api",
  /** The controller leader is killed just before or just after an update window closes. */
  "failover-window-end",
  /** A node leaves MANAGED_NODE_SELECTOR (a label changes) for a while, preferably mid-update. */
  "unmanage-node",
  /** A node is deleted (its instance terminated), preferably mid-update. */
  "delete-node",
] as const;

export type DisruptionKind = (typeof DISRUPTION_KINDS)[number];

export interface Disruption {
  /** Milliseconds after the new version is published. */
  readonly atMs: number;
  readonly kind: DisruptionKind;
  /** Uniform in [0, 1): picks the target among the candidates at that moment (resolveDraw). */
  readonly draw: number;
  /**
   * kill-agent: prefer an agent whose node is out of Idle (a kill mid-step), or any agent.
   * restart-apiserver-mid-drain: the next drain of any node ("next"), or the next drain of a node drained before in
   * the run ("again": a replica may still remember the earlier drain of that node).
   */
  readonly prefer?: "busy" | "any" | "next" | "again";
  /**
   * host-fault: the fault spec (sim/host/faults.ts); `a+b` arms both; a prefix `after-reboot:` arms it the instant
   * the host comes up from the operator's reboot (before the node is uncordoned).
   */
  readonly fault?: string;
  /** kill-agent-notready, cut-agent-off, restart-host-api, unmanage-node: how long it lasts. */
  readonly durationMs?: number;
  /** failover-window-end: before the window closes (else just after). */
  readonly before?: boolean;
}

/**
 * One-shot host faults the plan chooses from, and why each converges without a person:
 * - `prepare`, `activate`: the step fails once; the node reports the failure, backs off (3 min after a first
 *   failure, brupop's rule) and succeeds on its retry.
 * - `boot`: the new version panics at its trial boot and the host rolls back; same backoff, then the retry boots.
 * - `die:prepare`: the command's process dies without a trace (lock released, nothing recorded).
 * - `dispatcher`: an action answers 500 once.
 * - `reboot-drop`: the reboot happens but its 204 is lost. `reboot-delay:4000`: the API lingers after the 204.
 * - `slow:prepare:8000`: the step takes 8 s instead of 3.
 * Left out on purpose, because no operator can recover from them without a person (the host needs an external
 * reset or a reboot the operator cannot get to): `hang`, `boot-hang`, `stall`, `status-corrupt`.
 */
export const DEFAULT_HOST_FAULTS: readonly string[] = [
  "prepare",
  "activate",
  "boot",
  "die:prepare",
  "dispatcher",
  "reboot-drop",
  "reboot-delay:4000",
  "slow:prepare:8000",
];

/**
 * Host faults of `--faults all`, beyond the default ones: every way the issue lists for a host to misbehave.
 * Recoverable by the operator: a few GET /updates/status answering 500 or a body cut short (before the update, or
 * right after the reboot while the node is still cordoned), a reboot refused once with a deactivate that then fails
 * (the failure path), one request that is never answered. Needing a person (needsAPerson): a boot that never comes
 * back, a command that hangs with the lock held, an API that answers nothing, a status file corrupt until a reboot.
 */
export const ALL_HOST_FAULTS: readonly string[] = [
  ...DEFAULT_HOST_FAULTS,
  "status-500@10",
  "status-garbage@5",
  "after-reboot:status-500@15",
  "after-reboot:status-garbage@5",
  "reboot+deactivate@3",
  "stall",
  "boot-hang",
  "hang:prepare",
  "stall@always",
  "status-corrupt",
  "after-reboot:status-corrupt",
];

/**
 * The host faults every `--faults all` run arms first (in a seeded order): the ones issue 11 names. Status reads
 * failing as the node comes back from its reboot (500s, then a corrupt status file), a body cut short, a reboot
 * refused with a deactivate that fails, a boot that never comes back.
 */
export const FIRST_HOST_FAULTS: readonly string[] = [
  "after-reboot:status-500@15",
  "after-reboot:status-corrupt",
  "status-garbage@5",
  "reboot+deactivate@3",
  "boot-hang",
];

/** Whether a host fault leaves the node in a state no operator can repair alone (an external reset, a reboot). */
export function needsAPerson(fault: string): boolean {
  return fault
    .replace(/^after-reboot:/, "")
    .split("+")
    .some((f) => /^(boot-hang|hang)(:|@|$)/.test(f) || f === "stall@always" || f.startsWith("status-corrupt"));
}

export const DEFAULT_WEIGHTS: Readonly<Record<DisruptionKind, number>> = {
  "kill-controller-leader": 1,
  "kill-controller": 1,
  "kill-apiserver": 2,
  "kill-agent": 4,
  "host-fault": 3,
  "kill-agent-notready": 0,
  "restart-apiserver-mid-drain": 0,
  "cut-agent-off": 0,
  "restart-host-api": 0,
  "failover-window-end": 0,
  "unmanage-node": 0,
  "delete-node": 0,
};

export const ALL_WEIGHTS: Readonly<Record<DisruptionKind, number>> = {
  "kill-controller-leader": 1,
  "kill-controller": 1,
  "kill-apiserver": 2,
  "kill-agent": 3,
  "host-fault": 8,
  "kill-agent-notready": 1,
  "restart-apiserver-mid-drain": 1,
  "cut-agent-off": 1,
  "restart-host-api": 1,
  "failover-window-end": 1,
  "unmanage-node": 1,
  "delete-node": 1,
};

/** What `--faults default|all` means. */
export const FAULT_SETS = {
  default: { weights: DEFAULT_WEIGHTS, hostFaults: DEFAULT_HOST_FAULTS, coverAll: false },
  all: { weights: ALL_WEIGHTS, hostFaults: ALL_HOST_FAULTS, coverAll: true, firstHostFaults: FIRST_HOST_FAULTS },
} as const;
export type FaultSet = keyof typeof FAULT_SETS;

/** At most this many of a kind in one plan: the fleet must stay large enough to mean something. */
export const KIND_LIMITS: Readonly<Partial<Record<DisruptionKind, number>>> = {
  "delete-node": 1,
  "unmanage-node": 2,
  "kill-agent-notready": 3,
  "cut-agent-off": 3,
};

export const DEFAULT_KIND_SPACING_MS: Readonly<Partial<Record<DisruptionKind, number>>> = {
  // A killed leader's Lease must expire (15 s) before another replica leads; killing again sooner only stalls.
  "kill-controller-leader": 20_000,
  "kill-controller": 10_000,
  "kill-apiserver": 3_000,
  "restart-apiserver-mid-drain": 20_000,
  // One per window (a minute).
  "failover-window-end": 60_000,
  "kill-agent-notready": 20_000,
  "cut-agent-off": 20_000,
  "unmanage-node": 30_000,
};

export interface ChaosPlanOptions {
  readonly seed: number;
  /** The cluster's nodes; bounds the number of host faults. */
  readonly nodes: readonly string[];
  /** Disruptions happen in [0, durationMs). */
  readonly durationMs: number;
  /** Mean time between two disruptions (default 5 s). */
  readonly meanGapMs?: number;
  /** Minimum time between any two disruptions (default 1.5 s). */
  readonly minGapMs?: number;
  /** Relative weights of the kinds (default DEFAULT_WEIGHTS); 0 disables a kind. */
  readonly weights?: Partial<Record<DisruptionKind, number>>;
  /** Minimum time between two disruptions of the same kind (default DEFAULT_KIND_SPACING_MS). */
  readonly kindSpacingMs?: Partial<Record<DisruptionKind, number>>;
  /** Fault specs to choose from (default DEFAULT_HOST_FAULTS). */
  readonly hostFaults?: readonly string[];
  /** At most this many host faults (default a quarter of the nodes, at least 1); never more than one per node. */
  readonly maxHostFaults?: number;
  /** Plan every kind with a weight at least once (the first slots), and no host fault twice before all were used. */
  readonly coverAll?: boolean;
  /** With coverAll: these host faults come first, in a seeded order (they need not be in `hostFaults`). */
  readonly firstHostFaults?: readonly string[];
}

export function defaultMaxHostFaults(nodes: number): number {
  return Math.max(1, Math.floor(nodes / 4));
}

export function chaosPlan(options: ChaosPlanOptions): Disruption[] {
  const meanGapMs = options.meanGapMs ?? 5_000;
  const minGapMs = options.minGapMs ?? 1_500;
  if (!Number.isInteger(options.seed)) throw new RangeError(`seed must be an integer, got ${options.seed}`);
  if (!(options.durationMs >= 0)) throw new RangeError(`durationMs must be ≥ 0, got ${options.durationMs}`);
  if (!(minGapMs > 0) || !(meanGapMs >= minGapMs)) {
    throw new RangeError(`need 0 < minGapMs (${minGapMs}) ≤ meanGapMs (${meanGapMs})`);
  }
  const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const spacing = { ...DEFAULT_KIND_SPACING_MS, ...options.kindSpacingMs };
  const faults = options.hostFaults ?? DEFAULT_HOST_FAULTS;
  const maxHostFaults = Math.min(
    options.maxHostFaults ?? defaultMaxHostFaults(options.nodes.length),
    options.nodes.length,
    faults.length === 0 ? 0 : Infinity,
  );
  const random = seededRandom(options.seed);
  const plan: Disruption[] = [];
  const last = new Map<DisruptionKind, number>();
  let hostFaults = 0;
  const used = new Map<DisruptionKind, number>();
  const firstLeft = [...(options.firstHostFaults ?? [])];
  let faultsLeft = faults.filter((f) => !firstLeft.includes(f));
  // Gaps uniform in [minGap, 2·mean − minGap]: mean `meanGapMs`, never shorter than `minGapMs`.
  const gap = () => minGapMs + random() * 2 * (meanGapMs - minGapMs);
  for (let at = gap(); at < options.durationMs; at += gap()) {
    const atMs = Math.round(at);
    const allowed = DISRUPTION_KINDS.filter((kind) => {
      if (weights[kind] <= 0) return false;
      if (kind === "host-fault" && hostFaults >= maxHostFaults) return false;
      if ((used.get(kind) ?? 0) >= (KIND_LIMITS[kind] ?? Infinity)) return false;
      const previous = last.get(kind);
      return previous === undefined || atMs - previous >= (spacing[kind] ?? 0);
    });
    // Draw even when nothing is allowed, so that one kind's limit does not shift every later draw.
    const kindDraw = random();
    const draw = random();
    const extra = random();
    const length = random();
    if (allowed.length === 0) continue;
    // Covering: kinds not planned yet, and host faults while some of the first ones are left.
    const unused = options.coverAll
      ? allowed.filter((k) => !used.has(k) || (k === "host-fault" && firstLeft.length > 0))
      : [];
    const kind = weighted(unused.length > 0 ? unused : allowed, weights, kindDraw);
    last.set(kind, atMs);
    used.set(kind, (used.get(kind) ?? 0) + 1);
    const between = (lo: number, hi: number) => Math.round(lo + length * (hi - lo));
    switch (kind) {
      case "kill-agent":
        plan.push({ atMs, kind, draw, prefer: extra < 2 / 3 ? "busy" : "any" });
        break;
      case "host-fault": {
        hostFaults++;
        if (options.coverAll) {
          const from =
            firstLeft.length > 0 ? firstLeft : faultsLeft.length > 0 ? faultsLeft : (faultsLeft = [...faults]);
          const [fault] = from.splice(Math.floor(extra * from.length), 1);
          plan.push({ atMs, kind, draw, fault: fault ?? "prepare" });
        } else {
          plan.push({ atMs, kind, draw, fault: faults[Math.floor(extra * faults.length)] ?? "prepare" });
        }
        break;
      }
      case "kill-agent-notready":
        plan.push({ atMs, kind, draw, durationMs: between(20_000, 60_000) });
        break;
      case "cut-agent-off":
        plan.push({ atMs, kind, draw, durationMs: between(15_000, 60_000) });
        break;
      case "restart-host-api":
        plan.push({ atMs, kind, draw, durationMs: between(3_000, 20_000) });
        break;
      case "unmanage-node":
        plan.push({ atMs, kind, draw, durationMs: between(30_000, 90_000) });
        break;
      case "restart-apiserver-mid-drain":
        plan.push({ atMs, kind, draw, prefer: extra < 0.5 ? "again" : "next" });
        break;
      case "failover-window-end":
        plan.push({ atMs, kind, draw, before: extra < 0.5 });
        break;
      default:
        plan.push({ atMs, kind, draw });
    }
  }
  return plan;
}

function weighted(kinds: readonly DisruptionKind[], weights: Partial<Record<DisruptionKind, number>>, u: number) {
  const total = kinds.reduce((sum, k) => sum + (weights[k] ?? 0), 0);
  let x = u * total;
  for (const kind of kinds) {
    x -= weights[kind] ?? 0;
    if (x < 0) return kind;
  }
  return kinds[kinds.length - 1] as DisruptionKind;
}

/** The candidate a draw picks: candidates in a stable order, undefined when there is none. */
export function resolveDraw<T>(candidates: readonly T[], draw: number): T | undefined {
  if (candidates.length === 0) return undefined;
  const i = Math.min(candidates.length - 1, Math.max(0, Math.floor(draw * candidates.length)));
  return candidates[i];
}

export function countByKind(plan: readonly { kind: DisruptionKind }[]): Record<DisruptionKind, number> {
  const counts = Object.fromEntries(DISRUPTION_KINDS.map((k) => [k, 0])) as Record<DisruptionKind, number>;
  for (const d of plan) counts[d.kind]++;
  return counts;
}

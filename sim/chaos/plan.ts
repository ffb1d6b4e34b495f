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
] as const;

export type DisruptionKind = (typeof DISRUPTION_KINDS)[number];

export interface Disruption {
  /** Milliseconds after the new version is published. */
  readonly atMs: number;
  readonly kind: DisruptionKind;
  /** Uniform in [0, 1): picks the target among the candidates at that moment (resolveDraw). */
  readonly draw: number;
  /** kill-agent: prefer an agent whose node is out of Idle (a kill mid-step), or any agent. */
  readonly prefer?: "busy" | "any";
  /** host-fault: the fault spec (sim/host/faults.ts), fired once. */
  readonly fault?: string;
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

export const DEFAULT_WEIGHTS: Readonly<Record<DisruptionKind, number>> = {
  "kill-controller-leader": 1,
  "kill-controller": 1,
  "kill-apiserver": 2,
  "kill-agent": 4,
  "host-fault": 3,
};

export const DEFAULT_KIND_SPACING_MS: Readonly<Partial<Record<DisruptionKind, number>>> = {
  // A killed leader's Lease must expire (15 s) before another replica leads; killing again sooner only stalls.
  "kill-controller-leader": 20_000,
  "kill-controller": 10_000,
  "kill-apiserver": 3_000,
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
  // Gaps uniform in [minGap, 2·mean − minGap]: mean `meanGapMs`, never shorter than `minGapMs`.
  const gap = () => minGapMs + random() * 2 * (meanGapMs - minGapMs);
  for (let at = gap(); at < options.durationMs; at += gap()) {
    const atMs = Math.round(at);
    const allowed = DISRUPTION_KINDS.filter((kind) => {
      if (weights[kind] <= 0) return false;
      if (kind === "host-fault" && hostFaults >= maxHostFaults) return false;
      const previous = last.get(kind);
      return previous === undefined || atMs - previous >= (spacing[kind] ?? 0);
    });
    // Draw even when nothing is allowed, so that one kind's limit does not shift every later draw.
    const kindDraw = random();
    const draw = random();
    const extra = random();
    if (allowed.length === 0) continue;
    const kind = weighted(allowed, weights, kindDraw);
    last.set(kind, atMs);
    if (kind === "kill-agent") {
      plan.push({ atMs, kind, draw, prefer: extra < 2 / 3 ? "busy" : "any" });
    } else if (kind === "host-fault") {
      hostFaults++;
      plan.push({ atMs, kind, draw, fault: faults[Math.floor(extra * faults.length)] ?? "prepare" });
    } else {
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

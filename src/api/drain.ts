// The asynchronous drain's wire contract (our addition to brupop's routes, docs/design/drain.md#asynchronous-route):
// what `POST /bottlerocket-node-resource/drain` starts and `GET` reports, as the API server writes it and the agent
// reads it. Plain types and functions: the agent parses it by hand, without a validator library.

export type DrainPhase = "cordoning" | "evicting" | "drained" | "timed-out" | "failed" | "cancelled";
export type PodDrainState = "pending" | "blocked" | "terminating" | "gone" | "failed";

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export type SkipReason = "daemonset" | "mirror" | "not-selected" | "deletion-overdue";

export interface SkippedPod extends PodRef {
  reason: SkipReason;
  /** One line for status and logs. */
  message: string;
}

export interface PodProgress extends PodRef {
  state: PodDrainState;
  /** Why it is blocked or failed. */
  message?: string;
  /** PodDisruptionBudgets that refused its eviction. */
  budgets?: string[];
  attempts: number;
}

export interface DrainStatus {
  /**
   * This drain's identity, also on the Node (ANNOTATION_DRAIN) while it holds the node. An agent trusts a "drained"
   * only for the drain it started: another replica may remember an older drain of the same node.
   */
  id: string;
  node: string;
  phase: DrainPhase;
  startedAt: string;
  finishedAt?: string;
  /** One line: what happened or what holds the drain. */
  message: string;
  /** Pods the drain evicts or waits for. */
  pods: PodProgress[];
  /** Pods it leaves alone, with reasons. */
  skipped: SkippedPod[];
}

/** The body of POST (202, with `started`) and GET (200) on the drain route. */
export interface DrainResponse {
  started?: boolean;
  drain: DrainStatus;
  /** The pods still on the node (blockersOf), so a client need not read `drain.pods`. */
  blockers: PodProgress[];
}

export const isFinished = (phase: DrainPhase): boolean =>
  phase === "drained" || phase === "timed-out" || phase === "failed" || phase === "cancelled";

/** Pods still on the node, with the budgets that hold them. */
export function blockersOf(status: Pick<DrainStatus, "pods">): PodProgress[] {
  return status.pods.filter((p) => p.state !== "gone");
}

/**
 * "ns/pod blocked by PodDisruptionBudget x (needs 2 healthy pods and has 2 currently); …" for at most `max` pods.
 * Kubernetes' refusal repeats the budget's name around the one useful part; only that part is kept, so a reason
 * clipped by the agent and the Event still names every budget.
 */
export function describeBlockers(
  pods: readonly Pick<PodProgress, "namespace" | "name" | "state" | "message" | "budgets">[],
  max = 5,
): string {
  const shown = pods.slice(0, max).map((p) => {
    if (p.budgets?.length) {
      const detail = /needs \d+ healthy pods? and has \d+ currently/.exec(p.message ?? "")?.[0];
      return `${p.namespace}/${p.name} ${p.state} by PodDisruptionBudget ${p.budgets.join(", ")}${detail ? ` (${detail})` : ""}`;
    }
    return `${p.namespace}/${p.name} ${p.state}${p.message ? `: ${p.message}` : ""}`;
  });
  return shown.join("; ") + (pods.length > max ? `; and ${pods.length - max} more` : "");
}

const PHASES: readonly string[] = ["cordoning", "evicting", "drained", "timed-out", "failed", "cancelled"];

/**
 * What an agent needs of a drain response, read tolerantly: the drain's id, phase and message, and the pods that
 * hold it (entries that are not pods are dropped). Throws when the body is not a drain response at all.
 */
export function readDrainResponse(body: string): {
  id: string;
  phase: DrainPhase;
  message: string;
  blockers: Pick<PodProgress, "namespace" | "name" | "state" | "message" | "budgets">[];
} {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`drain status is not JSON: ${body.slice(0, 200)}`);
  }
  const root = (parsed ?? {}) as { drain?: Record<string, unknown>; blockers?: unknown };
  const drain = root.drain;
  if (typeof drain?.phase !== "string" || !PHASES.includes(drain.phase)) {
    throw new Error(`drain status has no phase: ${body.slice(0, 200)}`);
  }
  const blockers = (Array.isArray(root.blockers) ? root.blockers : []).flatMap((b: unknown) => {
    const p = (b ?? {}) as Record<string, unknown>;
    if (typeof p.name !== "string") return [];
    const budgets = Array.isArray(p.budgets) ? p.budgets.filter((x): x is string => typeof x === "string") : [];
    return [
      {
        namespace: typeof p.namespace === "string" ? p.namespace : "",
        name: p.name,
        state: (typeof p.state === "string" ? p.state : "pending") as PodDrainState,
        ...(typeof p.message === "string" ? { message: p.message } : {}),
        ...(budgets.length > 0 ? { budgets } : {}),
      },
    ];
  });
  return {
    id: typeof drain.id === "string" ? drain.id : "",
    phase: drain.phase as DrainPhase,
    message: typeof drain.message === "string" ? drain.message : "",
    blockers,
  };
}

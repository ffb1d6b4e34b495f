// The footprint goals (issue 17's table) as bench/footprint.ts reports them: one entry per row, each a number
// compared with its goal (every goal is an upper bound), or no number and the reason why that part could not run.

export const FOOTPRINT_GOAL_IDS = [
  "controller-idle-rss-100",
  "controller-rollout-rss-1000",
  "apiserver-idle-rss-100",
  "apiserver-rollout-rss-1000",
  "agent-working-set",
  "idle-requests-per-hour-100",
  "idle-requests-per-hour-1000",
  "failover-seconds",
  "reconcile-p99-ms-1000",
  "status-to-spec-p99-ms-1000",
  "serial-seconds-per-node",
  "conversion-peak-rss",
] as const;

export type FootprintGoalId = (typeof FOOTPRINT_GOAL_IDS)[number];

export type FootprintUnit = "MiB" | "requests/hour" | "s" | "ms";

/** One row of the table: `measured` ≤ `goal` is met. */
export interface FootprintGoal {
  id: FootprintGoalId;
  /** What is measured, in words (the summary's Goal column). */
  description: string;
  goal: number;
  unit: FootprintUnit;
  /** null when the part that measures it could not run (then `why` says why). */
  measured: number | null;
  met: boolean | null;
  why?: string;
  /** How it was measured, or what else the goal asks and how that went. */
  detail?: string;
}

/** What a part measured for a goal, or why it has no number. */
export type Figure =
  | {
      value: number;
      detail?: string;
      /** A further condition of the goal besides the bound (e.g. "back to idle size after"). */
      also?: { met: boolean; what: string };
    }
  | { why: string };

interface Row {
  description: string;
  unit: FootprintUnit;
  goal: number;
}

/** The goals of the issue's table whose bound is fixed; the conversion webhook's is the manifest's memory limit. */
const FIXED: Record<Exclude<FootprintGoalId, "conversion-peak-rss">, Row> = {
  "controller-idle-rss-100": { description: "controller RSS, idle, 100 nodes", unit: "MiB", goal: 64 },
  "controller-rollout-rss-1000": {
    description: "controller RSS, peak, 1,000-node rollout (budget 100)",
    unit: "MiB",
    goal: 128,
  },
  "apiserver-idle-rss-100": { description: "API server RSS, idle, 100 nodes", unit: "MiB", goal: 64 },
  "apiserver-rollout-rss-1000": {
    description: "API server RSS, peak, 1,000-node rollout",
    unit: "MiB",
    goal: 128,
  },
  "agent-working-set": {
    description: "agent working set (cgroup, under its limit) through an update",
    unit: "MiB",
    goal: 24,
  },
  "idle-requests-per-hour-100": {
    description: "operator's kube-apiserver requests at idle, all components, 100 nodes",
    unit: "requests/hour",
    goal: 300,
  },
  "idle-requests-per-hour-1000": {
    description: "operator's kube-apiserver requests at idle, all components, 1,000 nodes",
    unit: "requests/hour",
    goal: 300,
  },
  "failover-seconds": {
    description: "controller failover after the leader is killed, to the next decision",
    unit: "s",
    goal: 45,
  },
  "reconcile-p99-ms-1000": { description: "node reconcile p99, 1,000 nodes", unit: "ms", goal: 100 },
  "status-to-spec-p99-ms-1000": {
    description: "status → next spec write p99, 1,000 nodes",
    unit: "ms",
    goal: 1_000,
  },
  "serial-seconds-per-node": {
    description: "serial rollout per node, zero host time",
    unit: "s",
    goal: 0.3,
  },
};

function row(id: FootprintGoalId, conversionLimitMiB: number | null): Row | { why: string } {
  if (id !== "conversion-peak-rss") return FIXED[id];
  if (conversionLimitMiB === null) return { why: "no memory limit for the API server in the manifest" };
  return {
    description:
      "conversion webhook peak RSS, largest review kube-apiserver can send and the 16 MB attack (≤ the manifest's memory limit, back to idle size after)",
    unit: "MiB",
    goal: conversionLimitMiB,
  };
}

/**
 * The table, in the issue's order, from what each part measured. A figure that is not a finite number (a quantile of
 * no samples) is reported as not measured rather than as a number.
 */
export function footprintGoals(
  figures: Readonly<Partial<Record<FootprintGoalId, Figure>>>,
  conversionLimitMiB: number | null,
): FootprintGoal[] {
  return FOOTPRINT_GOAL_IDS.map((id): FootprintGoal => {
    const r = row(id, conversionLimitMiB);
    if ("why" in r) {
      return { id, description: id, goal: NaN, unit: "MiB", measured: null, met: null, why: r.why };
    }
    const base = { id, description: r.description, goal: r.goal, unit: r.unit };
    const figure = figures[id] ?? { why: "not measured in this run" };
    if ("why" in figure) return { ...base, measured: null, met: null, why: figure.why };
    if (!Number.isFinite(figure.value)) {
      return { ...base, measured: null, met: null, why: `no number came out (${String(figure.value)})` };
    }
    const details = [figure.detail, figure.also && `${figure.also.what}: ${figure.also.met ? "yes" : "no"}`];
    const detail = details.filter((d) => d !== undefined && d !== "").join("; ");
    return {
      ...base,
      measured: figure.value,
      met: figure.value <= r.goal && (figure.also?.met ?? true),
      ...(detail === "" ? {} : { detail }),
    };
  });
}

/** The summary table's Goal and Measured cells for one row. */
export function footprintGoalCells(g: FootprintGoal): { description: string; measured: string } {
  const description = Number.isFinite(g.goal) ? `${g.description}: ≤ ${g.goal} ${g.unit}` : g.description;
  const measured =
    g.measured === null
      ? `not measured: ${g.why ?? "no reason given"}`
      : `${g.measured} ${g.unit}${g.detail === undefined ? "" : ` (${g.detail})`}`;
  return { description, measured };
}

// The plan as the policy status shows it in a dry run (src/core/plan.ts): the first MAX_PLAN_ENTRIES nodes in plan
// order with the counts. Times move with the clock; the published plan is replaced only when its substance changes
// (planShape), so the status is not rewritten on every pass and one PlanPublished Event marks each change.
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import { MAX_PLAN_ENTRIES } from "../api/update-policy-names.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import type { Plan } from "./plan.ts";

export type PlanStatus = NonNullable<UpdatePolicyStatus["plan"]>;

export function planStatus(plan: Plan): PlanStatus {
  const status: PlanStatus = {
    computedAt: formatTimestamp(plan.now),
    updateDuration: plan.duration.description,
    waves: plan.waves.length,
    nodes: plan.starts.length,
    inFlight: plan.inFlight.length,
    notPlanned: plan.notPlanned.length,
    entries: plan.starts.slice(0, MAX_PLAN_ENTRIES).map((s) => ({
      wave: s.wave,
      node: s.nodeName,
      start: formatTimestamp(s.at),
      estimated: s.estimated,
      from: s.from,
      to: s.to,
      ...(s.zone === null ? {} : { zone: s.zone }),
      why: s.why,
    })),
  };
  if (plan.expectedEnd !== null) status.expectedEnd = formatTimestamp(plan.expectedEnd);
  if (plan.truncated) status.truncated = true;
  return status;
}

/**
 * What the plan says, without the times that only follow the clock (an estimate, or "now"): who, in which wave, from
 * what, why, and the times that are fixed (a window's opening, a backoff's end).
 */
export function planShape(plan: PlanStatus): string {
  const { computedAt, expectedEnd: _end, entries, ...counts } = plan;
  return JSON.stringify({
    counts,
    entries: entries.map(({ start, estimated, ...rest }) =>
      estimated || start === computedAt ? rest : { ...rest, start },
    ),
  });
}

/** The published plan: the previous one while its substance is the same, else the new one. */
export function publishedPlan(plan: Plan, previous: PlanStatus | undefined): PlanStatus {
  const next = planStatus(plan);
  return previous !== undefined && planShape(previous) === planShape(next) ? previous : next;
}

/** One line for the PlanPublished Event (an Event message is at most 1 KiB). */
export function planMessage(plan: PlanStatus): string {
  if (plan.nodes === 0) {
    return (
      `dry run: no node would start (${plan.inFlight} updating now finish normally, ${plan.notPlanned} not planned); ` +
      "nothing starts until spec.dryRun is false"
    );
  }
  const first = plan.entries.filter((e) => e.wave === 1).map((e) => e.node);
  const head =
    `dry run: ${plan.nodes} node${plan.nodes === 1 ? "" : "s"} would update in ${plan.waves} wave` +
    `${plan.waves === 1 ? "" : "s"}, assuming ${plan.updateDuration}`;
  const wave1 =
    first.length === 0
      ? ""
      : `; wave 1 (${plan.entries[0]?.start ?? "?"}): ${first.slice(0, 10).join(", ")}${first.length > 10 ? ", ..." : ""}`;
  const rest =
    `; ${plan.inFlight} updating now finish normally; ${plan.notPlanned} not planned` +
    "; nothing starts until spec.dryRun is false (brupop plan shows it all)";
  return (head + wave1 + rest).slice(0, 1000);
}

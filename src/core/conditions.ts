// One condition of the shadow's status.conditions set as wanted, the others kept: the rule every condition the
// controller owns follows (Stuck, UpdateHealthy). Pure.
import type { Condition } from "../api/bottlerocket-shadow.ts";
import { formatTimestamp } from "../api/timestamps.ts";

export type ConditionWanted = Pick<Condition, "type" | "status" | "reason" | "message" | "observedGeneration">;

/**
 * `conditions` with `wanted` in place of the condition of its type, or null when they already say it (nothing to
 * write). lastTransitionTime changes only when the status does.
 */
export function withCondition(
  conditions: readonly Condition[] | undefined,
  wanted: ConditionWanted,
  now: Date,
): Condition[] | null {
  const current = conditions?.find((c) => c.type === wanted.type);
  if (
    current !== undefined &&
    current.status === wanted.status &&
    current.reason === wanted.reason &&
    current.message === wanted.message &&
    current.observedGeneration === wanted.observedGeneration
  ) {
    return null;
  }
  const others = (conditions ?? []).filter((c) => c.type !== wanted.type);
  const lastTransitionTime =
    current !== undefined && current.status === wanted.status ? current.lastTransitionTime : formatTimestamp(now);
  return [...others, { ...wanted, lastTransitionTime }];
}

// The shadow's `Stuck` condition: how a stuck node is reported on the object itself, for `kubectl wait`,
// `kubectl get brs -o yaml` and dashboards, next to the NodeStuck Event and brupop_nodes_not_started{reason="stuck"}
// (docs/design/state-machine.md#budget). The controller owns it; the API server keeps it when an agent replaces
// the status.
import type { Condition } from "../api/bottlerocket-shadow.ts";
import { withCondition } from "./conditions.ts";

export const STUCK_CONDITION = "Stuck";

/** Why a node is stuck now (a metav1.Condition reason and message), or null when it is not. */
export type StuckReport = { reason: "AgentUnresponsive"; message: string } | null;

/**
 * `conditions` with the Stuck condition as `report` says, or null when they already say it (nothing to write). A
 * node that was never stuck gets no condition; one that no longer is keeps it, False, with when that changed.
 */
export function withStuckCondition(
  conditions: readonly Condition[] | undefined,
  report: StuckReport,
  now: Date,
): Condition[] | null {
  const current = conditions?.find((c) => c.type === STUCK_CONDITION);
  if (current === undefined && report === null) return null;
  const wanted =
    report === null
      ? { status: "False" as const, reason: "AgentReporting", message: "the agent reports again" }
      : { status: "True" as const, reason: report.reason, message: report.message };
  return withCondition(conditions, { type: STUCK_CONDITION, ...wanted }, now);
}

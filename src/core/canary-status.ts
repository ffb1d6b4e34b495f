// What the policy status, the Events and `brupop status` say of the canary phase (src/core/canary.ts).
import { formatTimestamp } from "../api/timestamps.ts";
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import type { CanaryPhase, CanaryRollout } from "./canary.ts";
import { formatDuration } from "./duration.ts";
import type { CanarySelection } from "./select.ts";

/** Canary nodes listed in the status (their count is always there). */
export const MAX_CANARY_NODES_LISTED = 100;
/** Versions shown: nodes are offered one or two at a time; more is a fleet in disarray, and the rest are counted. */
export const MAX_CANARY_ROLLOUTS = 10;

/** One line for the whole phase: what the status's message and `brupop status` say. */
export function describeCanaryPhase(canary: CanarySelection): string {
  if (canary.nodes.length === 0) {
    return `no managed node matches the canary selector ${canary.selector}: no canary phase, nodes update without one`;
  }
  const nodes = `${canary.nodes.length} canary node${canary.nodes.length === 1 ? "" : "s"} (${canary.selector})`;
  if (canary.rollouts.length === 0) return `${nodes}; no other node waits for a version`;
  return `${nodes}: ${canary.rollouts.map((r) => `${r.version} ${r.phase}`).join(", ")}`;
}

export function canaryStatus(canary: CanarySelection): NonNullable<UpdatePolicyStatus["canary"]> {
  return {
    selector: canary.selector,
    soak: formatDuration(canary.soakSeconds),
    canaryNodes: canary.nodes.length,
    nodes: canary.nodes.slice(0, MAX_CANARY_NODES_LISTED),
    message: describeCanaryPhase(canary),
    rollouts: canary.rollouts.slice(0, MAX_CANARY_ROLLOUTS).map((r) => ({
      version: r.version,
      phase: r.phase,
      ...(r.soakStartedAt === null ? {} : { soakStartedAt: formatTimestamp(r.soakStartedAt) }),
      ...(r.soakEndsAt === null ? {} : { soakEndsAt: formatTimestamp(r.soakEndsAt) }),
      message: r.message,
    })),
  };
}

/** The policy Event for a version's phase: recorded once per change of phase. */
export function canaryEvent(rollout: CanaryRollout): {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
} {
  const reasons: Record<CanaryPhase, [reason: string, type: "Normal" | "Warning"]> = {
    Pending: ["CanariesUpdating", "Normal"],
    Soaking: ["SoakStarted", "Normal"],
    Passed: ["SoakPassed", "Normal"],
    Failed: ["CanaryFailed", "Warning"],
  };
  const [reason, type] = reasons[rollout.phase];
  return { type, reason, message: rollout.message };
}

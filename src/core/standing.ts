// Where a node stands in an update, as far as the budget is concerned: the one definition of "uses up budget" that
// the controller's starts, its metrics, the policy status and the CLI share (docs/design/state-machine.md#budget).
//
// The budget bounds the nodes the operator disrupts. A node counts from the moment the controller asks it to move
// until its agent reports Idle again, with one exception that keeps a dead agent from holding the fleet for ever:
// once the agent has had the Idle timeout to come back and has not, the node is *stuck*, and a stuck node counts only
// while it really is disrupted — cordoned, or not Ready. A stuck node that is Ready and still cordoned by the
// operator's drain is released by the controller (uncordoned), after which it no longer counts; it stays reported
// until its agent reports Idle.
import { stepDeadline, type NodeTimeouts } from "./timeouts.ts";
import type { NodeView, ShadowView } from "./model.ts";

export type Standing =
  /** Idle on both sides (or no status yet with the default spec). */
  | { kind: "idle" }
  /** spec.state is not Idle: the controller asked the node to move. */
  | { kind: "updating" }
  /** spec.state is Idle, the agent does not report Idle yet; `stuckAt` is the Idle deadline (null: no timestamp). */
  | { kind: "returning"; stuckAt: Date | null }
  /** Past the Idle deadline. `disrupted`: cordoned or not Ready. `release`: Ready and cordoned by our drain. */
  | { kind: "stuck"; since: Date; disrupted: boolean; release: boolean };

export function standing(shadow: ShadowView, node: NodeView | undefined, timeouts: NodeTimeouts, now: Date): Standing {
  if (shadow.spec.state !== "Idle") return { kind: "updating" };
  const status = shadow.status ?? null;
  if (status === null || status.current_state === "Idle") return { kind: "idle" };
  const stuckAt = stepDeadline("Idle", shadow.spec.state_transition_timestamp, timeouts) ?? null;
  if (stuckAt === null || now < stuckAt) return { kind: "returning", stuckAt };
  // A node the controller cannot see (deleted, or outside MANAGED_NODE_SELECTOR) disrupts nothing it manages.
  const disrupted = node !== undefined && (node.unschedulable || node.ready !== true);
  const release = node !== undefined && node.ready === true && node.unschedulable && node.drainedByOperator;
  return { kind: "stuck", since: stuckAt, disrupted, release };
}

/**
 * Whether the node is on its way through an update: asked to move, or back to Idle within its timeout. A stuck node
 * is not, even while it still uses up budget: waiting for it to finish would wait for ever.
 */
export function inProgress(s: Standing): boolean {
  return s.kind === "updating" || s.kind === "returning";
}

/** Whether the node uses up budget: in progress, or stuck and still disrupted. */
export function occupiesBudget(s: Standing): boolean {
  return inProgress(s) || (s.kind === "stuck" && s.disrupted);
}

/** How many of `shadows` use up budget, their Nodes looked up in `nodes` (managed nodes, by name). */
export function countUsingBudget(
  shadows: readonly ShadowView[],
  nodes: ReadonlyMap<string, NodeView>,
  timeouts: NodeTimeouts,
  now: Date,
): number {
  return shadows.filter((shadow) => occupiesBudget(standing(shadow, nodes.get(shadow.nodeName), timeouts, now))).length;
}

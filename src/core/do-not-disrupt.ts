// While the operator disrupts a node, Karpenter and cluster-autoscaler must leave it alone: the Node carries
// Karpenter's `karpenter.sh/do-not-disrupt` and cluster-autoscaler's `scale-down-disabled` annotations from before
// the start is written until the node is back (docs/design/do-not-disrupt.md).
//
// Ownership: the operator removes only what it added. It lists the keys it added in its own annotation
// (ANNOTATION_ADDED) in the same patch that adds them, so a user's own do-not-disrupt, or one a Karpenter NodePool
// template puts on every node, is never overwritten or removed, and a new leader knows what is its own after a crash.
// A key whose value someone changed since is no longer the operator's. Pure: the controller writes these merge patches.
import { API_GROUP } from "../api/constants.ts";
import type { AnnotationPatch, NodeView, ShadowView } from "./model.ts";
import { occupiesBudget, standing } from "./standing.ts";
import type { NodeTimeouts } from "./timeouts.ts";

/** The annotations, and the value that means "do not disrupt" to their readers. */
export const DO_NOT_DISRUPT: Readonly<Record<string, string>> = {
  /** Karpenter v1: no voluntary disruption (consolidation, drift, expiry) of a Node carrying it. */
  "karpenter.sh/do-not-disrupt": "true",
  /** cluster-autoscaler: the node is not considered for scale-down. */
  "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true",
};

const KEYS = Object.keys(DO_NOT_DISRUPT).sort();

/** Node, controller: the do-not-disrupt keys the operator added and will remove (comma-separated). */
export const ANNOTATION_ADDED = `${API_GROUP}/added-annotations`;

/**
 * Whether the operator is disrupting the node and so keeps the others off it: from the start (spec out of Idle)
 * until the agent reports Idle again, or while it is stuck and still disrupted, by the budget's standing rule; and
 * whenever the operator's drain cordons it.
 */
export function disruptedByOperator(
  shadow: ShadowView | undefined,
  node: NodeView,
  timeouts: NodeTimeouts,
  now: Date,
): boolean {
  if (node.drainedByOperator) return true;
  return shadow !== undefined && occupiesBudget(standing(shadow, node, timeouts, now));
}

/** The keys the operator added and that still carry its value (the only ones it may remove). */
export function addedByOperator(node: NodeView): string[] {
  const listed = new Set((node.annotations[ANNOTATION_ADDED] ?? "").split(",").map((key) => key.trim()));
  return KEYS.filter((key) => listed.has(key) && node.annotations[key] === DO_NOT_DISRUPT[key]);
}

/**
 * The merge patch that makes the node guarded (`guard`) or not, touching only the operator's own keys; null when
 * nothing needs writing. Guarding adds each annotation the node lacks and records it as added; a key already
 * there with any other owner is left as it is. Unguarding removes only what the operator added.
 */
export function guardPatch(node: NodeView, guard: boolean): AnnotationPatch | null {
  // Most nodes, most of the time: nothing of the operator's on a node it does not disrupt.
  if (!guard && node.annotations[ANNOTATION_ADDED] === undefined) return null;
  const ours = new Set(addedByOperator(node));
  const patch: Record<string, string | null> = {};
  const added: string[] = [];
  for (const key of KEYS) {
    const value = node.annotations[key];
    if (guard && value === undefined) {
      patch[key] = DO_NOT_DISRUPT[key] ?? "true";
      added.push(key);
    } else if (guard && ours.has(key)) {
      added.push(key);
    } else if (!guard && ours.has(key)) {
      patch[key] = null;
    }
  }
  const record = added.length === 0 ? null : added.join(",");
  if (record !== (node.annotations[ANNOTATION_ADDED] ?? null)) patch[ANNOTATION_ADDED] = record;
  return Object.keys(patch).length === 0 ? null : patch;
}

export interface GuardChange {
  nodeName: string;
  /** true: add the annotations (the node is disrupted); false: remove the operator's. */
  guard: boolean;
  patch: AnnotationPatch;
}

/**
 * Every managed node whose annotations do not match what it should carry now: guarded while the operator disrupts
 * it (and `enabled`), the operator's own annotations removed otherwise. Level-triggered, so a new leader puts right
 * whatever a crash left: a node disrupted meanwhile gets them, one that finished loses them.
 *
 * A removal must be decided on shadows read consistently (a cached shadow may not show a start just written), and
 * in the one place that starts nodes, so that no start slips in between (the controller's fleet reconcile).
 */
export function planGuards(
  shadows: readonly ShadowView[],
  nodes: readonly NodeView[],
  enabled: boolean,
  timeouts: NodeTimeouts,
  now: Date,
): GuardChange[] {
  const shadowOf = new Map(shadows.map((shadow) => [shadow.nodeName, shadow]));
  const changes: GuardChange[] = [];
  for (const node of nodes) {
    const guard = enabled && disruptedByOperator(shadowOf.get(node.name), node, timeouts, now);
    const patch = guardPatch(node, guard);
    if (patch !== null) changes.push({ nodeName: node.name, guard, patch });
  }
  return changes;
}

// Other disruptors: Karpenter and cluster-autoscaler take nodes away too. Which nodes the operator leaves alone for
// that reason: a node Karpenter is already disrupting (its `karpenter.sh/disrupted` taint) is not started, nor,
// when the policy sets a minimum node age, a node younger than it. The policy's two settings for coordination are
// read here; the annotations that keep the others off a node the operator disrupts are do-not-disrupt.ts's.
import { formatTimestamp } from "../api/timestamps.ts";
import { MAX_MIN_NODE_AGE } from "../api/update-policy-names.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import type { NodeView } from "./model.ts";

/**
 * Karpenter v1's taint (effect NoSchedule) on a node it is disrupting: consolidation, drift, expiry, a manual
 * deletion. It removes the taint if it gives up. Karpenter itself matches the key only (sigs.k8s.io/karpenter
 * `DisruptedTaintKey`), and so do we.
 */
export const KARPENTER_DISRUPTED_TAINT = "karpenter.sh/disrupted";

export interface DisruptorPolicy {
  /** Set the do-not-disrupt annotations on a node while the operator disrupts it (do-not-disrupt.ts). Default true. */
  annotateDoNotDisrupt: boolean;
  /** Nodes younger than this many seconds are not started; 0: no minimum (the default). */
  minNodeAgeSeconds: number;
}

/** The API server refuses more (the CRD's rule); checked again here for a CRD installed before the rule. */
const MAX_MIN_NODE_AGE_SECONDS = MAX_MIN_NODE_AGE.seconds;

export const DEFAULT_DISRUPTOR_POLICY: DisruptorPolicy = { annotateDoNotDisrupt: true, minNodeAgeSeconds: 0 };

/** The policy resource's fields for coordination (policy resource only: brupop has no such settings). */
export interface DisruptorPolicySpec {
  /** Default true. */
  annotateDoNotDisrupt?: boolean;
  /** A duration such as `30m`, `1h` or `1d`; `0s` or absent: none. */
  minNodeAge?: string;
}

/** The coordination settings of a policy spec; problems are appended to `errors`, each naming its field. */
export function resolveDisruptorPolicy(spec: DisruptorPolicySpec, errors: string[]): DisruptorPolicy {
  const policy = { ...DEFAULT_DISRUPTOR_POLICY };
  const annotate: unknown = spec.annotateDoNotDisrupt;
  if (annotate !== undefined) {
    if (typeof annotate === "boolean") policy.annotateDoNotDisrupt = annotate;
    else errors.push("policy spec.annotateDoNotDisrupt must be true or false");
  }
  const age: unknown = spec.minNodeAge;
  if (age !== undefined) {
    if (typeof age !== "string") {
      errors.push(`policy spec.minNodeAge: ${JSON.stringify(age)} is not a duration such as "1h"`);
    } else {
      try {
        const seconds = parseDuration(age);
        if (seconds <= MAX_MIN_NODE_AGE_SECONDS) policy.minNodeAgeSeconds = seconds;
        else errors.push(`policy spec.minNodeAge: "${age}" is longer than ${formatDuration(MAX_MIN_NODE_AGE_SECONDS)}`);
      } catch (error) {
        errors.push(`policy spec.minNodeAge: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return policy;
}

/** Why another disruptor's claim on a node keeps it from starting (a NotStartedReason of select.ts). */
export type DisruptorHold =
  { code: "karpenter-disrupting"; message: string } | { code: "node-too-young"; eligibleAt: Date; message: string };

/**
 * Whether the node is left alone for another disruptor's sake, and why; null when it may start. A node whose
 * creation time is unknown is taken to be old enough (every Node the API server returns has one).
 */
export function heldForOtherDisruptors(node: NodeView, policy: DisruptorPolicy, now: Date): DisruptorHold | null {
  if (node.taintKeys?.includes(KARPENTER_DISRUPTED_TAINT) === true) {
    return {
      code: "karpenter-disrupting",
      message: `Karpenter is disrupting node ${node.name} (taint ${KARPENTER_DISRUPTED_TAINT})`,
    };
  }
  const createdAt = node.createdAt ?? null;
  if (policy.minNodeAgeSeconds > 0 && createdAt !== null) {
    const eligibleAt = new Date(createdAt.getTime() + policy.minNodeAgeSeconds * 1000);
    if (now < eligibleAt) {
      return {
        code: "node-too-young",
        eligibleAt,
        message:
          `node ${node.name} was created at ${formatTimestamp(createdAt)}, less than minNodeAge ` +
          `${formatDuration(policy.minNodeAgeSeconds)} ago; it may start from ${formatTimestamp(eligibleAt)}`,
      };
    }
  }
  return null;
}

// Cache objects → the small views src/core decides on. Pure. Objects that cannot be read (no owner reference and
// no brs- name, a status that is not an object) are mapped as far as is safe; the decisions handle bad field values.
import type { V1Node } from "@kubernetes/client-node";
import { ANNOTATION_DRAIN, nodeNameFromBrsName } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { isBrsState } from "../api/state-machine.ts";
import { parseTimestamp } from "../api/timestamps.ts";
import type { NodeView, ShadowSpec, ShadowStatus, ShadowView } from "./model.ts";

/**
 * The node a shadow belongs to: its first owner reference (brupop's selector), else its name `brs-<node>`.
 * Undefined when neither tells.
 */
export function shadowNodeName(shadow: Pick<BottlerocketShadow, "metadata">): string | undefined {
  const owner = shadow.metadata.ownerReferences?.find((ref) => ref.kind === "Node");
  return owner?.name ?? nodeNameFromBrsName(shadow.metadata.name ?? "");
}

function toSpec(spec: BottlerocketShadow["spec"] | undefined): ShadowSpec {
  return {
    state: spec !== undefined && isBrsState(spec.state) ? spec.state : "Idle",
    version: spec?.version ?? null,
    state_transition_timestamp: spec?.state_transition_timestamp ?? null,
  };
}

function toStatus(status: BottlerocketShadow["status"]): ShadowStatus | null {
  if (status === undefined || status === null || typeof status !== "object") return null;
  return {
    current_version: status.current_version,
    target_version: status.target_version,
    current_state: status.current_state,
    crash_count: status.crash_count,
    state_transition_failure_timestamp: status.state_transition_failure_timestamp ?? null,
    failure_reason: status.failure_reason ?? null,
  };
}

export function toShadowView(shadow: BottlerocketShadow): ShadowView | undefined {
  const name = shadow.metadata.name;
  const nodeName = shadowNodeName(shadow);
  if (name === undefined || nodeName === undefined) return undefined;
  return {
    name,
    nodeName,
    annotations: shadow.metadata.annotations ?? {},
    spec: toSpec(shadow.spec),
    status: toStatus(shadow.status),
  };
}

export function toNodeView(node: V1Node): NodeView | undefined {
  const name = node.metadata?.name;
  if (name === undefined) return undefined;
  return {
    name,
    labels: node.metadata?.labels ?? {},
    annotations: node.metadata?.annotations ?? {},
    unschedulable: node.spec?.unschedulable === true,
    ready: readyCondition(node),
    drainedByOperator: node.metadata?.annotations?.[ANNOTATION_DRAIN] !== undefined,
    taintKeys: (node.spec?.taints ?? []).map((taint) => taint.key),
    createdAt: createdAt(node),
  };
}

/** client-node's typed APIs give a Date; a plain JSON read (the controller's client) gives the RFC 3339 string. */
function createdAt(node: V1Node): Date | null {
  const value: unknown = node.metadata?.creationTimestamp;
  return value instanceof Date ? value : (parseTimestamp(value) ?? null);
}

function readyCondition(node: V1Node): boolean | null {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return ready?.status === "True" ? true : ready?.status === "False" ? false : null;
}

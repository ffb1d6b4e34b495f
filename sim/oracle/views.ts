// What an honest observer reads off the Kubernetes objects: Nodes (cordon and who set it, Ready, OS image, labels),
// Pods (where they are bound, what owns them, whether they still run), PodDisruptionBudgets, the operator's Events,
// and, only to see whether a reason is shown, the BottlerocketShadows. Pure: objects in, plain views out.
//
// Nothing here comes from src/core: the oracle's definitions are its own (README.md), so that a wrong definition in the
// product cannot hide its own mistakes.
import type { CoreV1Event, V1Node, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";

export interface NodeView {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly unschedulable: boolean;
  /** The field manager that last wrote spec.unschedulable (managedFields), if the API server recorded one. */
  readonly cordonManager: string | undefined;
  /** The Ready condition: true, false (False or Unknown), undefined when the node reports none. */
  readonly ready: boolean | undefined;
  /** The version in status.nodeInfo.osImage ("Bottlerocket OS 1.26.0 (aws-k8s-1.35)" → "1.26.0"). */
  readonly osVersion: string | undefined;
  /** Those of DO_NOT_DISRUPT_ANNOTATIONS the Node carries: each value, and the field manager that set it. */
  readonly doNotDisrupt?: Readonly<Record<string, AnnotationView>>;
}

export interface AnnotationView {
  readonly value: string;
  /** The manager of the annotation (managedFields), if the API server recorded one. */
  readonly manager: string | undefined;
}

/**
 * The annotations that keep other disruptors off a node, with the value that means so: Karpenter's (v1) and
 * cluster-autoscaler's, as their own documentation names them.
 */
export const DO_NOT_DISRUPT_ANNOTATIONS: Readonly<Record<string, string>> = {
  "karpenter.sh/do-not-disrupt": "true",
  "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true",
};

export interface PodView {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** spec.nodeName: the node it is bound to (never changes once set). */
  readonly nodeName: string | undefined;
  readonly phase: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** Owned by a DaemonSet (its controller owner). */
  readonly daemonSet: boolean;
  /** A static pod's API mirror (annotation kubernetes.io/config.mirror). */
  readonly mirror: boolean;
  /** metadata.deletionTimestamp in ms: the pod is terminating (its containers may still run). */
  readonly deletingSince: number | undefined;
  /** The Ready condition is True. */
  readonly ready: boolean;
}

export interface LabelSelectorView {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly { key: string; operator: string; values: readonly string[] }[];
}

export interface PdbView {
  readonly namespace: string;
  readonly name: string;
  readonly selector: LabelSelectorView;
  /** status.desiredHealthy and status.expectedPods, as the disruption controller computed them. */
  readonly desiredHealthy: number | undefined;
  readonly expectedPods: number | undefined;
}

export interface EventView {
  /** The node it is about: a Node, or the node's BottlerocketShadow `brs-<node>`. */
  readonly node: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
  /** When it last happened, in ms (second precision for core/v1 timestamps). */
  readonly at: number;
}

export const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";
/** The annotation the operator's documentation (docs/operations.md) names for "why the current spec was written". */
export const SPEC_REASON_ANNOTATION = "brupop.bottlerocket.aws/spec-reason";

export function nodeView(node: V1Node): NodeView {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return {
    name: node.metadata?.name ?? "",
    labels: { ...node.metadata?.labels },
    unschedulable: node.spec?.unschedulable === true,
    cordonManager: unschedulableManager(node),
    ready: ready === undefined ? undefined : ready.status === "True",
    osVersion: osVersion(node.status?.nodeInfo?.osImage),
    doNotDisrupt: doNotDisruptView(node),
  };
}

function doNotDisruptView(node: V1Node): Record<string, AnnotationView> {
  const view: Record<string, AnnotationView> = {};
  for (const key of Object.keys(DO_NOT_DISRUPT_ANNOTATIONS)) {
    const value = node.metadata?.annotations?.[key];
    if (value === undefined) continue;
    view[key] = {
      value,
      manager: latestManager(node, (f) => (f["f:metadata"] as Fields | undefined)?.["f:annotations"]?.[`f:${key}`]),
    };
  }
  return view;
}

/** The version a Bottlerocket osImage names; undefined for anything else. */
export function osVersion(osImage: string | undefined): string | undefined {
  return /^Bottlerocket OS (\d+\.\d+\.\d+)\b/.exec(osImage ?? "")?.[1];
}

type Fields = Record<string, Record<string, unknown> | undefined>;

/** The manager of spec.unschedulable: of the managedFields entries that own it, the most recent. */
function unschedulableManager(node: V1Node): string | undefined {
  return latestManager(node, (fields) => fields["f:spec"]?.["f:unschedulable"]);
}

/** Of the managedFields entries that own a field (`owned` finds it in an entry's fieldsV1), the most recent one's. */
function latestManager(node: V1Node, owned: (fields: Fields) => unknown): string | undefined {
  let best: { manager: string; time: number } | undefined;
  for (const entry of node.metadata?.managedFields ?? []) {
    const fields = entry.fieldsV1 as Fields | undefined;
    if (fields === undefined || owned(fields) === undefined) continue;
    const time = entry.time ? new Date(entry.time).getTime() : 0;
    if (best === undefined || time >= best.time) best = { manager: entry.manager ?? "", time };
  }
  return best?.manager;
}

export function podView(pod: V1Pod): PodView {
  const deleting = pod.metadata?.deletionTimestamp;
  return {
    uid: pod.metadata?.uid ?? "",
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    nodeName: pod.spec?.nodeName ?? undefined,
    phase: pod.status?.phase,
    labels: { ...pod.metadata?.labels },
    daemonSet: pod.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet" && o.controller === true) === true,
    mirror: pod.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined,
    deletingSince: deleting === undefined ? undefined : new Date(deleting).getTime(),
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
  };
}

export function pdbView(pdb: V1PodDisruptionBudget): PdbView {
  const selector = pdb.spec?.selector;
  return {
    namespace: pdb.metadata?.namespace ?? "",
    name: pdb.metadata?.name ?? "",
    selector: {
      matchLabels: { ...selector?.matchLabels },
      matchExpressions: (selector?.matchExpressions ?? []).map((e) => ({
        key: e.key,
        operator: e.operator,
        values: [...(e.values ?? [])],
      })),
    },
    desiredHealthy: pdb.status?.desiredHealthy,
    expectedPods: pdb.status?.expectedPods,
  };
}

/** Whether labels match a label selector (matchLabels and matchExpressions, as the API server evaluates them). */
export function selects(selector: LabelSelectorView, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions) {
    const value = labels[e.key];
    const ok =
      e.operator === "In"
        ? value !== undefined && e.values.includes(value)
        : e.operator === "NotIn"
          ? value === undefined || !e.values.includes(value)
          : e.operator === "Exists"
            ? value !== undefined
            : e.operator === "DoesNotExist"
              ? value === undefined
              : false;
    if (!ok) return false;
  }
  return true;
}

/**
 * An Event of the operator about a node, or undefined for anyone else's (the scheduler's, the kubelet's, kwok's) or
 * one about another kind of object. The operator is whoever reports as a `brupop` component.
 */
export function operatorEventView(e: CoreV1Event): EventView | undefined {
  const reporter = `${e.reportingComponent ?? ""} ${e.source?.component ?? ""}`;
  if (!reporter.includes("brupop")) return undefined;
  const name = e.involvedObject.name ?? "";
  const node =
    e.involvedObject.kind === "Node"
      ? name
      : e.involvedObject.kind === "BottlerocketShadow" && name.startsWith("brs-")
        ? name.slice(4)
        : undefined;
  if (node === undefined) return undefined;
  const when = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return {
    node,
    type: e.type ?? "",
    reason: e.reason ?? "",
    message: e.message ?? "",
    at: when === undefined ? 0 : new Date(when).getTime(),
  };
}

/** What a BottlerocketShadow shows as a reason for its node's situation; undefined when it shows none. */
export function shadowReason(shadow: unknown): string | undefined {
  const s = shadow as {
    metadata?: { annotations?: Record<string, string> };
    status?: {
      failure_reason?: string | null;
      conditions?: { type?: string; status?: string; reason?: string; message?: string }[] | null;
    } | null;
  };
  const annotation = s.metadata?.annotations?.[SPEC_REASON_ANNOTATION]?.trim();
  if (annotation) return annotation;
  const failure = s.status?.failure_reason?.trim();
  if (failure) return failure;
  const condition = s.status?.conditions?.find((c) => c.status === "True" && (c.message?.trim() || c.reason?.trim()));
  if (condition) return `${condition.type ?? "condition"}: ${condition.message?.trim() || condition.reason?.trim()}`;
  return undefined;
}

/** The state a BottlerocketShadow's spec asks for; undefined when it has none. */
export function shadowSpecState(shadow: unknown): string | undefined {
  const state = (shadow as { spec?: { state?: unknown } | null }).spec?.state;
  return typeof state === "string" ? state : undefined;
}

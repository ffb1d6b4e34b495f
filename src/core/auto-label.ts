// Which nodes to give the updater-interface label (brupop's oldest open request, #11): nodes whose kubelet reports a
// Bottlerocket OS image, unless a person opted the node out. Shared by the controller's optional automatic labelling
// and by `brupop label --all-bottlerocket`, so both label exactly the same nodes.
import { LABEL_UPDATER_INTERFACE_VERSION, UPDATER_INTERFACE_VERSION } from "../api/constants.ts";

/** Node annotation: `"false"` keeps automatic (and bulk) labelling away from the node, e.g. after removing the label. */
export const AUTO_LABEL_OPT_OUT_ANNOTATION = "brupop.bottlerocket.aws/auto-label";

/** Controller environment variable: `true` turns automatic labelling on (off by default). */
export const AUTO_LABEL_ENV = "AUTO_LABEL_NODES";

/** What labelling needs to see of a Node. */
export interface LabelCandidate {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** status.nodeInfo.osImage, e.g. "Bottlerocket OS 1.25.0 (aws-k8s-1.30)"; undefined until the kubelet reports. */
  osImage: string | undefined;
}

export type LabelSkip =
  /** Already carries the label with our value. */
  | "labelled"
  /** Carries the label with another value (another brupop interface version): a person chose it; leave it. */
  | "other-interface-version"
  /** The OS image is not Bottlerocket, or not reported yet. */
  | "not-bottlerocket"
  /** Annotation brupop.bottlerocket.aws/auto-label=false. */
  | "opted-out";

export type LabelDecision = { node: string; label: true } | { node: string; label: false; skip: LabelSkip };

/** Bottlerocket's kubelet reports `Bottlerocket OS <version> (<variant>)`. */
export function isBottlerocketOsImage(osImage: string | undefined): boolean {
  return osImage !== undefined && /^bottlerocket\b/i.test(osImage.trim());
}

/** Opted out when the annotation says false (any case). Other values do not opt out: the default is to label. */
export function optedOutOfAutoLabel(annotations: Readonly<Record<string, string>>): boolean {
  const value = annotations[AUTO_LABEL_OPT_OUT_ANNOTATION];
  return value !== undefined && /^false$/i.test(value.trim());
}

export function decideLabel(node: LabelCandidate): LabelDecision {
  const current = node.labels[LABEL_UPDATER_INTERFACE_VERSION];
  if (current === UPDATER_INTERFACE_VERSION) return { node: node.name, label: false, skip: "labelled" };
  if (current !== undefined) return { node: node.name, label: false, skip: "other-interface-version" };
  if (!isBottlerocketOsImage(node.osImage)) return { node: node.name, label: false, skip: "not-bottlerocket" };
  if (optedOutOfAutoLabel(node.annotations)) return { node: node.name, label: false, skip: "opted-out" };
  return { node: node.name, label: true };
}

/** Decisions for every node, sorted by node name. */
export function planNodeLabels(nodes: readonly LabelCandidate[]): LabelDecision[] {
  return nodes.map(decideLabel).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The merge patch that labels a node. Merge patches are idempotent, so two writers cannot conflict. */
export function labelPatch(): { metadata: { labels: Record<string, string> } } {
  return { metadata: { labels: { [LABEL_UPDATER_INTERFACE_VERSION]: UPDATER_INTERFACE_VERSION } } };
}

/** Whether automatic labelling is on: AUTO_LABEL_NODES is `true` or `false` (any case); unset or blank is off. */
export function autoLabelEnabled(
  env: Readonly<Record<string, string | undefined>>,
): { ok: true; enabled: boolean } | { ok: false; error: string } {
  const raw = env[AUTO_LABEL_ENV]?.trim() ?? "";
  if (raw === "" || /^false$/i.test(raw)) return { ok: true, enabled: false };
  if (/^true$/i.test(raw)) return { ok: true, enabled: true };
  return { ok: false, error: `${AUTO_LABEL_ENV}: "${raw}" is not true or false` };
}

/** Why a node was not labelled, in words. */
export function describeLabelSkip(skip: LabelSkip): string {
  switch (skip) {
    case "labelled":
      return `already labelled ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
    case "other-interface-version":
      return `labelled ${LABEL_UPDATER_INTERFACE_VERSION} with another value; left as it is`;
    case "not-bottlerocket":
      return "not a Bottlerocket node (status.nodeInfo.osImage)";
    case "opted-out":
      return `opted out with annotation ${AUTO_LABEL_OPT_OUT_ANNOTATION}=false`;
  }
}

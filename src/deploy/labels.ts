// Labels on every object of an installation (brupop's set, docs/design/brupop-compatibility.md#names-and-labels), and
// the pod selector of each component. The selector is the one label brupop selected on, so a Deployment or DaemonSet of
// a brupop install can be updated in place (selectors are immutable).
import { COMPONENT, LABEL_COMPONENT, type Component } from "../api/index.ts";

export const MANAGED_BY = "brupop";

/** Labels for an object that belongs to one component. */
export function componentLabels(component: Component): Record<string, string> {
  return {
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/part-of": "brupop",
    [LABEL_COMPONENT]: component,
  };
}

/** Labels for objects shared by the whole installation (namespace, CRD, PriorityClass). */
export function operatorLabels(): Record<string, string> {
  return { "app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/part-of": "brupop" };
}

export function selectorLabels(component: Component): Record<string, string> {
  return { [LABEL_COMPONENT]: component };
}

/** Pod template labels: the user's `podLabels` never override the selector or the component labels. */
export function podLabels(component: Component, extra: Readonly<Record<string, string>>): Record<string, string> {
  return { ...extra, ...componentLabels(component) };
}

export { COMPONENT };

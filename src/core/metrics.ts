// Pure inputs for the controller's gauges. Each function returns every series that should exist now; with
// `staleSeries` the controller removes the ones that disappeared (brupop kept them at 0 for ever;
// docs/design/brupop-compatibility.md#metrics).
import type { ShadowView } from "./model.ts";
import { NOT_STARTED_CODES, type NotStartedCode } from "./reasons.ts";
import type { Selection } from "./select.ts";
import { BRS_STATES, type BrsState } from "../api/state-machine.ts";

export interface Series<L extends Record<string, string>> {
  labels: L;
  value: number;
}

/** `brupop_hosts_state{state}`: shadows with a status, by status.current_state; every state, zeros included. */
export function hostsByState(shadows: readonly ShadowView[]): Series<{ state: BrsState }>[] {
  const counts = new Map<BrsState, number>(BRS_STATES.map((state) => [state, 0]));
  for (const shadow of shadows) {
    const state = shadow.status?.current_state;
    if (state !== undefined) counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return BRS_STATES.map((state) => ({ labels: { state }, value: counts.get(state) ?? 0 }));
}

/** `brupop_hosts_version{bottlerocket_version}`: shadows with a status, by current_version; only versions seen. */
export function hostsByVersion(shadows: readonly ShadowView[]): Series<{ bottlerocket_version: string }>[] {
  const counts = new Map<string, number>();
  for (const shadow of shadows) {
    const version = shadow.status?.current_version;
    if (version !== undefined) counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  return [...counts.keys()]
    .sort()
    .map((version) => ({ labels: { bottlerocket_version: version }, value: counts.get(version) ?? 0 }));
}

/** Nodes not started, by reason code; every code, zeros included (for e.g. `brupop_nodes_not_started{reason}`). */
export function notStartedByReason(selection: Selection): Series<{ reason: NotStartedCode }>[] {
  const counts = new Map<NotStartedCode, number>(NOT_STARTED_CODES.map((code) => [code, 0]));
  for (const entry of selection.notStarted) counts.set(entry.reason.code, (counts.get(entry.reason.code) ?? 0) + 1);
  return NOT_STARTED_CODES.map((reason) => ({ labels: { reason }, value: counts.get(reason) ?? 0 }));
}

function labelKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Label sets exported last time (`previous`) that have no series now: the ones to remove. */
export function staleSeries<L extends Record<string, string>>(
  previous: readonly L[],
  current: readonly Series<L>[],
): L[] {
  const live = new Set(current.map((series) => labelKey(series.labels)));
  return previous.filter((labels) => !live.has(labelKey(labels)));
}

/** One line per blocking reason, most common first: "3 budget-full, 1 backoff". Empty when nothing waits. */
export function summarizeNotStarted(selection: Selection, ignore: readonly NotStartedCode[] = ["up-to-date"]): string {
  return notStartedByReason(selection)
    .filter((series) => series.value > 0 && !ignore.includes(series.labels.reason))
    .sort((a, b) => b.value - a.value || (a.labels.reason < b.labels.reason ? -1 : 1))
    .map((series) => `${series.value} ${series.labels.reason}`)
    .join(", ");
}

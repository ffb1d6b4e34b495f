// Whether one node has converged after a chaos run, and if not, why. Pure: the runner gathers what the cluster
// shows (the node's shadow, its Node object, its simulated host) and this decides.
import type { BottlerocketShadow } from "../../src/api/index.ts";

export interface NodeObservation {
  readonly node: string;
  /** The node's BottlerocketShadow; undefined when it is missing. */
  readonly shadow: BottlerocketShadow | undefined;
  /** Undefined when the Node object is missing. */
  readonly nodeObject: { readonly unschedulable: boolean; readonly osImage: string | undefined } | undefined;
  /** The simulated host: the version it runs, and whether its API is up (not rebooting, not hung). */
  readonly host: { readonly runningVersion: string; readonly up: boolean } | undefined;
}

/** What keeps a node from counting as converged at `version`; empty when it has converged. */
export function convergenceProblems(o: NodeObservation, version: string, osImage: string): string[] {
  const problems: string[] = [];
  const s = o.shadow;
  if (s === undefined) {
    problems.push("its BottlerocketShadow is missing");
  } else {
    const status = s.status;
    if (s.spec.state !== "Idle") problems.push(`spec is ${s.spec.state}`);
    if (!status) problems.push("its shadow has no status");
    else {
      if (status.current_state !== "Idle") problems.push(`status is ${status.current_state}`);
      if (status.current_version !== version) {
        problems.push(`reports ${status.current_version}, not ${version}`);
      }
      if (status.current_version !== version && status.crash_count > 0) {
        problems.push(
          `${status.crash_count} failure(s)${status.failure_reason ? `, last: ${status.failure_reason}` : ""}`,
        );
      }
    }
  }
  if (o.nodeObject === undefined) problems.push("its Node is missing");
  else {
    if (o.nodeObject.unschedulable) problems.push("left cordoned");
    if (o.nodeObject.osImage !== osImage) problems.push(`Node shows "${o.nodeObject.osImage ?? "no osImage"}"`);
  }
  if (o.host === undefined) problems.push("no simulated host");
  else {
    if (!o.host.up) problems.push("its host is down");
    if (o.host.runningVersion !== version) problems.push(`its host runs ${o.host.runningVersion}`);
  }
  return problems;
}

// The Events the reconciles record: which objects they are about, and the note for each decision.
import type { V1Node } from "@kubernetes/client-node";
import { API_VERSION_V2, KIND } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { HookState } from "../core/hooks.ts";
import type { NodeDecision } from "../core/next-spec.ts";
import { NOT_STARTED, eventType } from "../core/reasons.ts";
import type { NotStartedReason } from "../core/select.ts";
import type { EventNote, EventSubject } from "./events.ts";

/** The shadow (when known) and its Node: `kubectl describe` of either shows the Event. */
export function subjectsOf(
  shadow: BottlerocketShadow | undefined,
  nodeName: string,
  node: V1Node | undefined,
  namespace: string,
): EventSubject[] {
  const subjects: EventSubject[] = [nodeSubject(nodeName, node?.metadata?.uid)];
  if (shadow?.metadata.name !== undefined) {
    subjects.unshift({
      kind: KIND,
      apiVersion: API_VERSION_V2,
      name: shadow.metadata.name,
      namespace,
      ...(shadow.metadata.uid === undefined ? {} : { uid: shadow.metadata.uid }),
    });
  }
  return subjects;
}

export function nodeSubject(name: string, uid: string | undefined): EventSubject {
  return { kind: "Node", apiVersion: "v1", name, ...(uid === undefined ? {} : { uid }) };
}

/** The Event for a node step; null for bookkeeping nobody asks about (clearing a finished spec). */
export function stepNote(decision: Extract<NodeDecision, { kind: "advance" | "reset" }>): EventNote | null {
  if (decision.kind === "reset") {
    switch (decision.cause) {
      case "crashed":
        return { type: "Warning", reason: "UpdateFailed", action: "Reset", message: decision.reason };
      case "timed-out":
        return { type: "Warning", reason: "UpdateTimedOut", action: "Reset", message: decision.reason };
      case "no-status":
        return { type: "Normal", reason: "SpecReset", action: "Reset", message: decision.reason };
      case "gate-failed":
        return { type: "Warning", reason: "HealthGateFailed", action: "Rollback", message: decision.reason };
      case "hook-failed": {
        const action = decision.spec.state === "Idle" ? "Reset" : "Rollback";
        return { type: "Warning", reason: "UpdateFailedByHook", action, message: decision.reason };
      }
    }
  }
  switch (decision.step) {
    case "next":
      return { type: "Normal", reason: `Requested${decision.spec.state}`, action: "Advance", message: decision.reason };
    case "finish":
      return { type: "Normal", reason: "UpdateSucceeded", action: "Finish", message: decision.reason };
    case "restamp":
      return { type: "Warning", reason: "TimerRestarted", action: "Restamp", message: decision.reason };
    case "rolled-back":
      return { type: "Warning", reason: "UpdateRolledBack", action: "Finish", message: decision.reason };
    case "clear":
      return null;
  }
}

/** The Event for one call of a hook (docs/design/hooks.md), by what the call made of the hook. */
export function hookNote(state: HookState, message: string): EventNote {
  switch (state) {
    case "passed":
      return { type: "Normal", reason: "HookPassed", action: "CallHook", message };
    case "not-yet":
      return { type: "Normal", reason: "HookNotYet", action: "CallHook", message };
    case "retrying":
      return { type: "Warning", reason: "HookRetrying", action: "CallHook", message };
    case "failed":
      return { type: "Warning", reason: "HookFailed", action: "CallHook", message };
  }
}

/** The Event explaining why a node waits (src/core/reasons.ts); null for reasons that are not explained. */
export function waitNote(reason: NotStartedReason): EventNote | null {
  const event = NOT_STARTED[reason.code].event;
  if (event === null) return null;
  return {
    type: eventType(reason.code),
    reason: event,
    action: "Skip",
    message: `update not started: ${reason.message}`,
  };
}

/** The controller gave a stuck node back: Ready, still cordoned by the operator's drain, its agent silent. */
export function releasedNote(reason: string): EventNote {
  return {
    type: "Warning",
    reason: "NodeReleased",
    action: "Uncordon",
    message: `uncordoned by the controller: ${reason}`,
  };
}

// What the agent reads from Kubernetes, parsed by hand from the wire objects: the agent does not load the TypeBox
// validators (or any client library) to stay within its memory budget. Parsing is tolerant where brupop's
// writers differ (missing or null optional fields) and strict where a wrong value would make the agent act wrongly
// (states, versions).
import { ANNOTATION_ROLLBACK_TO, LABEL_EXCLUDE_FROM_LB } from "../api/constants.ts";
import { isBrsState, type BrsState } from "../api/state-machine.ts";
import { isSemVer } from "../host/semver.ts";

export interface AgentSpec {
  state: BrsState;
  version: string | null;
  state_transition_timestamp: string | null;
}

/** The v2 status as the agent writes it; `failure_reason` is our optional addition. */
export interface AgentStatus {
  current_version: string;
  target_version: string;
  current_state: BrsState;
  crash_count: number;
  state_transition_failure_timestamp: string | null;
  failure_reason?: string | null;
}

/**
 * The agent's own brs; `invalid` when someone wrote a value the agent cannot act on (it then only waits).
 * `rollbackTo`: the controller's annotation naming the older version the spec rolls back to (a failed health gate).
 */
export type ObservedShadow =
  { valid: true; spec: AgentSpec; status: AgentStatus | null; rollbackTo?: string } | { valid: false; problem: string };

export interface ObservedNode {
  uid: string;
  unschedulable: boolean;
  /** Carries `node.kubernetes.io/exclude-from-external-load-balancers` (any value). */
  excludedFromLb: boolean;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function optionalString(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new Error(`${field} must be a string`);
  return value;
}

function version(value: unknown, field: string): string {
  if (typeof value !== "string" || !isSemVer(value))
    throw new Error(`${field} ${JSON.stringify(value)} is not a version`);
  return value;
}

function state(value: unknown, field: string): BrsState {
  if (!isBrsState(value)) throw new Error(`${field} ${JSON.stringify(value)} is not a state`);
  return value;
}

/** Parses a BottlerocketShadow (v2 wire form). Never throws: bad content becomes `{valid: false}`. */
export function parseShadow(object: unknown): ObservedShadow {
  try {
    const root = record(object);
    const spec = record(root?.spec);
    if (!spec) throw new Error("spec is missing");
    const specVersion = optionalString(spec.version, "spec.version");
    const parsedSpec: AgentSpec = {
      state: state(spec.state, "spec.state"),
      version: specVersion === null ? null : version(specVersion, "spec.version"),
      state_transition_timestamp: optionalString(spec.state_transition_timestamp, "spec.state_transition_timestamp"),
    };
    const annotation = record(record(root?.metadata)?.annotations)?.[ANNOTATION_ROLLBACK_TO];
    // Only a version is acted on (it pins the host's version-lock); anything else is no rollback.
    const rollback = typeof annotation === "string" && isSemVer(annotation) ? { rollbackTo: annotation } : {};
    const raw = root?.status;
    if (raw === undefined || raw === null) return { valid: true, spec: parsedSpec, status: null, ...rollback };
    const status = record(raw);
    if (!status) throw new Error("status is not an object");
    const crash = status.crash_count;
    if (typeof crash !== "number" || !Number.isInteger(crash) || crash < 0) {
      throw new Error(`status.crash_count ${JSON.stringify(crash)} is not a count`);
    }
    const parsedStatus: AgentStatus = {
      current_version: version(status.current_version, "status.current_version"),
      target_version: version(status.target_version, "status.target_version"),
      current_state: state(status.current_state, "status.current_state"),
      crash_count: crash,
      state_transition_failure_timestamp: optionalString(
        status.state_transition_failure_timestamp,
        "status.state_transition_failure_timestamp",
      ),
    };
    const reason = optionalString(status.failure_reason, "status.failure_reason");
    if (reason !== null) parsedStatus.failure_reason = reason;
    return { valid: true, spec: parsedSpec, status: parsedStatus, ...rollback };
  } catch (error) {
    return { valid: false, problem: error instanceof Error ? error.message : String(error) };
  }
}

/** Parses a Node; throws when it has no uid (the API server needs it for the brs owner reference). */
export function parseNode(object: unknown): ObservedNode {
  const root = record(object);
  const metadata = record(root?.metadata);
  const uid = metadata?.uid;
  if (typeof uid !== "string" || uid === "") throw new Error("Node has no metadata.uid");
  const labels = record(metadata?.labels) ?? {};
  return {
    uid,
    unschedulable: record(root?.spec)?.unschedulable === true,
    excludedFromLb: labels[LABEL_EXCLUDE_FROM_LB] !== undefined,
  };
}

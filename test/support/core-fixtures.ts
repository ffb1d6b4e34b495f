// Builders shared by the colocated tests of src/core. Not used by production code.
import {
  DEFAULT_SPEC,
  type NodeView,
  type ShadowSpec,
  type ShadowStatus,
  type ShadowView,
} from "../../src/core/model.ts";
import { DEFAULT_HEALTH_GATES } from "../../src/core/health-gates.ts";
import { NO_HOOKS } from "../../src/core/hooks.ts";
import { DEFAULT_BACKOFF_UNIT_MS } from "../../src/core/failures.ts";
import { DEFAULT_QUARANTINE_AFTER_FAILURES, type NodePolicy } from "../../src/core/next-spec.ts";
import { DEFAULT_NODE_TIMEOUTS } from "../../src/core/timeouts.ts";
import { resolveFleetPolicy, type FleetPolicy, type UpdatePolicySpec } from "../../src/core/policy.ts";
import { seededRandom } from "../../sim/seeded-random.ts";

/** A Monday, 10:00 UTC. */
export const T0 = new Date("2024-06-03T10:00:00.000Z");

export function after(seconds: number, from: Date = T0): Date {
  return new Date(from.getTime() + seconds * 1000);
}

export function iso(at: Date): string {
  return at.toISOString();
}

export interface ShadowOptions {
  spec?: Partial<ShadowSpec>;
  /** null: no status. */
  status?: Partial<ShadowStatus> | null;
  annotations?: Record<string, string>;
}

export function shadow(nodeName: string, options: ShadowOptions = {}): ShadowView {
  const status: ShadowStatus | null =
    options.status === null
      ? null
      : {
          current_version: "1.19.0",
          target_version: "1.19.0",
          current_state: "Idle",
          crash_count: 0,
          state_transition_failure_timestamp: null,
          ...options.status,
        };
  return {
    name: `brs-${nodeName}`,
    nodeName,
    annotations: options.annotations ?? {},
    spec: { ...DEFAULT_SPEC, ...options.spec },
    status,
  };
}

export function node(
  name: string,
  options: {
    labelled?: boolean;
    annotations?: Record<string, string>;
    unschedulable?: boolean;
    ready?: boolean | null;
    drainedByOperator?: boolean;
    /** Further labels (a zone). */
    labels?: Record<string, string>;
  } = {},
): NodeView {
  return {
    name,
    labels: {
      ...(options.labelled === false ? {} : { "bottlerocket.aws/updater-interface-version": "2.0.0" }),
      ...options.labels,
    },
    annotations: options.annotations ?? {},
    unschedulable: options.unschedulable ?? false,
    ready: options.ready === undefined ? true : options.ready,
    drainedByOperator: options.drainedByOperator ?? false,
  };
}

export const NODE_POLICY: NodePolicy = {
  stateTimeouts: DEFAULT_NODE_TIMEOUTS,
  quarantineAfterFailures: DEFAULT_QUARANTINE_AFTER_FAILURES,
  allowDowngrade: false,
  backoffUnitMs: DEFAULT_BACKOFF_UNIT_MS,
  healthGates: DEFAULT_HEALTH_GATES,
  hooks: NO_HOOKS,
};

/** A resolved policy (throws on errors, which a test should not have). */
export function fleetPolicy(
  spec: UpdatePolicySpec = {},
  env: Record<string, string> = {},
  now: Date = T0,
): FleetPolicy {
  const resolution = resolveFleetPolicy(env, spec, now);
  if (!resolution.ok) throw new Error(resolution.errors.join("; "));
  return resolution.policy;
}

/** A small seeded PRNG so property tests are reproducible. */
export const prng = seededRandom;

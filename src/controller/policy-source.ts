// The fleet policy in force: brupop's environment variables overridden by the BottlerocketUpdatePolicy singleton
// (src/core/policy.ts resolves them). An invalid policy starts nothing (fail safe) and says why once per change,
// while nodes already moving go on with the last valid policy, or the defaults if there never was one.
import type { BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import { UPDATE_POLICY_API_VERSION, UPDATE_POLICY_KIND } from "../api/update-policy-names.ts";
import { DEFAULT_HEALTH_GATES } from "../core/health-gates.ts";
import { DEFAULT_BACKOFF_UNIT_MS } from "../core/failures.ts";
import { NO_HOOKS } from "../core/hooks.ts";
import { DEFAULT_QUARANTINE_AFTER_FAILURES, type NodePolicy } from "../core/next-spec.ts";
import { resolveFleetPolicy, type ControllerEnv, type FleetPolicy, type PolicyResolution } from "../core/policy.ts";
import { DEFAULT_NODE_TIMEOUTS } from "../core/timeouts.ts";
import type { EventRecorder, EventSubject } from "./events.ts";
import type { Cache, Logger } from "./reconcile.ts";

/** When the policy is invalid and was never valid: the default timeouts and quarantine, no downgrades. */
const FALLBACK_NODE_POLICY: NodePolicy = {
  stateTimeouts: DEFAULT_NODE_TIMEOUTS,
  quarantineAfterFailures: DEFAULT_QUARANTINE_AFTER_FAILURES,
  allowDowngrade: false,
  backoffUnitMs: DEFAULT_BACKOFF_UNIT_MS,
  healthGates: DEFAULT_HEALTH_GATES,
  hooks: NO_HOOKS,
};

const INVALID_POLICY_KEY = "policy/errors";

export class PolicySource {
  readonly #env: ControllerEnv;
  readonly #policies: Cache<BottlerocketUpdatePolicy>;
  readonly #namespace: string;
  readonly #events: EventRecorder;
  readonly #log: Logger;
  #lastGood: FleetPolicy | null = null;

  constructor(o: {
    env: ControllerEnv;
    policies: Cache<BottlerocketUpdatePolicy>;
    namespace: string;
    events: EventRecorder;
    log: Logger;
  }) {
    this.#env = o.env;
    this.#policies = o.policies;
    this.#namespace = o.namespace;
    this.#events = o.events;
    this.#log = o.log;
  }

  /** The policy object, if there is one (at most one: the CRD admits only `default`). */
  object(): BottlerocketUpdatePolicy | undefined {
    return this.#policies.list(this.#namespace)[0];
  }

  /** The fleet's policy now; an invalid one is explained (Event on the policy object, log) once per change. */
  resolve(now: Date): PolicyResolution {
    const object = this.object();
    const resolution = resolveFleetPolicy(this.#env, object?.spec ?? null, now);
    if (resolution.ok) {
      this.#lastGood = resolution.policy;
      this.#events.forget(INVALID_POLICY_KEY);
      return resolution;
    }
    const subject: EventSubject[] = object === undefined ? [] : [policySubject(object, this.#namespace)];
    const errors = resolution.errors.join("; ");
    const recorded = this.#events.recordOnChange(INVALID_POLICY_KEY, errors, subject, {
      type: "Warning",
      reason: "InvalidPolicy",
      action: "Validate",
      message: `no update starts until the policy is fixed: ${errors}`,
    });
    if (recorded) this.#log.warn(`invalid update policy, no update starts: ${errors}`);
    return resolution;
  }

  /** The last valid policy (the one in force while the policy is invalid); null if there never was one. */
  lastValid(): FleetPolicy | null {
    return this.#lastGood;
  }

  /** What one node's steps go by: the policy, or while it is invalid the last valid one (or the defaults). */
  nodePolicy(now: Date): NodePolicy {
    const resolution = resolveFleetPolicy(this.#env, this.object()?.spec ?? null, now);
    if (resolution.ok) return resolution.policy;
    return this.#lastGood ?? FALLBACK_NODE_POLICY;
  }
}

export function policySubject(policy: BottlerocketUpdatePolicy, namespace: string): EventSubject {
  return {
    kind: UPDATE_POLICY_KIND,
    apiVersion: UPDATE_POLICY_API_VERSION,
    name: policy.metadata.name ?? "",
    namespace,
    ...(policy.metadata.uid === undefined ? {} : { uid: policy.metadata.uid }),
  };
}

// The BottlerocketUpdatePolicy's names and bounds, apart from its TypeBox schema (update-policy.ts): the controller
// needs these at run time and none of the schema (kube-apiserver validates the objects), so it loads no TypeBox.
import { API_GROUP } from "./constants.ts";

export const UPDATE_POLICY_KIND = "BottlerocketUpdatePolicy";
export const UPDATE_POLICY_PLURAL = "bottlerocketupdatepolicies";
export const UPDATE_POLICY_SINGULAR = "bottlerocketupdatepolicy";
export const UPDATE_POLICY_SHORT_NAMES: readonly string[] = ["brupolicy"];
export const UPDATE_POLICY_VERSION = "v1alpha1";
export const UPDATE_POLICY_API_VERSION = `${API_GROUP}/${UPDATE_POLICY_VERSION}`;
export const UPDATE_POLICY_CRD_NAME = `${UPDATE_POLICY_PLURAL}.${API_GROUP}`;
/** The singleton's name; the CRD rejects any other (one policy per operator namespace). */
export const UPDATE_POLICY_NAME = "default";

/** Built-in gate names; a user gate may not take one. */
export const BUILT_IN_GATE_NAMES = ["node-ready", "daemonset-pods"] as const;

/** Hooks per phase: their record rides on every shadow, which 5,000 at a time must fit one conversion review. */
export const MAX_HOOKS_PER_PHASE = 2;

/** The plan published in a dry run holds at most this many nodes (with the counts of all). */
export const MAX_PLAN_ENTRIES = 50;

/** The longest soak (spec.canary.soak): a month. Longer would hold a fleet past the next release anyway. */
export const MAX_SOAK = { seconds: 30 * 86_400, text: "30d" } as const;

/**
 * The longest spec.minNodeAge: a year. A longer minimum would keep every node from updating, and its dates would
 * leave RFC 3339's range.
 */
export const MAX_MIN_NODE_AGE = { seconds: 365 * 86_400, text: "365d" } as const;

// Names, labels and wire constants shared with brupop 1.4 (docs/design/brupop-compatibility.md#kept-exactly). Changing
// any of these breaks compatibility with brupop components or existing clusters.

// ---- The BottlerocketShadow resource ----
export const API_GROUP = "brupop.bottlerocket.aws";
export const KIND = "BottlerocketShadow";
export const PLURAL = "bottlerocketshadows";
export const SINGULAR = "bottlerocketshadow";
export const SHORT_NAMES: readonly string[] = ["brs"];
export const CRD_NAME = `${PLURAL}.${API_GROUP}`;
export const VERSION_V2 = "v2";
export const VERSION_V1 = "v1";
/** The storage version; what brupop calls `API_VERSION`. */
export const API_VERSION_V2 = `${API_GROUP}/${VERSION_V2}`;
export const API_VERSION_V1 = `${API_GROUP}/${VERSION_V1}`;
/** The status subresource, as named in RBAC rules (brupop's `K8S_NODE_STATUS`). */
export const STATUS_SUBRESOURCE = `${PLURAL}/status`;

// ---- Where things run ----
/** Default namespace of the operator and of every BottlerocketShadow. */
export const OPERATOR_NAMESPACE = "brupop-bottlerocket-aws";
/** The API server's Service; the agent and the CRD conversion webhook reach it by this name. */
export const APISERVER_SERVICE_NAME = "brupop-apiserver";
export const APISERVER_SERVICE_PORT = 443;
export const APISERVER_INTERNAL_PORT = 8443;
/** Path of the CRD conversion webhook on the API server. */
export const CONVERSION_WEBHOOK_PATH = "/crdconvert";

/** The agent-to-API-server routes: brupop 1.4's, plus our asynchronous drain (POST starts it: 202; GET reports). */
export const AGENT_ROUTES = {
  shadow: "/bottlerocket-node-resource",
  cordonAndDrain: "/bottlerocket-node-resource/cordon-and-drain",
  uncordon: "/bottlerocket-node-resource/uncordon",
  excludeFromLb: "/bottlerocket-node-resource/exclude-from-lb",
  removeExclusionFromLb: "/bottlerocket-node-resource/remove-exclusion-from-lb",
  drain: "/bottlerocket-node-resource/drain",
} as const;

// ---- Labels ----
/** Nodes carrying this label with {@link UPDATER_INTERFACE_VERSION} are managed (set by the user, not by us). */
export const LABEL_UPDATER_INTERFACE_VERSION = "bottlerocket.aws/updater-interface-version";
export const UPDATER_INTERFACE_VERSION = "2.0.0";
/** Label on the operator's pods, used as selectors (the API server finds agent pods by it). */
export const LABEL_COMPONENT = "brupop.bottlerocket.aws/component";
export const COMPONENT = Object.freeze({
  agent: "agent",
  apiserver: "apiserver",
  controller: "brupop-controller",
} as const);
export type Component = (typeof COMPONENT)[keyof typeof COMPONENT];
/** Node label that takes a node out of external load balancers before its drain (value {@link EXCLUDE_FROM_LB_VALUE}). */
export const LABEL_EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers";
export const EXCLUDE_FROM_LB_VALUE = "True";
/**
 * Node annotation set with the cordon of the operator's drain and removed with the uncordon: the drain's identity
 * (`<id>` chosen by the API server that started it). It is how a drain on one API server replica learns that the
 * node was uncordoned through another, how the agent checks that "drained" is about the drain it started, and how
 * the controller knows a cordon is the operator's to undo (docs/design/drain.md#identity).
 */
export const ANNOTATION_DRAIN = "brupop.bottlerocket.aws/drain";

/**
 * Shadow annotation the controller sets while the spec rolls a node back to the older version it names, after a
 * failed health gate; the agent then pins the host's version-lock to it while it stages it
 * (docs/design/health-gates.md#rollback).
 */
export const ANNOTATION_ROLLBACK_TO = "brupop.bottlerocket.aws/rollback-to";

// ---- Agent → API server authentication ----
/** Audience of the agent's projected service-account token, checked by the API server's TokenReview. */
export const TOKEN_AUDIENCE = "brupop-apiserver";
/** Where the agent's projected token is mounted. */
export const AGENT_TOKEN_PATH = "/var/run/secrets/tokens/bottlerocket-agent-service-account-token";
/** Request headers the agent sends (HTTP header names are case-insensitive; Node lower-cases them). */
export const HEADER_NODE_NAME = "BrupopNodeName";
export const HEADER_NODE_UID = "BrupopNodeUid";
export const HEADER_AUTH_TOKEN = "BrupopK8sAuthToken";

// ---- Object names ----
const BRS_NAME_PREFIX = "brs-";
/** The longest DNS subdomain (RFC 1123), the limit of most Kubernetes names. */
export const DNS_SUBDOMAIN_MAX_LENGTH = 253;
/** A DNS subdomain (RFC 1123) as Kubernetes checks names and label-key prefixes; its length is checked apart. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export class InvalidBrsNameError extends Error {
  override name = "InvalidBrsNameError";
}

/**
 * The name of a node's BottlerocketShadow: `brs-<nodeName>`. Throws {@link InvalidBrsNameError} when that is not a
 * valid object name (a DNS-1123 subdomain of at most 253 characters); brupop did not check, so a node name longer
 * than 249 characters made its create call fail on the API server instead.
 */
export function brsName(nodeName: string): string {
  const name = BRS_NAME_PREFIX + nodeName;
  if (nodeName === "") throw new InvalidBrsNameError("cannot name a BottlerocketShadow for an empty node name");
  if (name.length > DNS_SUBDOMAIN_MAX_LENGTH) {
    throw new InvalidBrsNameError(
      `BottlerocketShadow name for node ${JSON.stringify(nodeName.slice(0, 40) + "...")} would be ${name.length} ` +
        `characters; object names are limited to ${DNS_SUBDOMAIN_MAX_LENGTH}`,
    );
  }
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new InvalidBrsNameError(
      `BottlerocketShadow name ${JSON.stringify(name)} is not a valid DNS subdomain ` +
        "(lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)",
    );
  }
  return name;
}

/** The node a BottlerocketShadow is named after, or undefined when `name` does not follow `brs-<node>`. */
export function nodeNameFromBrsName(name: string): string | undefined {
  return name.startsWith(BRS_NAME_PREFIX) && name.length > BRS_NAME_PREFIX.length
    ? name.slice(BRS_NAME_PREFIX.length)
    : undefined;
}

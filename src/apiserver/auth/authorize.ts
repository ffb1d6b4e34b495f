// Who may act on which node: pure decisions over a TokenReview result and the live agent pod and Node.
//
// brupop 1.4 (docs/design/brupop-compatibility.md#authorization) looked the pod up by name only and trusted
// BrupopNodeUid. We also require: the token's service account is the agent's (namespace and name); the pod named in the
// token is the same pod (uid) that is live now, carries the agent label and runs on the requested node; and that Node's
// uid is the one the agent sent, so a forged or stale uid cannot end up in an owner reference.
import { TOKEN_AUDIENCE } from "../../api/constants.ts";

const EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name";
const EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid";

/** What a successful TokenReview told us about the caller. */
export interface TokenIdentity {
  username: string;
  podName: string;
  podUid: string;
}

/** The parts of a TokenReview status we read (authentication.k8s.io/v1). */
export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; extra?: Record<string, string[]> };
}

export type Denial = { status: 401 | 403; reason: string; message: string };
export type IdentityResult = { ok: true; identity: TokenIdentity } | ({ ok: false } & Denial);

/** A TokenReview's verdict as an identity, or why the token is not acceptable at all (401) or not an agent's (403). */
export function identityFromReview(status: TokenReviewStatus | undefined): IdentityResult {
  if (status?.authenticated !== true) {
    const why = status?.error?.trim();
    return {
      ok: false,
      status: 401,
      reason: "TokenRejected",
      message: `the token was not accepted by Kubernetes${why ? `: ${why}` : ""}`,
    };
  }
  // With spec.audiences set, an authenticated review implies the audience matched; check anyway, as brupop did.
  if (!(status.audiences ?? []).includes(TOKEN_AUDIENCE)) {
    return {
      ok: false,
      status: 401,
      reason: "WrongAudience",
      message: `the token is not meant for ${TOKEN_AUDIENCE}`,
    };
  }
  const username = status.user?.username ?? "";
  const podNames = status.user?.extra?.[EXTRA_POD_NAME] ?? [];
  const podUids = status.user?.extra?.[EXTRA_POD_UID] ?? [];
  const [podName] = podNames;
  const [podUid] = podUids;
  if (podNames.length !== 1 || podUids.length !== 1 || !podName || !podUid) {
    return {
      ok: false,
      status: 403,
      reason: "NotPodBound",
      message: `the token of ${username || "this caller"} is not bound to exactly one pod`,
    };
  }
  return { ok: true, identity: { username, podName, podUid } };
}

export interface PodFacts {
  namespace: string;
  name: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
  nodeName: string | undefined;
  phase: string | undefined;
}

export interface NodeFacts {
  name: string;
  uid: string;
}

export interface AuthorizationInput {
  identity: TokenIdentity;
  /** The operator namespace, where agent pods run. */
  namespace: string;
  /** The agent's ServiceAccount name. */
  serviceAccount: string;
  /** Label that marks agent pods. */
  agentLabel: { key: string; value: string };
  requested: { nodeName: string; nodeUid: string };
  /** The live pod named by the token, looked up in `namespace`; undefined when there is none. */
  pod: PodFacts | undefined;
  /** The live requested Node; undefined when there is none. */
  node: NodeFacts | undefined;
}

export type AuthorizationResult = { allowed: true } | ({ allowed: false } & Denial);

const deny = (reason: string, message: string): AuthorizationResult => ({
  allowed: false,
  status: 403,
  reason,
  message,
});

export function authorizeAgent(input: AuthorizationInput): AuthorizationResult {
  const { identity, namespace, serviceAccount, requested, pod, node } = input;
  const expectedUser = `system:serviceaccount:${namespace}:${serviceAccount}`;
  if (identity.username !== expectedUser) {
    return deny("NotTheAgent", `${identity.username} is not the agent's service account ${expectedUser}`);
  }
  const podRef = `${namespace}/${identity.podName}`;
  if (pod === undefined) return deny("AgentPodNotFound", `pod ${podRef} named by the token does not exist`);
  if (pod.namespace !== namespace) {
    return deny("AgentPodNotFound", `pod ${pod.namespace}/${pod.name} is not in ${namespace}`);
  }
  if (pod.uid !== identity.podUid) {
    return deny("AgentPodReplaced", `the token belongs to an earlier pod named ${podRef}, not the one running now`);
  }
  if (pod.labels[input.agentLabel.key] !== input.agentLabel.value) {
    return deny("NotAnAgentPod", `pod ${podRef} is not labelled ${input.agentLabel.key}=${input.agentLabel.value}`);
  }
  if (pod.phase === "Succeeded" || pod.phase === "Failed") {
    return deny("AgentPodFinished", `pod ${podRef} has finished (${pod.phase})`);
  }
  if (pod.nodeName !== requested.nodeName) {
    return deny(
      "NodeMismatch",
      `pod ${podRef} runs on ${pod.nodeName ?? "no node"}, not on ${requested.nodeName}; an agent may act only on its own node`,
    );
  }
  if (node === undefined) return deny("NodeNotFound", `node ${requested.nodeName} does not exist`);
  if (node.uid !== requested.nodeUid) {
    return deny("NodeUidMismatch", `node ${requested.nodeName} has uid ${node.uid}, not ${requested.nodeUid}`);
  }
  return { allowed: true };
}

/** The `exp` claim of a JWT (unverified: only used to bound how long a verified review is cached). */
export function tokenExpiry(token: string): Date | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof claims.exp === "number" && Number.isFinite(claims.exp) ? new Date(claims.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

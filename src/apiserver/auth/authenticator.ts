// Authentication of agent requests: the token's verdict (TokenReview, cached), then the authorisation checks
// against the live pod and Node. The I/O sits behind two small interfaces so the decisions stay in authorize.ts.
import type { Logger } from "pino";
import { apiMessage } from "../../kube/errors.ts";
import {
  authorizeAgent,
  identityFromReview,
  tokenExpiry,
  type Denial,
  type IdentityResult,
  type NodeFacts,
  type PodFacts,
  type TokenIdentity,
  type TokenReviewStatus,
} from "./authorize.ts";
import type { AgentCredentials } from "./headers.ts";
import { ReviewCache } from "./review-cache.ts";

/** Calls TokenReview with the API server's audience; throws when kube-apiserver cannot be asked. */
export type TokenReviewer = (token: string) => Promise<TokenReviewStatus | undefined>;

/** Live views of agent pods (in the operator namespace) and Nodes, normally informer caches. */
export interface AgentDirectory {
  pod(name: string): Promise<PodFacts | undefined>;
  node(name: string): Promise<NodeFacts | undefined>;
}

export interface AuthenticatorOptions {
  review: TokenReviewer;
  directory: AgentDirectory;
  cache: ReviewCache;
  namespace: string;
  serviceAccount: string;
  agentLabel: { key: string; value: string };
  log: Logger;
  /** Called once per request with the outcome, for metrics. */
  observe?: (outcome: { result: "allowed" | "denied" | "error"; reason: string; cached: boolean }) => void;
}

/** One Node, by name and uid: the uid tells a Node from an earlier one of the same name. */
export interface NodeIdentity {
  name: string;
  uid: string;
}

export interface AuthenticatedAgent extends TokenIdentity {
  nodeName: string;
  nodeUid: string;
}

export type AuthenticationResult =
  { ok: true; agent: AuthenticatedAgent } | { ok: false; status: 401 | 403 | 503; reason: string; message: string };

export class AgentAuthenticator {
  readonly #options: AuthenticatorOptions;
  /** Reviews in flight, so concurrent requests with one token cost one TokenReview. */
  readonly #inFlight = new Map<string, Promise<IdentityResult>>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  async authenticate(credentials: AgentCredentials): Promise<AuthenticationResult> {
    const { directory, namespace, serviceAccount, agentLabel, observe } = this.#options;
    const key = ReviewCache.key(credentials.token);
    const cachedResult = this.#options.cache.get(key);
    let verdict: IdentityResult;
    try {
      verdict = cachedResult ?? (await this.#review(key, credentials.token));
    } catch (err) {
      this.#options.log.warn({ err: apiMessage(err) }, "TokenReview failed");
      observe?.({ result: "error", reason: "TokenReviewUnavailable", cached: false });
      return {
        ok: false,
        status: 503,
        reason: "TokenReviewUnavailable",
        message: `cannot verify the token now: ${apiMessage(err)}`,
      };
    }
    const cached = cachedResult !== undefined;
    if (!verdict.ok) return this.#denied(verdict, cached);
    const { identity } = verdict;
    let pod: PodFacts | undefined;
    let node: NodeFacts | undefined;
    try {
      [pod, node] = await Promise.all([directory.pod(identity.podName), directory.node(credentials.nodeName)]);
    } catch (err) {
      observe?.({ result: "error", reason: "KubernetesUnavailable", cached });
      return {
        ok: false,
        status: 503,
        reason: "KubernetesUnavailable",
        message: `cannot look up the agent pod or node now: ${apiMessage(err)}`,
      };
    }
    const decision = authorizeAgent({
      identity,
      namespace,
      serviceAccount,
      agentLabel,
      requested: { nodeName: credentials.nodeName, nodeUid: credentials.nodeUid },
      pod,
      node,
    });
    if (!decision.allowed) return this.#denied(decision, cached);
    observe?.({ result: "allowed", reason: "Allowed", cached });
    return { ok: true, agent: { ...identity, nodeName: credentials.nodeName, nodeUid: credentials.nodeUid } };
  }

  #denied(denial: Denial, cached: boolean): AuthenticationResult {
    this.#options.observe?.({ result: "denied", reason: denial.reason, cached });
    return { ok: false, status: denial.status, reason: denial.reason, message: denial.message };
  }

  async #review(key: string, token: string): Promise<IdentityResult> {
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const review = (async () => {
      const result = identityFromReview(await this.#options.review(token));
      this.#options.cache.set(key, result, tokenExpiry(token));
      return result;
    })();
    this.#inFlight.set(key, review);
    try {
      return await review;
    } finally {
      this.#inFlight.delete(key);
    }
  }
}

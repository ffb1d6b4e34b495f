import { describe, expect, it } from "vitest";
import { authorizeAgent, identityFromReview, tokenExpiry, type AuthorizationInput } from "./authorize.ts";

const extra = (podName: string, podUid: string) => ({
  "authentication.kubernetes.io/pod-name": [podName],
  "authentication.kubernetes.io/pod-uid": [podUid],
});

describe("identityFromReview", () => {
  const user = { username: "system:serviceaccount:ns:agent", extra: extra("agent-x", "uid-x") };

  it("takes the user and the bound pod from an authenticated review for our audience", () => {
    expect(identityFromReview({ authenticated: true, audiences: ["brupop-apiserver"], user })).toEqual({
      ok: true,
      identity: { username: "system:serviceaccount:ns:agent", podName: "agent-x", podUid: "uid-x" },
    });
  });

  it.each<[string, object, number, string]>([
    ["no status", {}, 401, "TokenRejected"],
    ["an expired token", { authenticated: false, error: "token has expired" }, 401, "TokenRejected"],
    ["another audience", { authenticated: true, audiences: ["other"], user }, 401, "WrongAudience"],
    ["no audiences", { authenticated: true, user }, 401, "WrongAudience"],
    [
      "a token without a pod",
      { authenticated: true, audiences: ["brupop-apiserver"], user: { username: "u" } },
      403,
      "NotPodBound",
    ],
    [
      "two pod names",
      {
        authenticated: true,
        audiences: ["brupop-apiserver"],
        user: { username: "u", extra: { ...extra("a", "1"), "authentication.kubernetes.io/pod-name": ["a", "b"] } },
      },
      403,
      "NotPodBound",
    ],
  ])("refuses %s", (_, status, code, reason) => {
    expect(identityFromReview(status)).toMatchObject({ ok: false, status: code, reason });
  });

  it("passes the review's error on", () => {
    const result = identityFromReview({ authenticated: false, error: "token has expired" });
    expect(!result.ok && result.message).toMatch(/token has expired/);
  });
});

describe("authorizeAgent", () => {
  const allowed: AuthorizationInput = {
    identity: { username: "system:serviceaccount:brupop:agent-sa", podName: "agent-1", podUid: "pod-uid-1" },
    namespace: "brupop",
    serviceAccount: "agent-sa",
    agentLabel: { key: "brupop.bottlerocket.aws/component", value: "agent" },
    requested: { nodeName: "node-1", nodeUid: "node-uid-1" },
    pod: {
      namespace: "brupop",
      name: "agent-1",
      uid: "pod-uid-1",
      labels: { "brupop.bottlerocket.aws/component": "agent" },
      nodeName: "node-1",
      phase: "Running",
    },
    node: { name: "node-1", uid: "node-uid-1" },
  };
  const pod = allowed.pod ?? ({} as never);

  it("allows the agent pod on its own node", () => {
    expect(authorizeAgent(allowed)).toEqual({ allowed: true });
  });

  it.each<[string, Partial<AuthorizationInput>, string]>([
    [
      "another service account",
      { identity: { ...allowed.identity, username: "system:serviceaccount:brupop:default" } },
      "NotTheAgent",
    ],
    [
      "the agent SA name in another namespace",
      { identity: { ...allowed.identity, username: "system:serviceaccount:evil:agent-sa" } },
      "NotTheAgent",
    ],
    ["a pod that no longer exists", { pod: undefined }, "AgentPodNotFound"],
    ["a same-named pod of another namespace", { pod: { ...pod, namespace: "evil" } }, "AgentPodNotFound"],
    ["a namesake pod (other uid)", { pod: { ...pod, uid: "pod-uid-2" } }, "AgentPodReplaced"],
    ["a pod without the agent label", { pod: { ...pod, labels: {} } }, "NotAnAgentPod"],
    ["a finished pod", { pod: { ...pod, phase: "Failed" } }, "AgentPodFinished"],
    ["another node's name", { requested: { nodeName: "node-2", nodeUid: "node-uid-2" } }, "NodeMismatch"],
    ["an unscheduled pod", { pod: { ...pod, nodeName: undefined } }, "NodeMismatch"],
    ["a node that is gone", { node: undefined }, "NodeNotFound"],
    ["a forged node uid", { requested: { nodeName: "node-1", nodeUid: "forged" } }, "NodeUidMismatch"],
  ])("refuses %s (403)", (_, change, reason) => {
    expect(authorizeAgent({ ...allowed, ...change })).toMatchObject({ allowed: false, status: 403, reason });
  });
});

describe("tokenExpiry", () => {
  const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
  it("reads exp", () => expect(tokenExpiry(jwt({ exp: 1_700_000_000 }))).toEqual(new Date(1_700_000_000_000)));
  it.each(["nodots", "a.!!!.c", jwt({}), jwt({ exp: "soon" })])("is undefined for %j", (token) => {
    expect(tokenExpiry(token)).toBeUndefined();
  });
});

// The agent's credentials and target, from brupop's headers (BrupopNodeName, BrupopNodeUid, BrupopK8sAuthToken)
// or, for the token, the standard `Authorization: Bearer`. Pure; a missing or malformed header is a 400 (brupop: 500).
import { HEADER_AUTH_TOKEN, HEADER_NODE_NAME, HEADER_NODE_UID } from "../../api/constants.ts";

export interface AgentCredentials {
  nodeName: string;
  nodeUid: string;
  token: string;
}

export type HeaderResult =
  { ok: true; credentials: AgentCredentials } | { ok: false; status: 400 | 401; reason: string; message: string };

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

// Node names are DNS subdomains; uids are what the API server assigns (UUIDs), but we only require a sane token.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const UID = /^[A-Za-z0-9-]{1,128}$/;
// A JWT is three base64url segments; refusing anything else early keeps junk out of TokenReview and the cache.
const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_TOKEN_LENGTH = 16_384;

function single(headers: Headers, name: string): string | undefined | string[] {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? [...(value as readonly string[])] : (value as string | undefined);
}

export function parseAgentHeaders(headers: Headers): HeaderResult {
  const bad = (reason: string, message: string): HeaderResult => ({ ok: false, status: 400, reason, message });
  const nodeName = single(headers, HEADER_NODE_NAME);
  const nodeUid = single(headers, HEADER_NODE_UID);
  if (Array.isArray(nodeName) || Array.isArray(nodeUid)) {
    return bad("DuplicateHeader", `${HEADER_NODE_NAME} and ${HEADER_NODE_UID} must each be sent once`);
  }
  if (nodeName === undefined || nodeName === "") return bad("MissingHeader", `missing header ${HEADER_NODE_NAME}`);
  if (nodeName.length > 253 || !NODE_NAME.test(nodeName)) {
    return bad("InvalidHeader", `${HEADER_NODE_NAME} is not a valid node name`);
  }
  if (nodeUid === undefined || nodeUid === "") return bad("MissingHeader", `missing header ${HEADER_NODE_UID}`);
  if (!UID.test(nodeUid)) return bad("InvalidHeader", `${HEADER_NODE_UID} is not a valid uid`);

  const brupopToken = single(headers, HEADER_AUTH_TOKEN);
  const authorization = single(headers, "authorization");
  if (Array.isArray(brupopToken) || Array.isArray(authorization)) {
    return bad("DuplicateHeader", "the token must be sent once");
  }
  let token = brupopToken?.trim();
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) return bad("InvalidHeader", "Authorization must be `Bearer <token>`");
    if (token !== undefined && token !== match[1]) {
      return bad("ConflictingCredentials", `${HEADER_AUTH_TOKEN} and Authorization carry different tokens`);
    }
    token = match[1];
  }
  if (token === undefined || token === "") {
    return {
      ok: false,
      status: 401,
      reason: "MissingToken",
      message: `no token: send ${HEADER_AUTH_TOKEN} or Authorization: Bearer`,
    };
  }
  if (token.length > MAX_TOKEN_LENGTH || !TOKEN.test(token)) {
    return { ok: false, status: 401, reason: "MalformedToken", message: "the token is not a JWT" };
  }
  return { ok: true, credentials: { nodeName, nodeUid, token } };
}

import { describe, expect, it } from "vitest";
import { parseAgentHeaders } from "./headers.ts";

const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
const base = { brupopnodename: "ip-10-0-0-1.ec2.internal", brupopnodeuid: "0b7f9d5e-1c2a-4e8b-9a61-2f1d3c4b5a69" };

describe("parseAgentHeaders", () => {
  it("reads brupop's three headers", () => {
    expect(parseAgentHeaders({ ...base, brupopk8sauthtoken: token })).toEqual({
      ok: true,
      credentials: { nodeName: base.brupopnodename, nodeUid: base.brupopnodeuid, token },
    });
  });

  it("accepts Authorization: Bearer, alone or carrying the same token", () => {
    expect(parseAgentHeaders({ ...base, authorization: `Bearer ${token}` })).toMatchObject({ ok: true });
    expect(parseAgentHeaders({ ...base, authorization: `bearer ${token}`, brupopk8sauthtoken: token })).toMatchObject({
      ok: true,
      credentials: { token },
    });
  });

  it.each<[string, Record<string, string | string[]>, number, string]>([
    ["no node name", { brupopnodeuid: base.brupopnodeuid, brupopk8sauthtoken: token }, 400, "MissingHeader"],
    ["no node uid", { brupopnodename: base.brupopnodename, brupopk8sauthtoken: token }, 400, "MissingHeader"],
    [
      "a node name that is not a DNS name",
      { ...base, brupopnodename: "Node_1", brupopk8sauthtoken: token },
      400,
      "InvalidHeader",
    ],
    ["a uid with spaces", { ...base, brupopnodeuid: "a b", brupopk8sauthtoken: token }, 400, "InvalidHeader"],
    ["two node names", { ...base, brupopnodename: ["a", "b"], brupopk8sauthtoken: token }, 400, "DuplicateHeader"],
    ["Basic authorization", { ...base, authorization: "Basic dXNlcjpwdw==" }, 400, "InvalidHeader"],
    [
      "two different tokens",
      { ...base, authorization: `Bearer ${token}x`, brupopk8sauthtoken: token },
      400,
      "ConflictingCredentials",
    ],
    ["no token", { ...base }, 401, "MissingToken"],
    ["an empty token", { ...base, brupopk8sauthtoken: " " }, 401, "MissingToken"],
    ["a token that is not a JWT", { ...base, brupopk8sauthtoken: "hello" }, 401, "MalformedToken"],
  ])("refuses %s", (_, headers, status, reason) => {
    expect(parseAgentHeaders(headers)).toMatchObject({ ok: false, status, reason });
  });
});

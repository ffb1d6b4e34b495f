import { describe, expect, it } from "vitest";
import {
  API_VERSION_V1,
  API_VERSION_V2,
  COMPONENT,
  CRD_NAME,
  HEADER_AUTH_TOKEN,
  HEADER_NODE_NAME,
  HEADER_NODE_UID,
  InvalidBrsNameError,
  LABEL_COMPONENT,
  LABEL_EXCLUDE_FROM_LB,
  LABEL_UPDATER_INTERFACE_VERSION,
  OPERATOR_NAMESPACE,
  TOKEN_AUDIENCE,
  UPDATER_INTERFACE_VERSION,
  brsName,
  nodeNameFromBrsName,
} from "./constants.ts";

describe("wire constants shared with brupop 1.4", () => {
  it("match the values brupop uses", () => {
    expect({
      CRD_NAME,
      API_VERSION_V2,
      API_VERSION_V1,
      OPERATOR_NAMESPACE,
      LABEL_UPDATER_INTERFACE_VERSION,
      UPDATER_INTERFACE_VERSION,
      LABEL_COMPONENT,
      COMPONENT,
      LABEL_EXCLUDE_FROM_LB,
      TOKEN_AUDIENCE,
      headers: [HEADER_NODE_NAME, HEADER_NODE_UID, HEADER_AUTH_TOKEN],
    }).toEqual({
      CRD_NAME: "bottlerocketshadows.brupop.bottlerocket.aws",
      API_VERSION_V2: "brupop.bottlerocket.aws/v2",
      API_VERSION_V1: "brupop.bottlerocket.aws/v1",
      OPERATOR_NAMESPACE: "brupop-bottlerocket-aws",
      LABEL_UPDATER_INTERFACE_VERSION: "bottlerocket.aws/updater-interface-version",
      UPDATER_INTERFACE_VERSION: "2.0.0",
      LABEL_COMPONENT: "brupop.bottlerocket.aws/component",
      COMPONENT: { agent: "agent", apiserver: "apiserver", controller: "brupop-controller" },
      LABEL_EXCLUDE_FROM_LB: "node.kubernetes.io/exclude-from-external-load-balancers",
      TOKEN_AUDIENCE: "brupop-apiserver",
      headers: ["BrupopNodeName", "BrupopNodeUid", "BrupopK8sAuthToken"],
    });
  });
});

describe("brsName", () => {
  it("prefixes the node name with brs-", () => {
    expect(brsName("ip-192-168-22-145.us-west-2.compute.internal")).toBe(
      "brs-ip-192-168-22-145.us-west-2.compute.internal",
    );
  });

  it("accepts the longest node name that still fits in 253 characters", () => {
    const node = "a".repeat(249);
    expect(brsName(node)).toHaveLength(253);
  });

  it("refuses a name over 253 characters, saying how long it would be", () => {
    const node = "a".repeat(250);
    expect(() => brsName(node)).toThrow(InvalidBrsNameError);
    expect(() => brsName(node)).toThrow(/would be 254 characters; object names are limited to 253/);
  });

  it.each([
    ["upper case", "Node-1"],
    ["underscore", "node_1"],
    ["trailing dot", "node."],
    ["trailing dash", "node-"],
    ["empty label", "a..b"],
  ])("refuses a node name with %s as not a DNS subdomain", (_, node) => {
    expect(() => brsName(node)).toThrow(/is not a valid DNS subdomain/);
  });

  it("refuses an empty node name", () => {
    expect(() => brsName("")).toThrow(/empty node name/);
  });
});

describe("nodeNameFromBrsName", () => {
  it("inverts brsName", () => {
    expect(nodeNameFromBrsName(brsName("node-1.example"))).toBe("node-1.example");
  });

  it.each(["node-1", "brs-", "brsnode"])("returns undefined for %s", (name) => {
    expect(nodeNameFromBrsName(name)).toBeUndefined();
  });
});

import { CustomResourceDefinition as CrdModel } from "kubernetes-models/apiextensions.k8s.io/v1";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { SEMVER_PATTERN } from "./bottlerocket-shadow.ts";
import { TIMESTAMP_PATTERN } from "./timestamps.ts";
import { bottlerocketShadowCrd } from "./crd.ts";
import type { K8sSchema } from "./k8s-schema.ts";
import type { CustomResourceDefinitionVersion } from "./k8s-types.ts";

const crd = bottlerocketShadowCrd();

function version(name: string, definition = crd): CustomResourceDefinitionVersion {
  const found = definition.spec.versions.find((v) => v.name === name);
  if (found === undefined) throw new Error(`no version ${name}`);
  return found;
}

/** The parts of a schema brupop's golden file pins down (no descriptions), limited to brupop's own fields. */
function brupopShape(schema: K8sSchema | undefined, fields?: readonly string[]): unknown {
  if (schema === undefined) return undefined;
  const { type, enum: values, pattern, nullable, required, format, minimum } = schema;
  const shape: Record<string, unknown> = { type, enum: values, pattern, nullable, required, format, minimum };
  // crash_count's maximum is ours (kube-apiserver does not enforce format: uint32); brupop's u32 implies it.
  if (format === "uint32") expect(schema.maximum).toBe(4_294_967_295);
  if (schema.properties !== undefined) {
    const names = fields ?? Object.keys(schema.properties);
    shape.properties = Object.fromEntries(names.map((name) => [name, brupopShape(schema.properties?.[name])]));
  }
  return JSON.parse(JSON.stringify(shape));
}

const V2_STATES = ["Idle", "StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate", "ErrorReset"];
const V1_STATES = ["Idle", "StagedUpdate", "PerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate"];

// Transcribed from brupop 1.4's deploy/tests/golden/custom-resource-definition.yaml, with one deliberate tightening:
// brupop's timestamps are any string, ours RFC 3339 (every timestamp brupop writes matches; see TIMESTAMP_PATTERN).
const TIMESTAMP = { format: "date-time", pattern: TIMESTAMP_PATTERN };
const goldenSpec = (states: string[]) => ({
  type: "object",
  required: ["state"],
  properties: {
    state: { type: "string", enum: states },
    state_transition_timestamp: { type: "string", nullable: true, ...TIMESTAMP },
    version: { type: "string", nullable: true, pattern: SEMVER_PATTERN },
  },
});
const GOLDEN_V2 = {
  type: "object",
  required: ["spec"],
  properties: {
    spec: goldenSpec(V2_STATES),
    status: {
      type: "object",
      nullable: true,
      required: ["current_version", "target_version", "current_state", "crash_count"],
      properties: {
        current_version: { type: "string", pattern: SEMVER_PATTERN },
        target_version: { type: "string", pattern: SEMVER_PATTERN },
        current_state: { type: "string", enum: V2_STATES },
        crash_count: { type: "integer", format: "uint32", minimum: 0 },
        state_transition_failure_timestamp: { type: "string", nullable: true, ...TIMESTAMP },
      },
    },
  },
};
const GOLDEN_V1 = {
  type: "object",
  required: ["spec"],
  properties: {
    spec: goldenSpec(V1_STATES),
    status: {
      type: "object",
      nullable: true,
      required: ["current_version", "target_version", "current_state"],
      properties: {
        current_version: { type: "string", pattern: SEMVER_PATTERN },
        target_version: { type: "string", pattern: SEMVER_PATTERN },
        current_state: { type: "string", enum: V1_STATES },
      },
    },
  },
};
const BRUPOP_STATUS_FIELDS_V2 = Object.keys(GOLDEN_V2.properties.status.properties);

describe("bottlerocketShadowCrd: identity (same as brupop 1.4)", () => {
  it("has brupop's name, group, names and scope", () => {
    expect(crd.apiVersion).toBe("apiextensions.k8s.io/v1");
    expect(crd.kind).toBe("CustomResourceDefinition");
    expect(crd.metadata.name).toBe("bottlerocketshadows.brupop.bottlerocket.aws");
    expect(crd.spec.group).toBe("brupop.bottlerocket.aws");
    expect(crd.spec.names).toEqual({
      kind: "BottlerocketShadow",
      plural: "bottlerocketshadows",
      singular: "bottlerocketshadow",
      shortNames: ["brs"],
    });
    expect(crd.spec.scope).toBe("Namespaced");
  });

  it("serves v2 (storage) and v1, both with a status subresource", () => {
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage, v.subresources])).toEqual([
      ["v2", true, true, { status: {} }],
      ["v1", true, false, { status: {} }],
    ]);
  });

  it("has brupop's printer columns, all typed string", () => {
    expect(version("v2").additionalPrinterColumns).toEqual([
      { name: "State", jsonPath: ".status.current_state", type: "string" },
      { name: "Version", jsonPath: ".status.current_version", type: "string" },
      { name: "Target State", jsonPath: ".spec.state", type: "string" },
      { name: "Target Version", jsonPath: ".spec.version", type: "string" },
      { name: "Crash Count", jsonPath: ".status.crash_count", type: "string" },
    ]);
    expect(version("v1").additionalPrinterColumns).toEqual(version("v2").additionalPrinterColumns?.slice(0, 4));
  });

  it("v2 schema matches brupop's for every brupop field", () => {
    const schema = version("v2").schema.openAPIV3Schema;
    expect(schema.title).toBe("BottlerocketShadow");
    const shape = brupopShape(schema) as { properties: { status: unknown } };
    shape.properties.status = brupopShape(schema.properties?.status, BRUPOP_STATUS_FIELDS_V2);
    expect(shape).toEqual(GOLDEN_V2);
  });

  it("v1 schema matches brupop's exactly", () => {
    expect(brupopShape(version("v1").schema.openAPIV3Schema)).toEqual(GOLDEN_V1);
  });

  it("adds only optional status fields to v2", () => {
    const status = version("v2").schema.openAPIV3Schema.properties?.status;
    const added = Object.keys(status?.properties ?? {}).filter((name) => !BRUPOP_STATUS_FIELDS_V2.includes(name));
    expect(added).toEqual(["failure_reason", "conditions"]);
    expect(status?.required).toEqual(GOLDEN_V2.properties.status.required);
    expect(status?.properties?.conditions).toMatchObject({
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      items: { required: ["type", "status", "lastTransitionTime", "reason", "message"] },
    });
  });

  it("is a valid apiextensions.k8s.io/v1 object by the upstream OpenAPI schema", () => {
    expect(() => new CrdModel(crd).validate()).not.toThrow();
    expect(() => new CrdModel(bottlerocketShadowCrd({ conversion: "none" })).validate()).not.toThrow();
  });

  it("returns a fresh object each call, so callers cannot corrupt the next one", () => {
    const first = bottlerocketShadowCrd();
    first.spec.versions[0]?.additionalPrinterColumns?.pop();
    delete first.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
    expect(bottlerocketShadowCrd()).toEqual(crd);
  });
});

describe("bottlerocketShadowCrd: conversion", () => {
  it("defaults to brupop's webhook service, with conversionReviewVersions [v1]", () => {
    expect(crd.spec.conversion).toEqual({
      strategy: "Webhook",
      webhook: {
        clientConfig: {
          service: { namespace: "brupop-bottlerocket-aws", name: "brupop-apiserver", path: "/crdconvert", port: 443 },
        },
        conversionReviewVersions: ["v1"],
      },
    });
  });

  it("takes the service reference and caBundle from the options", () => {
    const caBundle = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString("base64");
    const custom = bottlerocketShadowCrd({
      conversion: { webhook: { namespace: "ops", serviceName: "updates", path: "/convert", port: 8443, caBundle } },
    });
    expect(custom.spec.conversion).toEqual({
      strategy: "Webhook",
      webhook: {
        clientConfig: { service: { namespace: "ops", name: "updates", path: "/convert", port: 8443 }, caBundle },
        conversionReviewVersions: ["v1"],
      },
    });
  });

  it("uses strategy None when asked (clusters without the webhook)", () => {
    expect(bottlerocketShadowCrd({ conversion: "none" }).spec.conversion).toEqual({ strategy: "None" });
  });

  it.each<[string, Parameters<typeof bottlerocketShadowCrd>[0], RegExp]>([
    [
      "a bad namespace",
      { conversion: { webhook: { namespace: "Ops_1" } } },
      /namespace "Ops_1" is not a valid namespace name/,
    ],
    [
      "a bad service name",
      { conversion: { webhook: { serviceName: "a.b" } } },
      /service "a.b" is not a valid Service name/,
    ],
    ["a relative path", { conversion: { webhook: { path: "crdconvert" } } }, /path "crdconvert" must start with \//],
    ["port 0", { conversion: { webhook: { port: 0 } } }, /port 0 is not a port number/],
    ["port 70000", { conversion: { webhook: { port: 70000 } } }, /port 70000 is not a port number/],
    [
      "a PEM caBundle",
      { conversion: { webhook: { caBundle: "-----BEGIN CERTIFICATE-----\n" } } },
      /base64 encoding of the PEM/,
    ],
    ["a caBundle that is not base64", { conversion: { webhook: { caBundle: "not base64!" } } }, /not valid base64/],
  ])("refuses %s with a clear error", (_, options, message) => {
    expect(() => bottlerocketShadowCrd(options)).toThrow(message);
  });
});

describe("bottlerocketShadowCrd: metadata", () => {
  it("carries labels and annotations the caller gives (e.g. for cert-manager's CA injection)", () => {
    const annotated = bottlerocketShadowCrd({
      labels: { "app.kubernetes.io/part-of": "brupop" },
      annotations: { "cert-manager.io/inject-ca-from": "brupop-bottlerocket-aws/brupop-selfsigned-ca" },
    });
    expect(annotated.metadata).toEqual({
      name: "bottlerocketshadows.brupop.bottlerocket.aws",
      labels: { "app.kubernetes.io/part-of": "brupop" },
      annotations: { "cert-manager.io/inject-ca-from": "brupop-bottlerocket-aws/brupop-selfsigned-ca" },
    });
    expect(crd.metadata).toEqual({ name: "bottlerocketshadows.brupop.bottlerocket.aws" });
  });
});

describe("bottlerocketShadowCrd: snapshot", () => {
  it("renders as reviewed (update with `vitest -u` after an intended change)", () => {
    expect(stringify(crd)).toMatchSnapshot();
  });
});

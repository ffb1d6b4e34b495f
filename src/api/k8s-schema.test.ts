import Type from "typebox";
import { Compile } from "typebox/compile";
import { describe, expect, it } from "vitest";
import { bottlerocketShadowCrd } from "./crd.ts";
import {
  mapOf,
  nullable,
  stringEnum,
  structuralSchemaViolations,
  toKubernetesSchema,
  toValidationSchema,
  uint32,
} from "./k8s-schema.ts";

const problems = (schema: unknown) => structuralSchemaViolations(schema).map((v) => `${v.path}: ${v.problem}`);

describe("every CRD schema we generate", () => {
  const crd = bottlerocketShadowCrd();

  it.each(crd.spec.versions.map((v) => [v.name, v.schema.openAPIV3Schema] as const))(
    "%s is structural: no forbidden keyword, a type on every node",
    (_, schema) => {
      expect(problems(schema)).toEqual([]);
      expect(schema.type).toBe("object");
    },
  );

  it("contains no TypeBox artefacts", () => {
    const text = JSON.stringify(crd);
    for (const keyword of [
      '"const"',
      '"anyOf"',
      '"$id"',
      '"patternProperties"',
      '"additionalProperties":false',
      "~kind",
    ]) {
      expect(text).not.toContain(keyword);
    }
  });
});

describe("structuralSchemaViolations", () => {
  const string = { type: "string" };
  it.each<[string, unknown, RegExp]>([
    ["const", { type: "string", const: "x" }, /no `const`/],
    ["$ref", { type: "object", properties: { a: { $ref: "#/defs/a" } } }, /^\.properties\.a: `\$ref` is not supported/],
    ["patternProperties", { type: "object", patternProperties: { "^.*$": string } }, /patternProperties/],
    ["additionalProperties: false", { type: "object", additionalProperties: false }, /must be a schema/],
    [
      "properties beside additionalProperties",
      { type: "object", properties: { a: string }, additionalProperties: string },
      /mutually exclusive/,
    ],
    ["anyOf of const (a TypeBox literal union)", Type.Union([Type.Literal("A"), Type.Literal("B")]), /missing `type`/],
    ["type list (a TypeBox nullable union)", { type: ["string", "null"] }, /single string/],
    ["type null", { type: "null" }, /not a Kubernetes schema type/],
    [
      "a node without type",
      { type: "object", properties: { a: { description: "untyped" } } },
      /^\.properties\.a: missing `type`/,
    ],
    ["an array without items", { type: "array" }, /needs `items`/],
    ["a tuple", { type: "array", items: [string, string] }, /not a tuple/],
    ["numeric exclusiveMinimum (JSON Schema 2020-12)", { type: "integer", exclusiveMinimum: 0 }, /must be a boolean/],
    ["uniqueItems", { type: "array", items: string, uniqueItems: true }, /uniqueItems/],
    ["an unknown keyword", { type: "string", examples: ["a"] }, /`examples` is not a JSONSchemaProps field/],
    ["an enum value of the wrong type", { type: "string", enum: ["a", 1] }, /enum value 1 is not of type string/],
    [
      "required without the property",
      { type: "object", properties: { a: string }, required: ["b"] },
      /required property b/,
    ],
    [
      "a problem deep in items",
      { type: "array", items: { type: "object", properties: { x: { const: 1 } } } },
      /^\.items\.properties\.x: /,
    ],
  ])("reports %s", (_, schema, expected) => {
    expect(problems(schema).some((p) => expected.test(p))).toBe(true);
  });

  it("accepts untyped nodes only when they are int-or-string or preserve unknown fields", () => {
    expect(problems({ "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] })).toEqual(
      [],
    );
    expect(problems({ type: "object", "x-kubernetes-preserve-unknown-fields": true })).toEqual([]);
    expect(problems({ "x-kubernetes-preserve-unknown-fields": true })).toEqual([]);
  });
});

describe("Kubernetes-safe builders", () => {
  it("stringEnum is {type: string, enum}, not anyOf of const", () => {
    expect(toKubernetesSchema(stringEnum(["A", "B"], { description: "d" }))).toEqual({
      type: "string",
      enum: ["A", "B"],
      description: "d",
    });
  });

  it("nullable adds nullable: true next to the type", () => {
    expect(toKubernetesSchema(nullable(Type.String({ pattern: "^a" })))).toEqual({
      type: "string",
      pattern: "^a",
      nullable: true,
    });
  });

  it("mapOf uses additionalProperties, not patternProperties", () => {
    expect(toKubernetesSchema(mapOf(Type.String()))).toEqual({
      type: "object",
      additionalProperties: { type: "string" },
    });
  });

  it("uint32 is written as kube-rs writes a u32, plus the maximum kube-apiserver does not infer from the format", () => {
    expect(toKubernetesSchema(uint32())).toEqual({
      type: "integer",
      format: "uint32",
      minimum: 0,
      maximum: 4_294_967_295,
    });
  });

  it("all builders produce structural schemas", () => {
    const schema = toKubernetesSchema(
      Type.Object({
        e: stringEnum(["A"]),
        n: nullable(Type.Integer()),
        m: mapOf(nullable(Type.String())),
        u: uint32(),
      }),
    );
    expect(problems(schema)).toEqual([]);
  });
});

describe("toKubernetesSchema", () => {
  it("strips what Kubernetes refuses or ignores: $id, $schema, additionalProperties: false, empty required", () => {
    const schema = Type.Object(
      { a: Type.Optional(Type.String()) },
      { $id: "Thing", $schema: "https://json-schema.org/draft/2020-12/schema", additionalProperties: false },
    );
    expect(toKubernetesSchema(schema)).toEqual({ type: "object", properties: { a: { type: "string" } } });
  });

  it("drops empty properties beside additionalProperties", () => {
    expect(toKubernetesSchema(Type.Object({}, { additionalProperties: Type.Integer() }))).toEqual({
      type: "object",
      additionalProperties: { type: "integer" },
    });
  });

  it("leaves data (enum, default, example, list-map keys) alone even when it looks like schema keywords", () => {
    const schema = {
      type: "object",
      enum: [{ $id: "x" }],
      default: { $id: "x", required: [] },
      example: { additionalProperties: false },
      "x-kubernetes-list-map-keys": ["$id"],
    };
    expect(toKubernetesSchema(schema)).toEqual(schema);
  });

  it("keeps properties whose names are keywords", () => {
    const schema = Type.Object({ required: Type.Array(Type.String()), $id: Type.String() });
    expect(toKubernetesSchema(schema).properties).toEqual({
      required: { type: "array", items: { type: "string" } },
      $id: { type: "string" },
    });
  });
});

describe("toValidationSchema", () => {
  it("turns nullable into a JSON Schema type list, and adds null to an enum", () => {
    expect(toValidationSchema(nullable(stringEnum(["A"])))).toEqual({ type: ["string", "null"], enum: ["A", null] });
  });

  it("does not rewrite nullable inside data such as a default value", () => {
    const schema = { type: "object", nullable: true, default: { nullable: true } };
    expect(toValidationSchema(schema)).toEqual({ type: ["object", "null"], default: { nullable: true } });
  });

  it("makes TypeBox accept null exactly where the Kubernetes schema does", () => {
    const schema = Type.Object({ a: nullable(Type.String()), b: Type.String() });
    const validator = Compile(toValidationSchema(schema));
    expect(validator.Check({ a: null, b: "x" })).toBe(true);
    expect(validator.Check({ a: "x", b: null })).toBe(false);
  });
});

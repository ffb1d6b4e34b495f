// Kubernetes-safe TypeBox builders, the normaliser that turns a TypeBox schema into a CRD `openAPIV3Schema`, the
// check for the structural-schema rules, and the translation of the one Kubernetes-only keyword (`nullable`) into
// JSON Schema for runtime validation.
//
// Why not plain TypeBox everywhere: `Type.Union([Literal…])` emits `anyOf` of `const`, `Type.Record` emits
// `patternProperties`, `Union([X, Null])` emits `anyOf` with `type: null`. The API server refuses all three (no
// `const` in JSONSchemaProps, no patternProperties, `type` must be one string), so CRD schemas are built from these.
import Type, { type Static, type TSchema, type TUnsafe } from "typebox";

/** Options that carry over to a generated node. Only keywords JSONSchemaProps knows belong here. */
export interface K8sSchemaOptions {
  description?: string;
  title?: string;
}

/** One node of a CRD schema, as the API server spells it (`enum`, `x-kubernetes-*`), i.e. the wire form. */
export interface K8sSchema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  title?: string;
  description?: string;
  properties?: Record<string, K8sSchema>;
  required?: string[];
  additionalProperties?: K8sSchema;
  items?: K8sSchema;
  enum?: (string | number | boolean)[];
  nullable?: boolean;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  /** CEL rules, which the API server evaluates on a write. */
  "x-kubernetes-validations"?: { rule: string; message?: string }[];
}

/** A string restricted to `values`: `{type: string, enum}` (TypeBox's literal unions would emit `anyOf`/`const`). */
export function stringEnum<const Values extends readonly [string, ...string[]]>(
  values: Values,
  options: K8sSchemaOptions = {},
): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({ type: "string", enum: [...values], ...options });
}

/**
 * `schema` or null, as OpenAPI 3.0 says it: `nullable: true` next to the type. TypeBox's validator does not know
 * `nullable`; {@link toValidationSchema} rewrites it for runtime checks.
 */
export function nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}

/** A string-keyed map: `additionalProperties: <schema>` (TypeBox's `Record` would emit `patternProperties`). */
export function mapOf<T extends TSchema>(
  values: T,
  options: K8sSchemaOptions = {},
): TUnsafe<Record<string, Static<T>>> {
  return Type.Unsafe<Record<string, Static<T>>>({ type: "object", additionalProperties: values, ...options });
}

/** The largest unsigned 32-bit integer. */
export const UINT32_MAX = 4_294_967_295;

/**
 * An unsigned 32-bit integer, written the way kube-rs/schemars writes a Rust `u32` (brupop's crash_count), plus the
 * `maximum` schemars leaves out: kube-apiserver does not enforce `format: uint32`, so without it 2^32 is stored and
 * a Rust reader (brupop) fails to parse the object.
 */
export function uint32(options: K8sSchemaOptions = {}): TUnsafe<number> {
  return Type.Unsafe<number>({ type: "integer", format: "uint32", minimum: 0, maximum: UINT32_MAX, ...options });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A deep copy of the enumerable JSON data only (TypeBox keeps its `~kind` markers non-enumerable). */
function jsonCopy(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

// Keys whose values are data, not schemas: copied as they are, never rewritten.
const DATA_KEYS = new Set(["enum", "default", "example", "x-kubernetes-list-map-keys", "x-kubernetes-validations"]);

// Keys that mean something to TypeBox or JSON Schema 2020-12 but are either unknown to the API server or
// contradict its structural rules; they are dropped rather than rejected because they carry no validation meaning
// the API server could apply.
const DROPPED_KEYS = new Set(["$id", "$schema", "$comment", "examples"]);

function normaliseNode(node: Json): Json {
  if (Array.isArray(node)) return node.map(normaliseNode);
  if (!isRecord(node)) return node;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROPPED_KEYS.has(key)) continue;
    // Kubernetes ignores unknown fields by convention, so a closed object cannot be expressed.
    if (key === "additionalProperties" && value === false) continue;
    if (key === "required" && Array.isArray(value) && value.length === 0) continue;
    if (key === "properties" && isRecord(value)) {
      // Empty `properties` beside `additionalProperties` (TypeBox's map form) says nothing; the CRD reads as a map.
      if (Object.keys(value).length === 0 && "additionalProperties" in node) continue;
      out[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, normaliseNode(child)]));
      continue;
    }
    out[key] = DATA_KEYS.has(key) ? value : normaliseNode(value);
  }
  return out;
}

/**
 * The CRD form of a TypeBox schema: plain JSON without TypeBox markers, `$id`/`$schema`, empty `required`,
 * `additionalProperties: false` or empty `properties` next to `additionalProperties`. It does not repair what it
 * cannot express (e.g. `const`, `anyOf`); {@link structuralSchemaViolations} reports those.
 */
export function toKubernetesSchema(schema: TSchema): K8sSchema {
  return normaliseNode(jsonCopy(schema)) as K8sSchema;
}

function toValidationNode(node: Json): Json {
  if (Array.isArray(node)) return node.map(toValidationNode);
  if (!isRecord(node)) return node;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "nullable") continue;
    if (key === "properties" && isRecord(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, toValidationNode(child)]));
      continue;
    }
    out[key] = DATA_KEYS.has(key) ? value : toValidationNode(value);
  }
  if (node.nullable === true) {
    if (typeof node.type === "string") out.type = [node.type, "null"];
    if (Array.isArray(node.enum)) out.enum = [...node.enum, null];
  }
  return out;
}

/**
 * The JSON Schema (2020-12) equivalent of a Kubernetes schema, for TypeBox's validator: `nullable: true` becomes
 * `type: [T, "null"]` (and `null` joins any `enum`). The other keywords the builders emit mean the same in both
 * dialects; TypeBox ignores the x-kubernetes-* extensions (the API server enforces those).
 */
export function toValidationSchema(schema: TSchema | K8sSchema): TSchema {
  return toValidationNode(jsonCopy(schema)) as TSchema;
}

/** Every field of apiextensions/v1 JSONSchemaProps except those the structural rules forbid outright. */
const ALLOWED_KEYWORDS = new Set([
  "type",
  "title",
  "description",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "nullable",
  "format",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "uniqueItems",
  "default",
  "example",
  "externalDocs",
  "anyOf",
  "oneOf",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-list-type",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-validations",
]);

/** Keywords a structural schema must not contain, with the reason the API server gives (apiextensions validation). */
const FORBIDDEN_KEYWORDS: Readonly<Record<string, string>> = {
  const: "JSONSchemaProps has no `const`; use a one-value `enum`",
  $ref: "`$ref` is not supported; inline the schema",
  $id: "`$id` is not supported",
  $schema: "`$schema` is not supported",
  definitions: "`definitions` is not supported; inline the schema",
  $defs: "`$defs` is not supported; inline the schema",
  patternProperties: "`patternProperties` is not supported; use `additionalProperties: <schema>`",
  allOf: "`allOf` is not used in our CRDs; merge the schemas",
  not: "`not` is not used in our CRDs",
};

const SCALAR_TYPES = new Set(["string", "integer", "number", "boolean"]);

export interface SchemaViolation {
  /** Location in the schema, e.g. `.properties.status.properties.crash_count`. */
  path: string;
  problem: string;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function checkNode(node: unknown, path: string, out: SchemaViolation[]): void {
  if (!isRecord(node)) {
    out.push({ path, problem: "a schema must be an object" });
    return;
  }
  for (const key of Object.keys(node)) {
    const forbidden = FORBIDDEN_KEYWORDS[key];
    if (forbidden !== undefined) out.push({ path, problem: forbidden });
    else if (!ALLOWED_KEYWORDS.has(key)) out.push({ path, problem: `\`${key}\` is not a JSONSchemaProps field` });
  }
  const intOrString = node["x-kubernetes-int-or-string"] === true;
  const preserveUnknown = node["x-kubernetes-preserve-unknown-fields"] === true;
  const { type } = node;
  if (type === undefined) {
    if (!intOrString && !preserveUnknown) out.push({ path, problem: "missing `type` (structural schemas need one)" });
  } else if (typeof type !== "string") {
    out.push({ path, problem: "`type` must be a single string; use `nullable: true` for null" });
  } else if (type !== "object" && type !== "array" && !SCALAR_TYPES.has(type)) {
    out.push({ path, problem: `\`type: ${type}\` is not a Kubernetes schema type` });
  }
  if ((node.anyOf !== undefined || node.oneOf !== undefined) && !intOrString) {
    out.push({ path, problem: "`anyOf`/`oneOf` are only used for x-kubernetes-int-or-string in our CRDs" });
  }
  if (node.nullable !== undefined && typeof node.nullable !== "boolean") {
    out.push({ path, problem: "`nullable` must be a boolean" });
  }
  if (node.uniqueItems === true) out.push({ path, problem: "`uniqueItems: true` is not allowed" });
  for (const key of ["exclusiveMinimum", "exclusiveMaximum"]) {
    // OpenAPI 3.0 (Kubernetes) uses booleans here; JSON Schema 2020-12 (TypeBox) uses numbers.
    if (node[key] !== undefined && typeof node[key] !== "boolean") {
      out.push({ path, problem: `\`${key}\` must be a boolean in OpenAPI v3.0` });
    }
  }
  if (Array.isArray(node.enum) && typeof type === "string" && SCALAR_TYPES.has(type)) {
    for (const value of node.enum) {
      const actual = jsonTypeOf(value);
      const fits = actual === type || (type === "number" && actual === "integer");
      if (!fits) out.push({ path, problem: `enum value ${JSON.stringify(value)} is not of type ${type}` });
    }
  }

  const { properties, additionalProperties, items } = node;
  if (properties !== undefined) {
    if (!isRecord(properties)) out.push({ path, problem: "`properties` must be an object" });
    else {
      if (type !== "object") out.push({ path, problem: "`properties` on a node whose type is not object" });
      if (Object.keys(properties).length > 0 && additionalProperties !== undefined) {
        out.push({ path, problem: "`properties` and `additionalProperties` are mutually exclusive" });
      }
      for (const [name, child] of Object.entries(properties)) checkNode(child, `${path}.properties.${name}`, out);
    }
  }
  if (additionalProperties !== undefined) {
    if (typeof additionalProperties === "boolean") {
      out.push({
        path,
        problem: "`additionalProperties` must be a schema (use x-kubernetes-preserve-unknown-fields for any)",
      });
    } else checkNode(additionalProperties, `${path}.additionalProperties`, out);
  }
  if (type === "array" && items === undefined) out.push({ path, problem: "an array needs `items`" });
  if (items !== undefined) {
    if (Array.isArray(items)) out.push({ path, problem: "`items` must be one schema, not a tuple" });
    else checkNode(items, `${path}.items`, out);
  }
  if (node.required !== undefined) {
    const required = node.required;
    if (!Array.isArray(required) || required.some((name) => typeof name !== "string")) {
      out.push({ path, problem: "`required` must be a list of property names" });
    } else if (isRecord(properties)) {
      for (const name of required as string[]) {
        if (!(name in properties)) out.push({ path, problem: `required property ${name} is not declared` });
      }
    }
  }
}

/**
 * Everything in `schema` that the API server would refuse in a CRD or that makes it non-structural. Empty means
 * fine. Stricter than the API server in one way on purpose: every node must have a `type`, except nodes marked
 * x-kubernetes-int-or-string or x-kubernetes-preserve-unknown-fields.
 */
export function structuralSchemaViolations(schema: unknown, path = ""): SchemaViolation[] {
  const out: SchemaViolation[] = [];
  checkNode(schema, path, out);
  return out;
}

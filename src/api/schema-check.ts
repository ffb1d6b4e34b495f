// Checks a value against a schema of the subset of JSON Schema that CRD schemas are made of (README.md: why not
// TypeBox's compiler). Keywords apply only to values of their type, as in JSON Schema; a value of the wrong type
// reports that alone. A keyword outside the subset is refused when the checker is made, never ignored.
import { isRecord } from "./k8s-schema.ts";
import { isDateTime } from "./timestamps.ts";

/** One finding, in the shape and wording of TypeBox's errors (`validation.ts` turns them into messages). */
export interface SchemaError {
  keyword: string;
  /** JSON pointer into the value: `/status/conditions/0/type`. */
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

export interface SchemaChecker {
  check(value: unknown): boolean;
  /** Every finding, in schema order; empty when `check` is true. */
  errors(value: unknown): SchemaError[];
}

type Report = (error: Omit<SchemaError, "message">) => void;

// Keywords that describe and do not constrain, and those kube-apiserver enforces (x-kubernetes-*).
const ANNOTATIONS = new Set([
  "title",
  "description",
  "default",
  "example",
  "examples",
  "$id",
  "$schema",
  "$comment",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-validations",
]);
const KEYWORDS = new Set([
  "type",
  "enum",
  "anyOf",
  "properties",
  "required",
  "additionalProperties",
  "minProperties",
  "maxProperties",
  "items",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "pattern",
  "format",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
]);
// Formats that constrain a string. Others the CRDs carry (`int64`, `uint32`) describe numbers and, as in TypeBox,
// are not checked; the ranges that matter are `minimum`/`maximum` beside them.
const STRING_FORMATS: Readonly<Record<string, (value: string) => boolean>> = { "date-time": isDateTime };
const DESCRIPTIVE_FORMATS = new Set(["int64", "int32", "uint32", "double", "float"]);

const TYPES: Readonly<Record<string, (value: unknown) => boolean>> = {
  object: isRecord,
  array: Array.isArray,
  string: (v) => typeof v === "string",
  integer: Number.isInteger,
  number: (v) => typeof v === "number",
  boolean: (v) => typeof v === "boolean",
  null: (v) => v === null,
};

/** Refuses what the checker would not enforce, so that a schema cannot mean more than it checks. */
function vet(node: unknown, at: string, patterns: Map<string, RegExp>): void {
  if (node === true || (isRecord(node) && Object.keys(node).length === 0)) return;
  const where = `schema at ${at || "(root)"}`;
  if (!isRecord(node)) throw new Error(`${where}: not a schema`);
  for (const [key, value] of Object.entries(node)) {
    if (ANNOTATIONS.has(key)) continue;
    if (!KEYWORDS.has(key)) throw new Error(`${where}: keyword ${key} is not supported`);
    if (key === "type") {
      const types = Array.isArray(value) ? value : [value];
      for (const t of types) if (typeof t !== "string" || !(t in TYPES)) throw new Error(`${where}: type ${t}`);
    } else if (key === "format" && typeof value === "string") {
      if (!(value in STRING_FORMATS) && !DESCRIPTIVE_FORMATS.has(value))
        throw new Error(`${where}: format ${value} is not supported`);
    } else if (key === "pattern" && typeof value === "string") {
      patterns.set(value, new RegExp(value, "u"));
    } else if (key === "properties" && isRecord(value)) {
      for (const [name, child] of Object.entries(value)) vet(child, `${at}/${name}`, patterns);
    } else if ((key === "items" || key === "additionalProperties") && typeof value !== "boolean") {
      vet(value, `${at}/${key}`, patterns);
    } else if (key === "anyOf" && Array.isArray(value)) {
      value.forEach((branch, i) => vet(branch, `${at}/anyOf/${i}`, patterns));
    }
  }
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** The string's length in Unicode code points, as JSON Schema counts it. */
function codePoints(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

// A code point is one or two UTF-16 units, so most strings are measured without walking them: a 16 MB string
// against a `maxLength` of 63 is refused at once.
const longerThan = (value: string, max: number): boolean =>
  value.length > max && (value.length > 2 * max || codePoints(value) > max);
const shorterThan = (value: string, min: number): boolean =>
  value.length < 2 * min && (value.length < min || codePoints(value) < min);

function evaluate(node: unknown, value: unknown, path: string, patterns: Map<string, RegExp>, report: Report): boolean {
  if (!isRecord(node)) return true;
  const fail = (keyword: string, params: Record<string, unknown> = {}) => {
    report({ keyword, instancePath: path, params });
    return false;
  };
  if (node.type !== undefined) {
    const types = (Array.isArray(node.type) ? node.type : [node.type]) as string[];
    if (!types.some((t) => TYPES[t]?.(value))) return fail("type", { type: node.type });
  }
  let ok = true;
  if (Array.isArray(node.enum) && !node.enum.some((allowed) => allowed === value)) {
    ok = fail("enum", { allowedValues: node.enum });
  }
  if (Array.isArray(node.anyOf) && !node.anyOf.some((b) => evaluate(b, value, path, patterns, () => undefined))) {
    ok = fail("anyOf");
  }
  if (typeof value === "string") {
    if (typeof node.maxLength === "number" && longerThan(value, node.maxLength)) {
      ok = fail("maxLength", { limit: node.maxLength });
    }
    if (typeof node.minLength === "number" && shorterThan(value, node.minLength)) {
      ok = fail("minLength", { limit: node.minLength });
    }
    if (typeof node.pattern === "string" && !patterns.get(node.pattern)?.test(value)) {
      ok = fail("pattern", { pattern: node.pattern });
    }
    const format = typeof node.format === "string" ? STRING_FORMATS[node.format] : undefined;
    if (format && !format(value)) ok = fail("format", { format: node.format });
  } else if (typeof value === "number") {
    const bound = (keyword: string, comparison: string, holds: (limit: number) => boolean) => {
      const limit = node[keyword];
      if (typeof limit === "number" && !holds(limit)) ok = fail(keyword, { comparison, limit });
    };
    bound("minimum", ">=", (l) => value >= l);
    bound("maximum", "<=", (l) => value <= l);
    bound("exclusiveMinimum", ">", (l) => value > l);
    bound("exclusiveMaximum", "<", (l) => value < l);
  } else if (Array.isArray(value)) {
    if (typeof node.maxItems === "number" && value.length > node.maxItems) {
      ok = fail("maxItems", { limit: node.maxItems });
    }
    if (typeof node.minItems === "number" && value.length < node.minItems) {
      ok = fail("minItems", { limit: node.minItems });
    }
    if (node.items !== undefined) {
      value.forEach((item, i) => {
        if (!evaluate(node.items, item, `${path}/${i}`, patterns, report)) ok = false;
      });
    }
  } else if (isRecord(value)) {
    const keys = Object.keys(value);
    if (typeof node.maxProperties === "number" && keys.length > node.maxProperties) {
      ok = fail("maxProperties", { limit: node.maxProperties });
    }
    if (typeof node.minProperties === "number" && keys.length < node.minProperties) {
      ok = fail("minProperties", { limit: node.minProperties });
    }
    const required = Array.isArray(node.required) ? (node.required as string[]) : [];
    const missing = required.filter((name) => !(name in value));
    if (missing.length > 0) ok = fail("required", { requiredProperties: missing });
    const properties = isRecord(node.properties) ? node.properties : {};
    for (const [name, child] of Object.entries(properties)) {
      // An optional property set to undefined is absent (TypeBox's default, exactOptionalPropertyTypes off).
      if (!Object.hasOwn(value, name) || (value[name] === undefined && !required.includes(name))) continue;
      if (!evaluate(child, value[name], `${path}/${escapePointer(name)}`, patterns, report)) ok = false;
    }
    const extra = node.additionalProperties;
    if (extra !== undefined && extra !== true) {
      for (const name of keys) {
        if (Object.hasOwn(properties, name)) continue;
        if (extra === false) ok = fail("additionalProperties", { additionalProperties: [name] });
        else if (!evaluate(extra, value[name], `${path}/${escapePointer(name)}`, patterns, report)) ok = false;
      }
    }
  }
  return ok;
}

/** TypeBox's wording (typebox/system/locale en_US) for the keywords above. */
function describe(error: Omit<SchemaError, "message">): string {
  const { keyword, params } = error;
  switch (keyword) {
    case "type":
      return Array.isArray(params.type)
        ? `must be either ${params.type.join(" or ")}`
        : `must be ${String(params.type)}`;
    case "enum":
      return "must be equal to one of the allowed values";
    case "anyOf":
      return "must match a schema in anyOf";
    case "required":
      return `must have required properties ${(params.requiredProperties as string[]).join(", ")}`;
    case "additionalProperties":
      return "must not have additional properties";
    case "pattern":
      return `must match pattern "${String(params.pattern)}"`;
    case "format":
      return `must match format "${String(params.format)}"`;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return `must be ${String(params.comparison)} ${String(params.limit)}`;
    case "maxLength":
      return `must not have more than ${String(params.limit)} characters`;
    case "minLength":
      return `must not have fewer than ${String(params.limit)} characters`;
    case "maxItems":
      return `must not have more than ${String(params.limit)} items`;
    case "minItems":
      return `must not have fewer than ${String(params.limit)} items`;
    case "maxProperties":
      return `must not have more than ${String(params.limit)} properties`;
    case "minProperties":
      return `must not have fewer than ${String(params.limit)} properties`;
    default:
      return "an unknown validation error occurred";
  }
}

/** A checker for `schema` (JSON Schema 2020-12 as `toValidationSchema` writes it); throws on what it cannot check. */
export function schemaChecker(schema: unknown): SchemaChecker {
  const patterns = new Map<string, RegExp>();
  vet(schema, "", patterns);
  return {
    check: (value) => evaluate(schema, value, "", patterns, () => undefined),
    errors: (value) => {
      const found: SchemaError[] = [];
      evaluate(schema, value, "", patterns, (e) => found.push({ ...e, message: describe(e) }));
      return found;
    },
  };
}

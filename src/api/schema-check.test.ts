import Type, { type TSchema } from "typebox";
import { Compile } from "typebox/compile";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../sim/seeded-random.ts";
import * as shadow from "./bottlerocket-shadow.ts";
import * as conversion from "./conversion.ts";
import { nullable, stringEnum, toValidationSchema } from "./k8s-schema.ts";
import { schemaChecker } from "./schema-check.ts";
import * as policy from "./update-policy.ts";

describe("schemaChecker", () => {
  const Thing = toValidationSchema(
    Type.Object({
      name: Type.String({ minLength: 2, maxLength: 3 }),
      colour: stringEnum(["red", "green"]),
      size: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 9 }))),
      tags: Type.Optional(Type.Array(Type.String(), { maxItems: 1 })),
      labels: Type.Optional(Type.Unsafe({ type: "object", additionalProperties: { type: "string" } })),
    }),
  );
  const thing = schemaChecker(Thing);

  it("reports a value of the wrong type alone, not the keywords of its type", () => {
    expect(thing.errors("red")).toEqual([
      { keyword: "type", instancePath: "", params: { type: "object" }, message: "must be object" },
    ]);
    expect(thing.errors({ name: 7, colour: "red" }).map((e) => [e.instancePath, e.message])).toEqual([
      ["/name", "must be string"],
    ]);
  });

  it("finds every problem, with TypeBox's keywords, parameters and wording", () => {
    const errors = thing.errors({ name: "a", size: 10, tags: ["x", 1], labels: { "a/b": 2 } });
    expect(errors.map(({ keyword, instancePath, params }) => ({ keyword, instancePath, params }))).toEqual([
      { keyword: "required", instancePath: "", params: { requiredProperties: ["colour"] } },
      { keyword: "minLength", instancePath: "/name", params: { limit: 2 } },
      { keyword: "maximum", instancePath: "/size", params: { comparison: "<=", limit: 9 } },
      { keyword: "maxItems", instancePath: "/tags", params: { limit: 1 } },
      { keyword: "type", instancePath: "/tags/1", params: { type: "string" } },
      { keyword: "type", instancePath: "/labels/a~1b", params: { type: "string" } },
    ]);
    expect(errors.map((e) => e.message)).toEqual([
      "must have required properties colour",
      "must not have fewer than 2 characters",
      "must be <= 9",
      "must not have more than 1 items",
      "must be string",
      "must be string",
    ]);
    expect(thing.check({ name: "abc", colour: "green", size: null, tags: [], labels: {} })).toBe(true);
  });

  it("counts a string's length in code points", () => {
    expect(thing.check({ name: "😀😀😀", colour: "red" })).toBe(true);
    expect(thing.check({ name: "😀😀😀😀", colour: "red" })).toBe(false);
    expect(thing.check({ name: "😀", colour: "red" })).toBe(false); // two UTF-16 units, one code point
    expect(thing.check({ name: "a😀", colour: "red" })).toBe(true);
    expect(thing.check({ name: "😀".repeat(1_000_000), colour: "red" })).toBe(false);
  });

  it("takes an optional property set to undefined as absent", () => {
    expect(thing.check({ name: "ab", colour: "red", size: undefined })).toBe(true);
  });

  it("reads date-time as a real instant, a leap second only at 23:59:60 UTC", () => {
    const at = schemaChecker({ type: "string", format: "date-time" });
    for (const ok of [
      "2024-02-29T00:00:00Z",
      "2016-12-31T23:59:60Z",
      "2017-01-01T01:59:60+02:00",
      "2024-06-21t11:55:48.896z",
    ])
      expect(at.check(ok), ok).toBe(true);
    for (const bad of [
      "2023-02-29T00:00:00Z",
      "2016-12-31T23:59:61Z",
      "2024-06-21T12:00:60Z",
      "2024-06-21T11:55:48",
      "2024-06-21T24:00:00Z",
      "x",
    ])
      expect(at.check(bad), bad).toBe(false);
  });

  it("refuses a schema it would not enforce whole", () => {
    expect(() => schemaChecker({ type: "string", format: "email" })).toThrow("format email is not supported");
    expect(() => schemaChecker({ type: "object", properties: { a: { const: 1 } } })).toThrow(
      "schema at /a: keyword const is not supported",
    );
    expect(() => schemaChecker({ type: "date" })).toThrow("type date");
  });
});

// The operator's schemas, checked against TypeBox's compiler, the reference for JSON Schema here: both must give
// the same verdict on values made from each schema, valid and broken.
describe("schemaChecker against TypeBox, on the operator's schemas", () => {
  const schemas: Record<string, TSchema> = {};
  for (const module of [shadow, policy, conversion]) {
    for (const [name, value] of Object.entries(module)) {
      if (name.endsWith("Schema") && typeof value === "object") schemas[name] = value as TSchema;
    }
  }

  it("covers the schemas the components validate", () => {
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        "BottlerocketShadowSchema",
        "BottlerocketShadowV1Schema",
        "BottlerocketShadowStatusSchema",
        "UpdatePolicySpecSchema",
        "ConversionReviewRequestSchema",
      ]),
    );
  });

  it.each(Object.keys(schemas))("%s: the same verdict on 2,000 values", (name) => {
    const schema = toValidationSchema(schemas[name] as TSchema);
    const ours = schemaChecker(schema);
    const reference = Compile(schema);
    const random = seededRandom(name.length * 7919); // seeded, so that a failure repeats
    let valid = 0;
    for (let i = 0; i < 2_000; i++) {
      const value = sample(schema, random, 0, i % 2 === 0);
      const expected = reference.Check(value);
      if (ours.check(value) !== expected) {
        throw new Error(`${name}: TypeBox says ${expected} for ${JSON.stringify(value)}`);
      }
      expect(ours.errors(value).length === 0).toBe(expected);
      if (expected) valid++;
    }
    // Both sides of the verdict are exercised.
    expect(valid).toBeGreaterThan(20);
    expect(valid).toBeLessThan(1_980);
  });
});

const STRINGS = [
  "",
  "a",
  "Idle",
  "True",
  "1.25.0",
  "1.25.0-rc.1+build.5",
  "v1.2.3",
  "01.2.3",
  "2024-06-21T11:55:48.896+00:00",
  "2024-06-21T11:55:48Z",
  "2024-02-30T00:00:00Z",
  "2016-12-31T23:59:60Z",
  "2024-06-21T11:55:48",
  "2024-06-21T11:55:48+24:00",
  "example.com/key",
  "kubernetes.io/hostname",
  "ABC",
  "é",
  "😀",
  "-bad-",
  "node-1",
  "In",
  "BRUPOP_X",
  "1h",
  "30m",
  "10%",
  "5",
  "10s",
  "1m30s",
  "http://db-operator.db:8080/brupop/pre-drain",
  "https://x",
];

// A value for `node`. A clean one fits where it can (enum values, strings that match the pattern and length, numbers
// within bounds); a dirty one sometimes does not (another type, an edge of a bound, a missing required property),
// so that errors deep in an object are reached as well as whole valid objects.
function sample(node: unknown, random: () => number, depth: number, clean: boolean): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const s = (typeof node === "object" && node !== null ? node : {}) as Record<string, unknown>;
  if ((!clean && random() < 0.03) || depth > 8) return pick([null, 1, -1, 1.5, "x", true, [], {}, 4294967296]);
  if (Array.isArray(s.enum) && (clean || random() < 0.9)) return pick(s.enum);
  if (Array.isArray(s.anyOf)) return sample(pick(s.anyOf), random, depth + 1, clean);
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === "string" ? [s.type] : [];
  const type = types.length === 0 ? pick(["string", "object", "integer"]) : pick(types);
  switch (type) {
    case "null":
      return null;
    case "boolean":
      return random() < 0.5;
    case "integer":
    case "number": {
      const bounds = [s.minimum, s.maximum].filter((b): b is number => typeof b === "number");
      const numbers = [0, 1, 2, 3, 7, 10, 100, 1000, -1, 1.5, 4294967295, ...bounds, ...bounds.map((b) => b + 1)];
      const fits = (n: number) =>
        (type === "number" || Number.isInteger(n)) &&
        !(typeof s.minimum === "number" && n < s.minimum) &&
        !(typeof s.maximum === "number" && n > s.maximum);
      return pick(clean && numbers.some(fits) ? numbers.filter(fits) : numbers);
    }
    case "string": {
      const limits = [s.minLength, s.maxLength].filter((b): b is number => typeof b === "number");
      const sized = limits.flatMap((n) => [
        "a".repeat(n),
        "a".repeat(n + 1),
        "😀".repeat(n),
        "a".repeat(Math.max(0, n - 1)),
      ]);
      const strings = [...STRINGS, ...sized];
      if (!clean) return pick(strings);
      if (s.format === "date-time") return pick(["2024-06-21T11:55:48.896+00:00", "2024-06-21T11:55:48Z"]);
      const pattern = typeof s.pattern === "string" ? new RegExp(s.pattern, "u") : undefined;
      const fits = strings.filter(
        (t) =>
          (pattern?.test(t) ?? true) &&
          !(typeof s.minLength === "number" && [...t].length < s.minLength) &&
          !(typeof s.maxLength === "number" && [...t].length > s.maxLength),
      );
      return pick(fits.length > 0 ? fits : strings);
    }
    case "array": {
      const n = pick([0, 1, 2, 3, typeof s.maxItems === "number" && !clean ? s.maxItems + 1 : 1]);
      return Array.from({ length: n }, () => sample(s.items, random, depth + 1, clean));
    }
    default: {
      const out: Record<string, unknown> = {};
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      for (const [name, child] of Object.entries(properties)) {
        const present = required.includes(name) ? clean || random() < 0.97 : random() < 0.5;
        if (present) out[name] = sample(child, random, depth + 1, clean);
      }
      if (s.additionalProperties !== undefined && typeof s.additionalProperties === "object") {
        for (let i = pick([0, 1, 2]); i > 0; i--) {
          out[pick(STRINGS)] = sample(s.additionalProperties, random, depth + 1, clean);
        }
      } else if (random() < 0.1) {
        out.unknownField = "x";
      }
      return out;
    }
  }
}

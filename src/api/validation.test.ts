import Type from "typebox";
import { describe, expect, it } from "vitest";
import { nullable, stringEnum } from "./k8s-schema.ts";
import { compileValidator, formatIssues, pointerToPath } from "./validation.ts";

describe("pointerToPath", () => {
  it.each([
    ["", "(root)"],
    ["/spec/state", "spec.state"],
    ["/status/conditions/0/type", "status.conditions[0].type"],
    ["/metadata/labels/a~1b", "metadata.labels.a/b"],
    ["/a~0b", "a~b"],
  ])("%j → %s", (pointer, path) => {
    expect(pointerToPath(pointer)).toBe(path);
  });
});

describe("compileValidator", () => {
  const Thing = Type.Object({
    name: Type.String({ pattern: "^[a-z]+$" }),
    colour: stringEnum(["red", "green"]),
    size: Type.Optional(nullable(Type.Integer({ minimum: 1 }))),
    tags: Type.Optional(Type.Array(Type.String())),
  });
  const thing = compileValidator(Thing, { patternNames: { "^[a-z]+$": "lower-case letters" } });

  it("returns the value, typed, when it matches", () => {
    const result = thing.validate({ name: "box", colour: "red", size: null });
    expect(result).toEqual({ ok: true, value: { name: "box", colour: "red", size: null } });
    expect(thing.check({ name: "box", colour: "green" })).toBe(true);
  });

  it("names each missing required property", () => {
    const result = thing.validate({});
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues).toEqual([
        { path: "name", message: "is required" },
        { path: "colour", message: "is required" },
      ]);
    }
  });

  it("lists the allowed values of an enum and shows what it got", () => {
    const result = thing.validate({ name: "box", colour: "blue" });
    expect(!result.ok && result.message).toBe('colour: must be one of red, green (got "blue")');
  });

  it("uses the readable name of a known pattern", () => {
    const result = thing.validate({ name: "Box!", colour: "red" });
    expect(!result.ok && result.message).toBe('name: must be lower-case letters (got "Box!")');
  });

  it("points into arrays with kubectl's notation", () => {
    const result = thing.validate({ name: "box", colour: "red", tags: ["a", 7] });
    expect(!result.ok && result.issues).toEqual([{ path: "tags[1]", message: "must be string (got 7)" }]);
  });

  it("explains a wrong root value instead of throwing", () => {
    for (const value of [null, "thing", 42, undefined]) {
      const result = thing.validate(value);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.message).toMatch(/^\(root\): must be object/);
    }
  });

  it("previews values of any depth without serialising them whole", () => {
    const deep: unknown[] = [];
    let inner = deep;
    for (let i = 0; i < 100_000; i++) {
      const next: unknown[] = [];
      inner.push(next);
      inner = next;
    }
    const result = thing.validate({ name: deep, colour: "red" });
    expect(!result.ok && result.message).toBe("name: must be string (got [[[...]]])");
  });

  it("uses the readable name of a known format", () => {
    const dated = compileValidator(Type.Object({ at: Type.String({ format: "date-time" }) }), {
      formatNames: { "date-time": "a timestamp" },
    });
    const result = dated.validate({ at: "2024-02-30T00:00:00Z" });
    expect(!result.ok && result.message).toBe('at: must be a timestamp (got "2024-02-30T00:00:00Z")');
  });

  it("shortens long values in messages", () => {
    const result = thing.validate({ name: "A".repeat(500), colour: "red" });
    expect(!result.ok && result.message).toContain("AAA...)");
    expect(!result.ok && result.message.length).toBeLessThan(300);
  });
});

describe("formatIssues", () => {
  it("joins issues into one line", () => {
    expect(
      formatIssues([
        { path: "a", message: "is required" },
        { path: "b[0]", message: "must be string" },
      ]),
    ).toBe("a: is required; b[0]: must be string");
  });
});

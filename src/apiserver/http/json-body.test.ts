import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.ts";
import { parseJsonBody } from "./json-body.ts";

const bounds = { maxDepth: 4, maxItems: 100 };
const parse = (text: string) => parseJsonBody(Buffer.from(text), bounds);

function refusal(text: string): { status: number; reason: string } | undefined {
  try {
    parse(text);
    return undefined;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { status: err.statusCode, reason: err.reason };
  }
}

describe("parseJsonBody", () => {
  it("parses JSON, skips a BOM, and takes whitespace alone for no body", () => {
    expect(parse('{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(parse('\uFEFF{"a":1}')).toEqual({ a: 1 });
    expect(parse(" \n\t")).toBeUndefined();
  });

  it("refuses bad JSON and own __proto__ keys (400), and bodies past the bounds before parsing", () => {
    expect(refusal("{nope")).toEqual({ status: 400, reason: "InvalidJson" });
    expect(refusal('{"a":{"__proto__":{"x":1}}}')).toEqual({ status: 400, reason: "InvalidJson" });
    expect(refusal('{"a":{"\\u005f_proto__":{"x":1}}}')).toEqual({ status: 400, reason: "InvalidJson" });
    expect(parse('{"constructor":{"prototype":{}}}')).toEqual({ constructor: { prototype: {} } });
    expect(refusal("[[[[[1]]]]]")).toEqual({ status: 400, reason: "Invalid" });
    expect(refusal(`[${Array(101).fill(0).join(",")}]`)).toEqual({ status: 413, reason: "BodyTooLarge" });
  });
});

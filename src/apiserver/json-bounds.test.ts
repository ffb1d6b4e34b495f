import { describe, expect, it } from "vitest";
import { checkJsonBounds as checkText, scanJson } from "./json-bounds.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const checkJsonBounds = (text: string, bounds: { maxDepth: number; maxItems: number }) =>
  checkText(bytes(text), bounds);

const bounds = { maxDepth: 4, maxItems: 10 };

describe("checkJsonBounds", () => {
  it.each([
    ["a scalar", "42"],
    ["a flat object", '{"a":1,"b":"x"}'],
    ["exactly the depth", '{"a":[{"b":[1]}]}'],
    ["brackets inside strings", '{"a":"[[[[[[{{{{{"}'],
    ["escaped quotes and backslashes", '{"a\\"[[[[[":"\\\\","b":"\\"{{{{{{"}'],
    ["an empty body", ""],
  ])("accepts %s", (_, text) => {
    expect(checkJsonBounds(text, bounds)).toBeUndefined();
  });

  it.each([
    ["nested arrays", "[[[[[1]]]]]", "[0][0][0][0]"],
    ["nested objects", '{"a":{"b":{"c":{"d":{}}}}}', "a.b.c.d"],
    ["a deep value among others", '{"ok":1,"list":[1,2,[3,[4,[5]]]]}', "list[2][1][1]"],
    ["a deep second member", '{"a":{},"b":{"c":{"d":[[]]}}}', "b.c.d[0]"],
  ])("refuses %s, naming where", (_, text, path) => {
    expect(checkJsonBounds(text, bounds)).toEqual({ kind: "depth", path });
  });

  it("shows the first levels of a very deep path", () => {
    const text = `{"crash_count":${"[".repeat(30_000)}0${"]".repeat(30_000)}}`;
    expect(checkJsonBounds(text, { maxDepth: 32, maxItems: 1_000 })).toEqual({
      kind: "depth",
      path: "crash_count[0][0][0][0][0][0][0]...",
    });
  });

  it("refuses more items than allowed", () => {
    expect(checkJsonBounds(`[${Array(11).fill("{}").join(",")}]`, bounds)).toEqual({ kind: "items" });
    expect(checkJsonBounds(`[${Array(5).fill("0").join(",")}]`, bounds)).toBeUndefined();
  });

  it("leaves syntax errors to JSON.parse", () => {
    expect(checkJsonBounds('{"a":"never ends', bounds)).toBeUndefined();
    expect(checkJsonBounds("]]]", bounds)).toBeUndefined();
  });
});

describe("scanJson: the elements of one list", () => {
  const bounds = { maxDepth: 8, maxItems: 100 };
  const elements = (text: string, path: string[]) => {
    const list = scanJson(bytes(text), bounds, { path, maxElements: 10 }).list;
    if (list === undefined) return undefined;
    return Array.from({ length: list.elements.count }, (_, i) =>
      text.slice(list.elements.start(i), list.elements.end(i)),
    );
  };

  it("finds each element of the list at the path, and only that list", () => {
    const text = '{"kind":"R","request":{"uid":"u","objects":[ {"a":[1,2]}, "x,y]" ,[3] ],"other":[9]},"objects":[7]}';
    expect(elements(text, ["request", "objects"])).toEqual([' {"a":[1,2]}', ' "x,y]" ', "[3] "]);
    const list = scanJson(bytes(text), bounds, { path: ["request", "objects"], maxElements: 10 }).list;
    expect(text[list?.open ?? -1]).toBe("[");
    expect(text.slice(0, (list?.open ?? 0) + 1) + text.slice(list?.close)).toBe(
      '{"kind":"R","request":{"uid":"u","objects":[],"other":[9]},"objects":[7]}',
    );
  });

  it("reports an empty list with no elements, a missing one not at all", () => {
    expect(elements('{"request":{"objects":[ ]}}', ["request", "objects"])).toEqual([]);
    expect(elements('{"request":{"objects":{}}}', ["request", "objects"])).toBeUndefined();
    expect(elements('{"request":{"object":[1]}}', ["request", "objects"])).toBeUndefined();
  });

  it("keeps the last of duplicate keys, as JSON.parse does", () => {
    expect(elements('{"request":{"objects":[1],"objects":[2,3]}}', ["request", "objects"])).toEqual(["2", "3"]);
  });

  it("refuses more elements than allowed, naming the list", () => {
    const find = { path: ["request", "objects"], maxElements: 3 };
    expect(scanJson(bytes('{"request":{"objects":[1,2,3]}}'), bounds, find).violation).toBeUndefined();
    expect(scanJson(bytes('{"request":{"objects":[1,2,3,4]}}'), bounds, find).violation).toEqual({
      kind: "elements",
      path: "request.objects",
      max: 3,
    });
  });

  it("keeps empty elements for JSON.parse to refuse", () => {
    expect(elements('{"request":{"objects":[1,,2]}}', ["request", "objects"])).toEqual(["1", "", "2"]);
  });

  it("reads multi-byte characters as the bytes they are", () => {
    const text = '{"request":{"objects":["é[",{"ü":"]"}]}}';
    const list = scanJson(bytes(text), bounds, { path: ["request", "objects"], maxElements: 10 }).list;
    const elements = list?.elements;
    const decoded = Array.from({ length: elements?.count ?? 0 }, (_, i) =>
      new TextDecoder().decode(bytes(text).subarray(elements?.start(i), elements?.end(i))),
    );
    expect(decoded).toEqual(['"é["', '{"ü":"]"}']);
  });
});

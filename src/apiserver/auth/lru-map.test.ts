import { describe, expect, it } from "vitest";
import { LruMap } from "./lru-map.ts";

describe("LruMap", () => {
  it("forgets the least recently used entry beyond its bound, a read counting as a use", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    expect(map.get("a")).toBe(1);
    map.set("c", 3);
    expect([map.get("a"), map.get("b"), map.get("c")]).toEqual([1, undefined, 3]);
    expect(map.size).toBe(2);
  });

  it("counts a write to a held key as a use, not a new entry", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    map.set("a", 10);
    map.set("c", 3);
    expect([map.get("a"), map.get("b"), map.get("c")]).toEqual([10, undefined, 3]);
  });

  it("deletes", () => {
    const map = new LruMap<string, number>(2);
    map.set("a", 1);
    expect(map.delete("a")).toBe(true);
    expect(map.delete("a")).toBe(false);
    expect([map.get("a"), map.size]).toEqual([undefined, 0]);
  });

  it("keeps an entry whose value is undefined", () => {
    const map = new LruMap<string, undefined>(1);
    map.set("a", undefined);
    expect(map.size).toBe(1);
  });

  it("refuses a bound below one", () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
    expect(() => new LruMap(1.5)).toThrow(RangeError);
  });
});

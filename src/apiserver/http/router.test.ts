import { describe, expect, it } from "vitest";
import { mediaTypeOf } from "./media-type.ts";
import { Router, routePath } from "./router.ts";

describe("routePath", () => {
  it("drops the origin, query and fragment and decodes escapes; malformed escapes are no path", () => {
    expect(routePath("/ping?x=1")).toBe("/ping");
    expect(routePath("/ping#top")).toBe("/ping");
    expect(routePath("http://host:8443/ping?x")).toBe("/ping");
    expect(routePath("/%70ing")).toBe("/ping");
    expect(routePath("/ping;x")).toBe("/ping;x");
    expect(routePath("*")).toBe("*");
    expect(routePath("/%zz")).toBeUndefined();
  });
});

describe("Router", () => {
  it("matches method and exact path; HEAD finds the GET route", () => {
    const router = new Router<string>();
    router.add("GET", "/a", "get a");
    router.add("POST", "/a", "post a");
    expect(router.find("GET", "/a")).toBe("get a");
    expect(router.find("HEAD", "/a")).toBe("get a");
    expect(router.find("POST", "/a")).toBe("post a");
    expect(router.find("PUT", "/a")).toBeUndefined();
    expect(router.find("GET", "/a/")).toBeUndefined();
    expect(router.find("GET", "/A")).toBeUndefined();
    expect(() => router.add("GET", "/a", "again")).toThrow(/twice/);
  });
});

describe("mediaTypeOf", () => {
  it("lowercases type/subtype and ignores parameters; anything else is not a media type", () => {
    expect(mediaTypeOf(undefined)).toBeUndefined();
    expect(mediaTypeOf("Application/JSON; charset=utf-8")).toBe("application/json");
    expect(mediaTypeOf("application/json ")).toBe("application/json");
    expect(mediaTypeOf("application/json-patch+json")).toBe("application/json-patch+json");
    for (const invalid of ["", "json", ";;", "a/b c", "/json"]) expect(mediaTypeOf(invalid), invalid).toBeNull();
  });
});

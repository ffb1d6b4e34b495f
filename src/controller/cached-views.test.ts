import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { nodeViewOf, shadowViewOf } from "./cached-views.ts";

const node = (ready: "True" | "False"): V1Node => ({
  metadata: { name: "n1", creationTimestamp: "2024-06-03T10:00:00Z" as unknown as Date },
  status: { conditions: [{ type: "Ready", status: ready }] },
});

describe("views of cached objects", () => {
  it("one view per object; the object the informer puts in its place gets its own", () => {
    const before = node("True");
    expect(nodeViewOf(before)).toBe(nodeViewOf(before));
    expect(nodeViewOf(before)?.ready).toBe(true);
    const replaced = node("False");
    expect(nodeViewOf(replaced)?.ready).toBe(false);
    expect(nodeViewOf(replaced)?.createdAt).toEqual(new Date("2024-06-03T10:00:00Z"));
  });

  it("an object that cannot be viewed stays unviewable", () => {
    const nameless = { metadata: {}, spec: { state: "Idle" } } as unknown as BottlerocketShadow;
    expect(shadowViewOf(nameless)).toBeUndefined();
    expect(shadowViewOf(nameless)).toBeUndefined();
    const shadow = { metadata: { name: "brs-n1" }, spec: { state: "Idle" } } as unknown as BottlerocketShadow;
    expect(shadowViewOf(shadow)).toBe(shadowViewOf(shadow));
    expect(shadowViewOf(shadow)?.nodeName).toBe("n1");
  });
});

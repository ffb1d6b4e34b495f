import type { KubernetesObject, V1CustomResourceDefinition, V1ObjectMeta } from "@kubernetes/client-node";
import { describe, expectTypeOf, it } from "vitest";
import type { CustomResourceDefinition, ObjectMeta } from "./k8s-types.ts";

// Compile-time checks (tsc fails on a mismatch): our wire-form types fit where client-node's types are read.
describe("wire-form types", () => {
  it("are assignable to client-node's", () => {
    expectTypeOf<CustomResourceDefinition>().toExtend<V1CustomResourceDefinition>();
    expectTypeOf<ObjectMeta>().toExtend<V1ObjectMeta>();
    expectTypeOf<{ apiVersion: string; kind: string; metadata: ObjectMeta }>().toExtend<KubernetesObject>();
  });

  it("keep the wire's key names, which client-node's classes spell differently", () => {
    expectTypeOf<CustomResourceDefinition["spec"]["versions"][number]["schema"]["openAPIV3Schema"]>().toHaveProperty(
      "enum",
    );
  });
});

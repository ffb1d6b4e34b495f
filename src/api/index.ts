// The BottlerocketShadow API: schema, types, validation, CRD, conversion, names and the pure state-machine parts.
export * from "./bottlerocket-shadow.ts";
export * from "./constants.ts";
export * from "./conversion.ts";
export * from "./crd.ts";
export * from "./k8s-schema.ts";
export type * from "./k8s-types.ts";
export * from "./state-machine.ts";
export * from "./timestamps.ts";
export * from "./validation.ts";
export * from "./semver.ts";
export * from "./update-policy.ts";
export * from "./update-policy-names.ts";

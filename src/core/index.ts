// The controller's decisions, as pure functions of (observed state, policy, now). See README.md in this folder.
export * from "./brupop-cron.ts";
export * from "./budget.ts";
export * from "./duration.ts";
export * from "./failures.ts";
export * from "./metrics.ts";
export * from "./model.ts";
export * from "./next-spec.ts";
export * from "./order.ts";
export * from "./policy.ts";
export * from "./select.ts";
export * from "./windows.ts";

// A controller configuration for one integration test file.
import type { ControllerConfig } from "../../src/controller/config.ts";
import type { TestCluster } from "./cluster.ts";

/**
 * A controller configuration for one test file: its namespace as the operator namespace, its nodes only (the
 * file's group label as extra node selector), metrics on a free local port, a short lease so hand-overs are quick.
 */
export function testControllerConfig(
  t: TestCluster,
  identity: string,
  env: Record<string, string>,
  overrides: Partial<ControllerConfig> = {},
): ControllerConfig {
  return {
    namespace: t.namespace,
    controllerNodeName: null,
    identity,
    extraNodeSelector: Object.entries(t.nodeSelector)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    metrics: { host: "127.0.0.1", port: 0 },
    lease: {
      name: "brupop-controller-leader",
      durationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 500,
      renewPeriodMs: 500,
    },
    resyncPeriodMs: 30_000,
    workers: 4,
    policyEnv: env,
    ...overrides,
  };
}

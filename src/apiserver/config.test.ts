import { describe, expect, it } from "vitest";
import { parseApiServerConfig, type ApiServerConfig } from "./config.ts";

const minimal = { APISERVER_INTERNAL_PORT: "8443", KUBERNETES_SERVICE_HOST: "10.96.0.1" };

function config(env: Record<string, string>, namespace?: string): ApiServerConfig {
  const result = parseApiServerConfig(env, namespace);
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

function errors(env: Record<string, string>): string[] {
  const result = parseApiServerConfig(env);
  return result.ok ? [] : result.errors;
}

describe("parseApiServerConfig", () => {
  it("needs only brupop's variables, with brupop's defaults", () => {
    const c = config(minimal, "brupop-bottlerocket-aws\n");
    expect(c).toMatchObject({
      host: "0.0.0.0",
      port: 8443,
      metricsPort: 9090,
      namespace: "brupop-bottlerocket-aws",
      agentServiceAccount: "brupop-agent-service-account",
      tls: {
        mode: "files",
        certPath: "/etc/brupop-tls-keys/tls.crt",
        keyPath: "/etc/brupop-tls-keys/tls.key",
        caPath: "/etc/brupop-tls-keys/ca.crt",
        reloadIntervalMs: 60_000,
      },
      drain: { timeoutMs: 600_000, concurrency: 5, gracePeriodSeconds: undefined, podSelector: [] },
      syncDrainTimeoutMs: 630_000,
      rateLimit: { perMinute: 60, burst: 30 },
      logging: { level: "info", formatter: "json", ansi: false },
      terminationLogPath: "/dev/termination-log",
    });
  });

  it("listens on [::] in an IPv6 cluster, as brupop", () => {
    expect(config({ ...minimal, KUBERNETES_SERVICE_HOST: "fd00::1" }).host).toBe("::");
  });

  it("takes POD_NAMESPACE over the service-account file", () => {
    expect(config({ ...minimal, POD_NAMESPACE: "ops" }, "other").namespace).toBe("ops");
  });

  it("reads the drain options", () => {
    const c = config({
      ...minimal,
      DRAIN_TIMEOUT: "15m",
      DRAIN_CONCURRENCY: "2",
      DRAIN_GRACE_PERIOD_SECONDS: "30",
      DRAIN_POD_SELECTOR: "app!=db,!keep",
      DRAIN_SKIP_WAIT_FOR_DELETE_TIMEOUT: "2m",
    });
    expect(c.drain).toEqual({
      timeoutMs: 900_000,
      concurrency: 2,
      gracePeriodSeconds: 30,
      podSelector: [
        { key: "app", operator: "NotIn", values: ["db"] },
        { key: "keep", operator: "DoesNotExist", values: [] },
      ],
      skipWaitForDeleteTimeoutSeconds: 120,
    });
    expect(c.syncDrainTimeoutMs).toBe(930_000);
  });

  it("reads the built-in TLS mode", () => {
    const c = config({ ...minimal, APISERVER_TLS_MODE: "builtin", CLUSTER_DOMAIN: "corp.example" });
    expect(c.tls).toMatchObject({
      mode: "builtin",
      servingSecret: "brupop-apiserver-certificate",
      publishSecret: "brupop-apiserver-client-certificate",
      clusterDomain: "corp.example",
      crdNames: ["bottlerocketshadows.brupop.bottlerocket.aws"],
      checkIntervalMs: 300_000,
      caPropagationDelayMs: 600_000,
    });
    const tuned = config({
      ...minimal,
      APISERVER_TLS_MODE: "builtin",
      APISERVER_TLS_CHECK_INTERVAL: "1m",
      APISERVER_CA_PROPAGATION_DELAY: "30m",
    });
    expect(tuned.tls).toMatchObject({ checkIntervalMs: 60_000, caPropagationDelayMs: 1_800_000 });
  });

  it("turns the rate limit off with 0, and honours brupop's logging variables", () => {
    const c = config({
      ...minimal,
      AGENT_RATE_LIMIT_PER_MINUTE: "0",
      TRACING_FILTER_DIRECTIVE: "warn,apiserver=DEBUG",
      LOGGING_FORMATTER: "pretty",
      LOGGING_ANSI_ENABLED: "True",
    });
    expect(c.rateLimit).toBeUndefined();
    expect(c.logging).toEqual({ level: "debug", formatter: "pretty", ansi: true });
  });

  it("reports every problem at once, naming the variable", () => {
    expect(
      errors({
        APISERVER_INTERNAL_PORT: "http",
        DRAIN_TIMEOUT: "ten minutes",
        DRAIN_POD_SELECTOR: "app=",
        DRAIN_CONCURRENCY: "0",
        APISERVER_TLS_MODE: "cert-manager",
        LOG_LEVEL: "loud",
      }),
    ).toEqual([
      'APISERVER_INTERNAL_PORT="http" must be a whole number from 1 to 65535',
      'APISERVER_TLS_MODE="cert-manager" must be one of files, builtin',
      'DRAIN_TIMEOUT: "ten minutes" is not a duration; write it like 90s, 12m, 1h30m or 1d',
      'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent (got "loud")',
      'DRAIN_CONCURRENCY="0" must be a whole number from 1 to 100',
    ]);
  });

  it.each<[Record<string, string>, RegExp]>([
    [{}, /APISERVER_INTERNAL_PORT is required/],
    [{ APISERVER_INTERNAL_PORT: "70000" }, /from 1 to 65535/],
    [{ ...minimal, APISERVER_METRICS_PORT: "8443" }, /must differ/],
    [{ ...minimal, DRAIN_TIMEOUT: "0s" }, /longer than 0s/],
    [{ ...minimal, DRAIN_POD_SELECTOR: "a in ()" }, /DRAIN_POD_SELECTOR: .*empty/],
    [{ ...minimal, POD_NAMESPACE: "Not_A_Namespace" }, /not a valid namespace/],
    [{ ...minimal, APISERVER_TLS_MODE: "builtin", APISERVER_TLS_SECRET: "UPPER" }, /APISERVER_TLS_SECRET.*DNS label/],
    [{ ...minimal, APISERVER_TLS_MODE: "builtin", APISERVER_TLS_CHECK_INTERVAL: "0s" }, /CHECK_INTERVAL.*longer/],
    [{ ...minimal, APISERVER_TLS_MODE: "builtin", APISERVER_CA_PROPAGATION_DELAY: "soon" }, /PROPAGATION_DELAY/],
  ])("refuses %j", (env, message) => {
    expect(errors(env).join("\n")).toMatch(message);
  });
});

import { describe, expect, it } from "vitest";
import { ConfigError, parseControllerConfig } from "./config.ts";

const base = { MY_NODE_NAME: "ip-10-0-0-1.ec2.internal", POD_NAME: "brupop-controller-abc" };

function problems(env: Record<string, string>): readonly string[] {
  try {
    parseControllerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("parseControllerConfig", () => {
  it("has brupop's defaults: operator namespace, metrics on :8080 (IPv4 unless the cluster is IPv6)", () => {
    const config = parseControllerConfig(base);
    expect(config.namespace).toBe("brupop-bottlerocket-aws");
    expect(config.controllerNodeName).toBe("ip-10-0-0-1.ec2.internal");
    expect(config.identity).toBe("brupop-controller-abc");
    expect(config.metrics).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(config.lease).toEqual({
      name: "brupop-controller-leader",
      durationMs: 40_000,
      renewDeadlineMs: 35_000,
      retryPeriodMs: 2_000,
      renewPeriodMs: 25_000,
    });
    expect(config.extraNodeSelector).toBeNull();
    expect(parseControllerConfig({ ...base, KUBERNETES_SERVICE_HOST: "fd00::1" }).metrics.host).toBe("::");
  });

  it("takes the namespace from BRUPOP_NAMESPACE, else the service account's", () => {
    expect(parseControllerConfig(base, { serviceAccountNamespace: "ops" }).namespace).toBe("ops");
    expect(
      parseControllerConfig({ ...base, BRUPOP_NAMESPACE: "x" }, { serviceAccountNamespace: "ops" }).namespace,
    ).toBe("x");
  });

  it("falls back to the host name for the identity", () => {
    expect(parseControllerConfig({ MY_NODE_NAME: "n" }, { hostname: "pod-7" }).identity).toBe("pod-7");
  });

  it("reports every problem at once, naming the variable", () => {
    const found = problems({
      BRUPOP_NAMESPACE: "Bad_NS",
      METRICS_PORT: "99999",
      RECONCILE_WORKERS: "many",
      LEADER_ELECTION_LEASE_DURATION: "5s",
      LEADER_ELECTION_RENEW_DEADLINE: "10s",
      RESYNC_PERIOD: "soon",
      MANAGED_NODE_SELECTOR: "pool=blue,bad selector",
    });
    expect(found).toEqual([
      'BRUPOP_NAMESPACE: "Bad_NS" is not a namespace name',
      "MY_NODE_NAME is required (the controller's own node; set it from spec.nodeName)",
      "POD_NAME is required (this replica's name in the Lease)",
      'MANAGED_NODE_SELECTOR: "bad selector" is not a label selector term such as pool=blue',
      'METRICS_PORT: "99999" is not a whole number from 1 to 65535',
      'RECONCILE_WORKERS: "many" is not a whole number from 1 to 64',
      expect.stringMatching(/^RESYNC_PERIOD: "soon" is not a duration/),
      "LEADER_ELECTION_RENEW_DEADLINE must be shorter than LEADER_ELECTION_LEASE_DURATION",
    ]);
  });

  it("accepts an extra node selector and durations", () => {
    const config = parseControllerConfig({
      ...base,
      MANAGED_NODE_SELECTOR: "pool=blue, !canary",
      RESYNC_PERIOD: "1m",
      LEADER_ELECTION_RETRY_PERIOD: "1s",
    });
    expect(config.extraNodeSelector).toBe("pool=blue, !canary");
    expect(config.resyncPeriodMs).toBe(60_000);
    expect(config.lease.retryPeriodMs).toBe(1000);
  });

  it("renews when 10 s of the renew deadline are left, never more often than it retries", () => {
    const short = { LEADER_ELECTION_LEASE_DURATION: "3s", LEADER_ELECTION_RENEW_DEADLINE: "2s" };
    expect(parseControllerConfig({ ...base, ...short, LEADER_ELECTION_RETRY_PERIOD: "1s" }).lease.renewPeriodMs).toBe(
      1000,
    );
    expect(parseControllerConfig({ ...base, LEADER_ELECTION_RENEW_PERIOD: "5s" }).lease.renewPeriodMs).toBe(5000);
    expect(problems({ ...base, LEADER_ELECTION_RENEW_PERIOD: "40s" })).toEqual([
      "LEADER_ELECTION_RENEW_PERIOD must be shorter than LEADER_ELECTION_RENEW_DEADLINE",
    ]);
  });
});

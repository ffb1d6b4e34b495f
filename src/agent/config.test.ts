import { describe, expect, test } from "vitest";
import { AgentConfigError, parseAgentConfig, type Env } from "./config.ts";

const base: Env = {
  MY_NODE_NAME: "ip-10-0-0-1.ec2.internal",
  APISERVER_SERVICE_PORT: "443",
  KUBERNETES_SERVICE_HOST: "10.96.0.1",
  KUBERNETES_SERVICE_PORT: "443",
};

function problems(env: Env): readonly string[] {
  try {
    parseAgentConfig(env);
  } catch (error) {
    if (error instanceof AgentConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("parseAgentConfig", () => {
  test("brupop's environment: in-cluster Kubernetes access, the API server by Service name, brupop's paths", () => {
    const config = parseAgentConfig(base, (path) =>
      path.endsWith("/namespace") ? "brupop-bottlerocket-aws\n" : undefined,
    );
    expect(config).toMatchObject({
      nodeName: "ip-10-0-0-1.ec2.internal",
      namespace: "brupop-bottlerocket-aws",
      kube: {
        url: "https://10.96.0.1:443",
        tokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
        caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
      },
      // No cluster domain: the pod's DNS search path resolves <svc>.<ns>.svc in any cluster (brupop issue #436).
      apiServer: {
        url: "https://brupop-apiserver.brupop-bottlerocket-aws.svc:443",
        tokenFile: "/var/run/secrets/tokens/bottlerocket-agent-service-account-token",
        caFile: "/etc/brupop-tls-keys/ca.crt",
      },
      hostSocketPath: "/run/api.sock",
      bootIdPath: "/proc/sys/kernel/random/boot_id",
      excludeFromLbWaitMs: 0,
    });
  });

  test("KUBERNETES_SERVICE_CLUSTER_DOMAIN (brupop's later fix) and an IPv6 Kubernetes service host", () => {
    const config = parseAgentConfig({
      ...base,
      KUBERNETES_SERVICE_CLUSTER_DOMAIN: "corp.example",
      KUBERNETES_SERVICE_HOST: "fd00::1",
      POD_NAMESPACE: "ops",
    });
    expect(config.apiServer.url).toBe("https://brupop-apiserver.ops.svc.corp.example:443");
    expect(config.kube.url).toBe("https://[fd00::1]:443");
  });

  test("explicit URLs and files for tests; plain http needs no CA; empty HOST_BOOT_ID_PATH turns boot IDs off", () => {
    const config = parseAgentConfig({
      MY_NODE_NAME: "n1",
      APISERVER_URL: "http://127.0.0.1:8443/",
      KUBE_API_URL: "https://127.0.0.1:6443",
      KUBE_CA_FILE: "/tmp/ca.crt",
      HOST_BOOT_ID_PATH: "",
      AGENT_SYNC_INTERVAL_SECONDS: "0.5",
    });
    expect(config.apiServer).toMatchObject({ url: "http://127.0.0.1:8443", caFile: null });
    expect(config.kube.caFile).toBe("/tmp/ca.crt");
    expect(config.bootIdPath).toBeNull();
    expect(config.timing.syncIntervalMs).toBe(500);
  });

  test("EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC: an integer > 0 enables it; anything else is off, as in brupop", () => {
    expect(parseAgentConfig({ ...base, EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC: "30" }).excludeFromLbWaitMs).toBe(30_000);
    for (const value of ["0", "-5", "abc", "1.5", ""]) {
      expect(parseAgentConfig({ ...base, EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC: value }).excludeFromLbWaitMs).toBe(0);
    }
  });

  test("AGENT_HEALTH_PORT: unset serves no probes, a port serves them, anything else is an error", () => {
    expect(parseAgentConfig(base).healthPort).toBeNull();
    expect(parseAgentConfig({ ...base, AGENT_HEALTH_PORT: "8081" }).healthPort).toBe(8081);
    expect(problems({ ...base, AGENT_HEALTH_PORT: "http" })).toEqual([
      "AGENT_HEALTH_PORT must be a port number (1-65535), got http",
    ]);
  });

  test("every problem at once, each naming its variable", () => {
    expect(
      problems({ APISERVER_SERVICE_PORT: "https", KUBERNETES_SERVICE_PORT: "0", REBOOT_TIMEOUT_SECONDS: "soon" }),
    ).toEqual([
      "MY_NODE_NAME is required (the downward API's spec.nodeName)",
      "APISERVER_SERVICE_PORT must be a port number (1-65535), got https",
      "KUBERNETES_SERVICE_HOST is required (or set KUBE_API_URL)",
      "KUBERNETES_SERVICE_PORT must be a port number (1-65535), got 0",
      "REBOOT_TIMEOUT_SECONDS must be a positive number of seconds, got soon",
    ]);
    expect(problems({ ...base, APISERVER_URL: "https://x/path", MY_NODE_NAME: "Bad_Name" })).toEqual([
      'MY_NODE_NAME "Bad_Name" is not a valid node name',
      "APISERVER_URL must not have a path, got /path",
    ]);
  });
});

// brupop's logging variables, honoured by each component's process as its pod starts it: LOGGING_FORMATTER picks the
// format, TRACING_FILTER_DIRECTIVE (brupop's) and LOG_LEVEL (ours) the level, for the agent, the API server and the
// controller alike; a formatter brupop would refuse stops start-up, naming the variable. No cluster: the agent and the
// API server start without one, the controller stops at its configuration, which is enough to see how each logs.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCertificateAuthority } from "../../src/pki/certificates.ts";
import { freePort } from "../../sim/control-plane/ports.ts";
import { eventually } from "../support/cluster.ts";

const root = join(import.meta.dirname, "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "brupop-logging-"));
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

type Component = "agent" | "apiserver" | "controller";

function start(component: Component, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(root, "src", component, "main.ts")], {
    env: { PATH: process.env.PATH ?? "", HOME: tmp, TERMINATION_LOG: join(tmp, `termination-${component}`), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Runs until `until` holds (or the process ends), then stops it; its whole output. */
async function outputOf(component: Component, env: Record<string, string>, until: () => Promise<boolean>) {
  const p = start(component, env);
  await eventually(`${component} up`, async () => ((await until()) ? true : undefined), 30_000);
  p.child.kill("SIGTERM");
  await p.exited;
  return p.output();
}

/** Whether http://127.0.0.1:<port><path> answers 200 (the process is up). */
const answers = (port: number, path: string) => () =>
  new Promise<boolean>((resolve) => {
    httpGet({ host: "127.0.0.1", port, path }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on("error", () => resolve(false));
  });
const httpUp = (port: number) => answers(port, "/livez");

async function agentEnv(): Promise<Record<string, string>> {
  const healthPort = await freePort();
  return {
    MY_NODE_NAME: "logging-test-node",
    APISERVER_SERVICE_PORT: String(await freePort()),
    KUBE_API_URL: `https://127.0.0.1:${await freePort()}`,
    AGENT_HEALTH_PORT: String(healthPort),
  };
}

async function apiserverEnv(): Promise<{ env: Record<string, string>; metricsPort: number }> {
  const ca = await createCertificateAuthority("logging-test-ca");
  const leaf = await ca.issue({ commonName: "brupop-apiserver", ipAddresses: ["127.0.0.1"], usages: ["server"] });
  const dir = mkdtempSync(join(tmp, "tls-"));
  writeFileSync(join(dir, "tls.crt"), leaf.certPem);
  writeFileSync(join(dir, "tls.key"), leaf.keyPem);
  writeFileSync(join(dir, "ca.crt"), ca.certPem);
  const metricsPort = await freePort();
  return {
    metricsPort,
    env: {
      APISERVER_INTERNAL_PORT: String(await freePort()),
      APISERVER_METRICS_PORT: String(metricsPort),
      APISERVER_BIND_ADDRESS: "127.0.0.1",
      APISERVER_TLS_MODE: "files",
      APISERVER_TLS_DIR: dir,
      POD_NAMESPACE: "brupop-logging-test",
    },
  };
}

const metricsUp = (port: number) => answers(port, "/metrics");

const TIME = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

describe("the agent", () => {
  it("writes brupop's `full` format, and nothing below the level brupop's directive gives it", async () => {
    const env = await agentEnv();
    const full = await outputOf(
      "agent",
      { ...env, LOGGING_FORMATTER: "full", TRACING_FILTER_DIRECTIVE: "info" },
      httpUp(Number(env.AGENT_HEALTH_PORT)),
    );
    expect(full).toMatch(new RegExp(`^${TIME}  INFO agent: agent started`, "m"));
    const quiet = await outputOf(
      "agent",
      { ...env, TRACING_FILTER_DIRECTIVE: "info,agent=warn" },
      httpUp(Number(env.AGENT_HEALTH_PORT)),
    );
    expect(quiet).not.toMatch(/agent started/);
  });
});

describe("the API server", () => {
  it("writes brupop's `compact` format, and its level is settable", async () => {
    const { env, metricsPort } = await apiserverEnv();
    const compact = await outputOf("apiserver", { ...env, LOGGING_FORMATTER: "compact" }, metricsUp(metricsPort));
    expect(compact).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO API server listening/m);
    const quiet = await outputOf("apiserver", { ...env, LOG_LEVEL: "warn" }, metricsUp(metricsPort));
    expect(quiet).not.toMatch(/API server listening/);
  });
});

describe("the controller", () => {
  it("writes brupop's `pretty` format, with colours when asked", async () => {
    const p = start("controller", { LOGGING_FORMATTER: "pretty", LOGGING_ANSI_ENABLED: "true" });
    expect(await p.exited).toBe(1);
    expect(p.output()).toMatch(new RegExp(`^\\u001b\\[2m${TIME}\\u001b\\[0m \\u001b\\[1;31mFATAL\\u001b\\[0m`, "m"));
    expect(p.output()).toMatch(/invalid controller configuration/);
  });

  it("has a settable level: brupop's directive, or LOG_LEVEL", async () => {
    const settings: Record<string, string>[] = [{ TRACING_FILTER_DIRECTIVE: "off" }, { LOG_LEVEL: "silent" }];
    for (const env of settings) {
      const p = start("controller", env);
      expect(await p.exited).toBe(1);
      expect(p.output(), JSON.stringify(env)).toBe("");
    }
  });
});

describe("each component", () => {
  it.each<Component>(["agent", "apiserver", "controller"])(
    "%s refuses a formatter brupop would refuse, naming the variable",
    async (component) => {
      const p = start(component, { LOGGING_FORMATTER: "colourful" });
      expect(await p.exited).toBe(1);
      // In a JSON line (the default format) the quotes are escaped.
      expect(p.output()).toMatch(
        /LOGGING_FORMATTER must be one of json, full, compact, pretty \(got \\?"colourful\\?"\)/,
      );
    },
  );
});

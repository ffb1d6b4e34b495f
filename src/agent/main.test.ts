// The agent as a process: `node src/agent/main.ts` configured by environment only, against the simulated host and
// the stub cluster. Checks the wiring of main.ts, a clean exit on SIGTERM, and a clear fatal error on bad config.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { startTestHost, type TestHost } from "../../sim/host/testing.ts";
import { startStubCluster, type StubCluster } from "../../sim/stand-ins/agent-kube-stub.ts";

const MAIN = join(import.meta.dirname, "main.ts");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function agentEnv(stub: StubCluster, host: TestHost): Record<string, string> {
  return { ...stub.agentProcessEnv(host), AGENT_SYNC_INTERVAL_SECONDS: "0.05" };
}

function run(env: Record<string, string>): {
  child: ChildProcessByStdio<null, Readable, Readable>;
  exit: Promise<number | null>;
  output: () => string;
} {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exit;
  });
  return { child, exit, output: () => output };
}

async function setup(): Promise<{ stub: StubCluster; host: TestHost }> {
  const host = await startTestHost({ offer: [] });
  cleanups.push(() => host.close());
  const stub = await startStubCluster({ controller: false });
  cleanups.push(() => stub.stop());
  return { stub, host };
}

test("reports its node's status over HTTPS, then exits 0 promptly on SIGTERM", async () => {
  const { stub, host } = await setup();
  const agent = run(agentEnv(stub, host));
  await stub.until(() => stub.shadow?.status?.current_state === "Idle", 15_000, "status reported");
  expect(stub.shadow?.status).toMatchObject({ current_version: "1.25.0", target_version: "1.25.0" });
  agent.child.kill("SIGTERM");
  // 0 only if the agent stopped by itself: past its stop grace it exits 1 "did not stop within". How long it takes
  // is measured by the agent benchmark (bench/agent.ts).
  expect(await agent.exit).toBe(0);
  const lines = agent
    .output()
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { msg: string; node?: string });
  expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["agent started", "stopping", "agent stopped"]));
  expect(lines.every((l) => l.node === stub.nodeName)).toBe(true);
});

test("a bad configuration exits 1 and says why, in the log and the termination log", async () => {
  const { stub, host } = await setup();
  const env = agentEnv(stub, host);
  delete env.MY_NODE_NAME;
  env.APISERVER_URL = "ftp://nowhere";
  const agent = run(env);
  expect(await agent.exit).toBe(1);
  const message = await readFile(env.TERMINATION_LOG ?? "", "utf8");
  expect(message).toMatch(/MY_NODE_NAME is required/);
  expect(message).toMatch(/APISERVER_URL must be http\(s\)/);
  expect(agent.output()).toMatch(/MY_NODE_NAME is required/);
});

// `brupop cluster up|down|status`: a simulated cluster (real control plane, kwok-simulated Bottlerocket nodes)
// kept running for manual use. State lives in .cluster/ of the working directory.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { mkdir, readFile, writeFile, rm, copyFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const stateDir = resolve(".cluster");
const stateFile = join(stateDir, "state.json");
const stableKubeconfig = join(stateDir, "kubeconfig");

interface ClusterState {
  readonly pid: number;
  readonly kubeconfig: string;
  readonly server: string;
  readonly kubectl: string;
  readonly nodes: readonly string[];
}

export function clusterCommand(): Command {
  const cmd = new Command("cluster").description(
    "run a simulated cluster (real kube-apiserver, simulated Bottlerocket nodes) for manual use",
  );

  cmd
    .command("up")
    .description("start the cluster; stays in the foreground until Ctrl-C or `brupop cluster down`")
    .addOption(new Option("--nodes <n>", "simulated Bottlerocket nodes to create").default(3).argParser(positiveInt))
    .option("--os-version <version>", "Bottlerocket version the nodes report", "1.25.0")
    .option("-d, --detach", "return once the cluster is ready and leave it running in the background")
    .action(async (opts) => {
      const running = await readState();
      if (running && isAlive(running.pid)) {
        fail(`a cluster is already running (pid ${running.pid}); kubeconfig: ${running.kubeconfig}`);
      }
      if (opts.detach) return detach();
      await up(opts.nodes, opts.osVersion);
    });

  cmd
    .command("down")
    .description("stop the cluster started by `up`")
    .action(async () => {
      const state = await readState();
      if (!state || !isAlive(state.pid)) {
        await rm(stateFile, { force: true });
        console.log("no cluster is running");
        return;
      }
      process.kill(state.pid, "SIGTERM");
      for (let i = 0; i < 300 && isAlive(state.pid); i++) await sleep(100);
      if (isAlive(state.pid)) fail(`cluster process ${state.pid} did not stop within 30 s`);
      console.log("cluster stopped");
    });

  cmd
    .command("status")
    .description("print whether a cluster is running, and how to reach it")
    .action(async () => {
      const state = await readState();
      if (!state || !isAlive(state.pid)) {
        console.log("no cluster is running");
        process.exitCode = 1;
        return;
      }
      printAccess(state);
    });

  return cmd;
}

async function up(nodeCount: number, osVersion: string): Promise<void> {
  const { startControlPlane } = await import("../control-plane/control-plane.ts");
  const { createBottlerocketNodes } = await import("../cluster/nodes.ts");
  const { KubeConfig, CoreV1Api } = await import("@kubernetes/client-node");

  const cp = await startControlPlane({ log: (line) => console.error(`[cluster] ${line}`) });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.error("[cluster] stopping");
    await cp.stop();
    await rm(stateFile, { force: true });
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `bottlerocket-${i + 1}`);
  await createBottlerocketNodes(core, nodes, { osVersion });

  await mkdir(stateDir, { recursive: true });
  await copyFile(cp.kubeconfigPath, stableKubeconfig);
  const state: ClusterState = {
    pid: process.pid,
    kubeconfig: stableKubeconfig,
    server: cp.server,
    kubectl: join(cp.binDir, "kubectl"),
    nodes,
  };
  await writeFile(stateFile, JSON.stringify(state, null, 2));
  printAccess(state);
  console.log("\nCtrl-C or `npm run cluster -- down` stops it.");
  // Stay up: the signal handlers end the process.
  await new Promise(() => undefined);
}

/** Re-runs `up` in a detached child and returns when it has written its state (or failed). */
async function detach(): Promise<void> {
  const args = process.argv.slice(1).filter((a) => a !== "--detach" && a !== "-d");
  await mkdir(stateDir, { recursive: true });
  const log = join(stateDir, "cluster.log");
  const { openSync } = await import("node:fs");
  const out = openSync(log, "w");
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  for (let i = 0; i < 600; i++) {
    const state = await readState();
    if (state !== undefined && state.pid === child.pid) {
      printAccess(state);
      console.log(`\nRunning in the background (log: ${log}); \`npm run cluster -- down\` stops it.`);
      return;
    }
    if (child.exitCode !== null || (child.pid !== undefined && !isAlive(child.pid))) {
      fail(`the cluster failed to start; see ${log}:\n${await readFile(log, "utf8").catch(() => "")}`);
    }
    await sleep(500);
  }
  fail(`the cluster did not become ready within 5 minutes; see ${log}`);
}

function printAccess(state: ClusterState): void {
  console.log(`kubeconfig: ${state.kubeconfig}`);
  console.log(`server:     ${state.server}`);
  console.log(`nodes:      ${state.nodes.join(", ")}`);
  console.log(`try:        ${state.kubectl} --kubeconfig ${state.kubeconfig} get nodes`);
}

async function readState(): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

function fail(message: string): never {
  console.error(`brupop cluster: ${message}`);
  process.exit(1);
}

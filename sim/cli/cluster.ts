// `npm run cluster -- up|publish|fault|status|down`: a sandbox to try the operator by hand. `up` starts what the demo
// starts (a real control plane, the operator installed from its manifest and running, simulated Bottlerocket hosts,
// workloads behind PodDisruptionBudgets) and no rollout; `publish` offers a new Bottlerocket version to the hosts,
// which starts one; `fault` arms a host fault on one node. The hosts live in the `up` process: the other commands
// reach it through a Unix socket in the state directory (.cluster/ by default), which `down` removes with the rest.
import { Command, Option } from "@commander-js/extra-typings";
import { mkdir, readFile, writeFile, rm, copyFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isSemVer } from "../../src/host/semver.ts";
import { FAULT_SPEC_HELP, parseFaultSpec } from "../host/faults.ts";
import { backoffUnit, positiveInt, semver } from "./options.ts";

interface ClusterState {
  readonly pid: number;
  readonly kubeconfig: string;
  readonly server: string;
  readonly kubectl: string;
  readonly namespace: string;
  readonly nodes: readonly string[];
  readonly fromVersion: string;
  readonly budget: number;
  readonly backoffUnit: string | null;
  /** The control plane's temporary directory (removed by stop). */
  readonly controlPlaneDir: string;
  /** Where the operator's pods write their logs (pods/<pod>/container.log). */
  readonly podLogs: string;
}

interface Paths {
  readonly dir: string;
  readonly state: string;
  readonly kubeconfig: string;
  readonly socket: string;
  readonly log: string;
}

function paths(dir: string): Paths {
  const root = resolve(dir);
  return {
    dir: root,
    state: join(root, "state.json"),
    kubeconfig: join(root, "kubeconfig"),
    socket: join(root, "control.sock"),
    log: join(root, "cluster.log"),
  };
}

const dirOption = () =>
  new Option("--dir <path>", "the sandbox's state directory (kubeconfig, control socket)").default(".cluster");

export function clusterCommand(): Command {
  const cmd = new Command("cluster").description(
    "a sandbox: a simulated cluster with the operator running, to try it by hand (up, publish, fault, down)",
  );

  cmd
    .command("up")
    .description("start the sandbox; stays in the foreground until Ctrl-C or `npm run cluster -- down`")
    .addOption(new Option("--nodes <n>", "simulated Bottlerocket nodes").default(3).argParser(positiveInt()))
    .addOption(
      new Option("--os-version <version>", "Bottlerocket version the hosts run").default("1.25.0").argParser(semver),
    )
    .addOption(new Option("--budget <n>", "MAX_CONCURRENT_UPDATE").default(1).argParser(positiveInt()))
    .addOption(
      new Option(
        "--backoff-unit <duration>",
        "FAILURE_BACKOFF_UNIT: a failed node waits 2^failures of these (default: the operator's, 1m)",
      ).argParser(backoffUnit),
    )
    .addOption(
      new Option("--profile <profile>", "how long the hosts' update steps take")
        .choices(["demo", "fast", "realistic"] as const)
        .default("demo" as const),
    )
    .option("-d, --detach", "return once the sandbox is ready and leave it running in the background")
    .addOption(dirOption())
    .action(async (opts) => {
      const p = paths(opts.dir);
      const running = await readState(p);
      if (running && isAlive(running.pid)) {
        fail(`a sandbox is already running (pid ${running.pid}); KUBECONFIG=${running.kubeconfig}`);
      }
      if (opts.detach) return detach(p);
      await up(p, opts);
    });

  cmd
    .command("publish")
    .description("offer a new Bottlerocket version to every simulated host: the operator then rolls it out")
    .argument("<version>", "e.g. 1.26.0", semver)
    .addOption(dirOption())
    .action(async (version, opts) => {
      const p = paths(opts.dir);
      const state = await runningState(p);
      console.log(await control(p, "/publish", { version }));
      console.log(`watch it: KUBECONFIG=${state.kubeconfig} bin/brupop status --watch`);
      console.log(`      or: ${state.kubectl} --kubeconfig ${state.kubeconfig} get brs -n ${state.namespace} -w`);
    });

  cmd
    .command("fault")
    .description("arm a fault on one node's simulated host (it fires when the update reaches that step)")
    .argument("<node>", "e.g. bottlerocket-2")
    .argument("<fault>", "a fault spec, e.g. prepare, boot@always (see below)")
    .addOption(dirOption())
    .addHelpText("after", `\n${FAULT_SPEC_HELP}`)
    .action(async (node, fault, opts) => {
      const p = paths(opts.dir);
      await runningState(p);
      console.log(await control(p, "/fault", { node, fault }));
      console.log(`follow it: bin/brupop explain ${node}`);
    });

  cmd
    .command("status")
    .description("whether the sandbox runs, and how to use it")
    .addOption(dirOption())
    .action(async (opts) => {
      const state = await readState(paths(opts.dir));
      if (!state || !isAlive(state.pid)) {
        console.log("no sandbox is running; start one with: npm run cluster -- up");
        process.exitCode = 1;
        return;
      }
      printUsage(state);
    });

  cmd
    .command("down")
    .description("stop the sandbox and remove everything it made")
    .addOption(dirOption())
    .action(async (opts) => {
      const p = paths(opts.dir);
      const state = await readState(p);
      if (state && isAlive(state.pid)) {
        process.kill(state.pid, "SIGTERM");
        for (let i = 0; i < 300 && isAlive(state.pid); i++) await sleep(100);
        if (isAlive(state.pid)) fail(`sandbox process ${state.pid} did not stop within 30 s`);
        console.log("sandbox stopped");
      } else {
        console.log("no sandbox is running");
      }
      // Also what a sandbox killed without its cleanup left (its control plane's watchdog stops the processes).
      if (state) await rm(state.controlPlaneDir, { recursive: true, force: true });
      await rm(p.dir, { recursive: true, force: true });
    });

  return cmd;
}

interface UpOptions {
  nodes: number;
  osVersion: string;
  budget: number;
  backoffUnit?: string;
  profile: "demo" | "fast" | "realistic";
}

async function up(p: Paths, o: UpOptions): Promise<void> {
  const { startSimulatedCluster, FAST_AGENT_ENV } = await import("../cluster/simulated-cluster.ts");
  const { ENV } = await import("../../src/core/policy.ts");
  const { createServer } = await import("node:http");

  const started = Date.now();
  const log = (line: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  log(`starting the sandbox: ${o.nodes} Bottlerocket nodes at ${o.osVersion}, budget ${o.budget}`);
  await mkdir(p.dir, { recursive: true });
  const cluster = await startSimulatedCluster({
    nodes: o.nodes,
    fromVersion: o.osVersion,
    budget: o.budget,
    profile: o.profile,
    env: { agent: FAST_AGENT_ENV },
    ...(o.backoffUnit === undefined ? {} : { controllerSettings: { [ENV.failureBackoffUnit]: o.backoffUnit } }),
    log,
  }).catch(async (err: unknown) => {
    // Nothing left behind; a detached start keeps its log for the parent to show.
    if (!existsSync(p.log)) await rm(p.dir, { recursive: true, force: true });
    throw err;
  });

  // The control socket: what `publish` and `fault` ask of the hosts, which only this process holds.
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const answer = (code: number, text: string) => {
        res.writeHead(code, { "content-type": "text/plain" }).end(text);
        log(text);
      };
      try {
        const input = JSON.parse(body) as Record<string, unknown>;
        if (req.url === "/publish" && typeof input.version === "string" && isSemVer(input.version)) {
          cluster.publish(input.version);
          return answer(200, `published Bottlerocket ${input.version} to ${cluster.hosts.size} simulated hosts`);
        }
        if (req.url === "/fault" && typeof input.node === "string" && typeof input.fault === "string") {
          const host = cluster.hosts.get(input.node);
          if (host === undefined) {
            return answer(404, `no node ${input.node}: the nodes are ${cluster.nodeNames.join(", ")}`);
          }
          parseFaultSpec(input.fault);
          host.inject(input.fault);
          return answer(200, `armed fault ${input.fault} on ${input.node}'s host`);
        }
        answer(400, `unknown request ${req.url ?? ""}`);
      } catch (err) {
        answer(400, err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
      }
    });
  });
  await rm(p.socket, { force: true });
  await new Promise<void>((done) => server.listen(p.socket, done));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log("stopping the sandbox");
    server.close();
    await cluster.stop();
    await rm(p.dir, { recursive: true, force: true });
    log("sandbox stopped and removed");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  await copyFile(cluster.cp.kubeconfigPath, p.kubeconfig);
  const state: ClusterState = {
    pid: process.pid,
    kubeconfig: p.kubeconfig,
    server: cluster.cp.server,
    kubectl: join(cluster.cp.binDir, "kubectl"),
    namespace: cluster.namespace,
    nodes: cluster.nodeNames,
    fromVersion: o.osVersion,
    budget: o.budget,
    backoffUnit: o.backoffUnit ?? null,
    controlPlaneDir: cluster.cp.dir,
    podLogs: join(cluster.dir, "pods"),
  };
  await writeFile(p.state, JSON.stringify(state, null, 2));
  printUsage(state);
  console.log("\nCtrl-C or `npm run cluster -- down` stops it and removes what it made.");
  // Stay up: the signal handlers end the process.
  await new Promise(() => undefined);
}

/** Runs `up` again in a detached child and returns once it has written its state (or failed). */
async function detach(p: Paths): Promise<void> {
  const args = process.argv.slice(1).filter((a) => a !== "--detach" && a !== "-d");
  await mkdir(p.dir, { recursive: true });
  const { openSync } = await import("node:fs");
  const out = openSync(p.log, "w");
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out] });
  child.unref();
  console.error(`starting the sandbox in the background (log: ${p.log}); the first start may build Kubernetes`);
  for (let i = 0; i < 1200; i++) {
    const state = await readState(p);
    if (state !== undefined && state.pid === child.pid) {
      printUsage(state);
      console.log(`\nRunning in the background (log: ${p.log}); \`npm run cluster -- down\` stops it.`);
      return;
    }
    if (child.exitCode !== null || (child.pid !== undefined && !isAlive(child.pid))) {
      fail(`the sandbox failed to start; see ${p.log}:\n${await readFile(p.log, "utf8").catch(() => "")}`);
    }
    await sleep(500);
  }
  fail(`the sandbox did not become ready within 10 minutes; see ${p.log}`);
}

function printUsage(s: ClusterState): void {
  const unit = s.backoffUnit ?? "1m";
  const lines = [
    `The sandbox runs: ${s.nodes.length} Bottlerocket nodes (${s.nodes.join(", ")}) at ${s.fromVersion}, ` +
      `the operator installed and running (budget ${s.budget}), workloads behind PodDisruptionBudgets.`,
    "",
    "Use it:",
    `  export KUBECONFIG=${s.kubeconfig}`,
    `  kubectl get brs -n ${s.namespace}             # kubectl: yours, or ${s.kubectl}`,
    "  bin/brupop status                  # add --watch to follow a rollout",
    `  bin/brupop explain ${s.nodes[0] ?? "<node>"}`,
    "",
    "Start a rollout (a new Bottlerocket version for the simulated hosts):",
    "  npm run cluster -- publish 1.26.0",
    "",
    "Make one node fail (more: npm run cluster -- fault --help):",
    `  npm run cluster -- fault ${s.nodes[1] ?? s.nodes[0] ?? "<node>"} prepare        # its next prepare fails once`,
    `  npm run cluster -- fault ${s.nodes[1] ?? s.nodes[0] ?? "<node>"} boot@always    # the new version never boots`,
    `  A failed node is retried after 3, 5, 9, 17 × ${unit} (FAILURE_BACKOFF_UNIT), quarantined after 5 failures` +
      (s.backoffUnit === null ? "; `up --backoff-unit 1s` makes that seconds." : "."),
    "",
    `The operator's logs (kubectl logs cannot reach simulated kubelets): ${s.podLogs}/<pod>/container.log`,
    "Stop it and remove everything: npm run cluster -- down",
  ];
  console.log(lines.join("\n"));
}

async function readState(p: Paths): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(p.state, "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

async function runningState(p: Paths): Promise<ClusterState> {
  const state = await readState(p);
  if (!state || !isAlive(state.pid)) fail("no sandbox is running; start one with: npm run cluster -- up");
  return state;
}

/** One request to the `up` process; its answer's text, or a failure with it. */
function control(p: Paths, path: string, body: Record<string, string>): Promise<string> {
  return new Promise((resolvePromise) => {
    const req = request({ socketPath: p.socket, path, method: "POST" }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => (res.statusCode === 200 ? resolvePromise(text) : fail(text)));
    });
    req.on("error", (err) => fail(`cannot reach the sandbox at ${p.socket}: ${err.message}`));
    req.end(JSON.stringify(body));
  });
}

/** Whether a process with this id runs (and may be signalled by us). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function fail(message: string): never {
  console.error(`cluster: ${message}`);
  process.exit(1);
}

// Steady-state memory and CPU of ONE real agent process (`node src/agent/main.ts`), against a simulated host and
// the agent test stub (Kubernetes watches + brupop routes over HTTPS). Prints one JSON object on stdout.
//
//   node bench/agent-memory.ts [--seconds 20] [--sync-interval 5] [--warmup 5] [--mode js|ts]
//
// Budget (issue 3): steady-state RSS at most 50 MiB. Linux only (reads /proc).
// --mode js (default) runs the agent compiled to JavaScript, as a container image would (`npm run build`):
// Node's TypeScript type stripping (--mode ts, i.e. `node src/agent/main.ts`) loads a WebAssembly transpiler
// that alone costs ~17 MiB of RSS.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import ts from "typescript";
import { startStubCluster } from "../src/agent/testing.ts";
import { startTestHost } from "../src/sim/host/testing.ts";

const BUDGET_MIB = 50;
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    "sync-interval": { type: "string", default: "5" },
    mode: { type: "string", default: "js" },
    /** Extra node flags for the agent, e.g. "--max-semi-space-size=1" (space-separated). */
    "node-flags": { type: "string", default: "" },
  },
});
if (values.mode !== "js" && values.mode !== "ts") throw new Error("--mode must be js or ts");
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!(seconds > 0) || !(warmup >= 0)) throw new Error("--seconds must be > 0 and --warmup >= 0");

const SRC = resolve(import.meta.dirname, "../src");
const MAIN = join(SRC, "agent/main.ts");

/**
 * Transpiles main.ts and everything it imports (relative imports only: the agent has no dependencies) into a
 * temporary directory, the way `tsc -p tsconfig.build.json` would, and returns the entry point.
 */
async function compileAgent(outDir: string): Promise<string> {
  const seen = new Set<string>();
  const queue = [MAIN];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const source = await readFile(file, "utf8");
    for (const match of source.matchAll(/^(?:import|export)[^"']*?from\s+["'](\.{1,2}\/[^"']+)["']/gm)) {
      const spec = match[1];
      if (spec !== undefined) queue.push(resolve(dirname(file), spec));
    }
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2024,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: true,
      },
      fileName: file,
    });
    const out = join(outDir, relative(SRC, file)).replace(/\.ts$/, ".js");
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
  await writeFile(join(outDir, "package.json"), '{"type":"module"}\n');
  return join(outDir, "agent/main.js");
}

interface MemorySample {
  rss: number;
  peak: number;
  /** Private memory (heap, stacks, OpenSSL state): what this agent really adds per node. */
  anon: number;
  /** File-backed pages, mostly the node binary's text, shared with every other Node process on the host. */
  file: number;
}

async function memoryKiB(pid: number): Promise<MemorySample> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rss: field("VmRSS"), peak: field("VmHWM"), anon: field("RssAnon"), file: field("RssFile") };
}

async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime + stime
}

const host = await startTestHost({ offer: ["1.26.0"], profile: "fast" });
const stub = await startStubCluster({ controller: false }); // steady state: the node stays Idle
const env = {
  PATH: process.env.PATH ?? "",
  MY_NODE_NAME: stub.nodeName,
  POD_NAMESPACE: stub.namespace,
  KUBE_API_URL: stub.url,
  KUBE_TOKEN_FILE: join(stub.dir, "kube-token"),
  KUBE_CA_FILE: stub.caFile,
  APISERVER_URL: stub.url,
  APISERVER_TOKEN_FILE: join(stub.dir, "apiserver-token"),
  APISERVER_CA_FILE: stub.caFile,
  HOST_API_SOCKET: host.socketPath,
  HOST_BOOT_ID_PATH: host.bootIdPath,
  TERMINATION_LOG: join(stub.dir, "termination-log"),
  AGENT_SYNC_INTERVAL_SECONDS: values["sync-interval"],
  LOG_LEVEL: "warn",
};
const buildDir = await mkdtemp(join(tmpdir(), "brupop-agent-build-"));
const entry = values.mode === "js" ? await compileAgent(buildDir) : MAIN;
const nodeFlags = values["node-flags"].split(" ").filter((flag) => flag !== "");
const child = spawn(process.execPath, [...nodeFlags, entry], {
  env,
  stdio: ["ignore", "ignore", "inherit"],
});
const pid = child.pid;
if (pid === undefined) throw new Error("could not start the agent");
const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));

try {
  await stub.until(() => stub.shadow?.status?.current_state === "Idle", 30_000, "first status");
  await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
  const cpuStart = await cpuSeconds(pid);
  const began = performance.now();
  const samples: number[] = [];
  let last: MemorySample | undefined;
  while (performance.now() - began < seconds * 1000) {
    last = await memoryKiB(pid);
    samples.push(last.rss);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const elapsed = (performance.now() - began) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpuStart;
  const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;
  const steadyMax = Math.max(...samples);
  const result = {
    benchmark: "agent-memory",
    mode: values.mode,
    nodeFlags,
    node: process.version,
    seconds: Math.round(elapsed * 10) / 10,
    syncIntervalSeconds: Number(values["sync-interval"]),
    rssMiB: {
      mean: mib(samples.reduce((a, b) => a + b, 0) / samples.length),
      max: mib(steadyMax),
      last: mib(samples.at(-1) ?? 0),
      peakIncludingStartup: mib(last?.peak ?? NaN),
      anonymous: mib(last?.anon ?? NaN),
      fileBacked: mib(last?.file ?? NaN),
    },
    cpu: { seconds: Math.round(cpu * 1000) / 1000, percentOfOneCore: Math.round((cpu / elapsed) * 1000) / 10 },
    apiServerCalls: stub.routes.length,
    budgetMiB: BUDGET_MIB,
    withinBudget: mib(steadyMax) <= BUDGET_MIB,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  child.kill("SIGTERM");
  const code = await exited;
  if (code !== 0) process.stderr.write(`agent exited with ${String(code)} on SIGTERM\n`);
  await host.close();
  await stub.stop();
  await rm(buildDir, { recursive: true, force: true });
}

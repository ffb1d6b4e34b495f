// Steady-state memory and CPU of ONE real agent process (`node src/agent/main.ts`), against a simulated host and
// the agent test stub (Kubernetes watches + brupop routes over HTTPS), then one update driven through it. Prints one
// JSON object on stdout.
//
//   node bench/agent-memory.ts [--seconds 20] [--sync-interval 5] [--warmup 5] [--mode js|bundle|ts|bare]
//                              [--memory-limit 50|none] [--cgroup auto|off] [--fresh-binary yes|no] [--update yes|no]
//                              [--node-flags "<flags>"] [--env NAME=value ...]
//
// Budget (issue 3): brupop's agent limit, 50 MiB. Linux only (reads /proc).
//
// How the budget is judged: the way Kubernetes enforces a memory limit. When it can (root, a memory cgroup it may
// create a child of), the benchmark runs the agent in its own memory cgroup with the limit set (memory.max on cgroup
// v2, memory.limit_in_bytes on v1, as the kubelet does for a container's limit), drives it through the steady state
// and one update, and records the cgroup's usage, anon/file split, the kubelet's working set (usage −
// inactive_file) and the OOM events. The node binary and its shared libraries are copied and dropped from the page
// cache first, so that every file page the agent touches is charged to its cgroup, as on a node where the agent is
// the only process of its image (the worst case). Without cgroups it falls back to the process's private memory
// (smaps_rollup Private_*): RSS also counts the node binary's text, clean page cache shared with every other process
// mapping the binary, which the kernel reclaims under a limit instead of killing.
//
// --mode js (default) runs the agent compiled to JavaScript file by file (as `npm run build` does), its packages from
// node_modules; --mode bundle runs the one-file esbuild bundle the image holds (dist/agent/main.js, only the code the
// agent reaches); Node's TypeScript type stripping (--mode ts, i.e. `node src/agent/main.ts`) loads a WebAssembly
// transpiler that alone costs ~17 MiB of RSS. --mode bare runs no agent at all: a Node process that only waits, with
// the agent's flags, in the same cgroup and from the same fresh binary: the floor under any agent written for Node.
import { spawn, spawnSync } from "node:child_process";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  rmdir,
  stat,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import ts from "typescript";
import { AGENT_NODE_FLAGS } from "../src/deploy/agent.ts";
import { startStubCluster } from "../sim/stand-ins/agent-kube-stub.ts";
import { startTestHost } from "../sim/host/testing.ts";
import { freePort } from "../sim/control-plane/ports.ts";
import { bundledEntryPoint } from "./entry-points.ts";

const BUDGET_MIB = 50;
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux
const MIB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    "sync-interval": { type: "string", default: "5" },
    mode: { type: "string", default: "js" },
    /**
     * Node flags for the agent (space-separated). Default: the agent container's flags in the manifest
     * (src/deploy/agent.ts), so the benchmark measures what is deployed; "" for none.
     */
    "node-flags": { type: "string", default: AGENT_NODE_FLAGS.join(" ") },
    /** Extra environment for the agent, NAME=value (repeatable), e.g. UV_THREADPOOL_SIZE=1. */
    env: { type: "string", multiple: true, default: [] },
    /** The cgroup memory limit in MiB, or "none" (a cgroup without a limit: its usage is the natural footprint). */
    "memory-limit": { type: "string", default: String(BUDGET_MIB) },
    /** "off" skips the cgroup (private memory is then the measure). */
    cgroup: { type: "string", default: "auto" },
    /** Run a private copy of the node binary and its libraries, so all of its file pages are charged to the cgroup. */
    "fresh-binary": { type: "string", default: "yes" },
    /** After the steady state, drive one update (Idle → … → Idle on the new version) and measure it too. */
    update: { type: "string", default: "yes" },
  },
});
if (!["js", "bundle", "ts", "bare"].includes(values.mode)) throw new Error("--mode must be js, bundle, ts or bare");
const bare = values.mode === "bare";
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
if (!(seconds > 0) || !(warmup >= 0)) throw new Error("--seconds must be > 0 and --warmup >= 0");
const limitMiB = values["memory-limit"] === "none" ? null : Number(values["memory-limit"]);
if (limitMiB !== null && !(limitMiB > 0)) throw new Error("--memory-limit must be a number of MiB or none");
const extraEnv = Object.fromEntries(
  values.env.map((pair) => {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`--env ${pair}: expected NAME=value`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

const SRC = resolve(import.meta.dirname, "../src");
const MAIN = join(SRC, "agent/main.ts");

/**
 * Transpiles main.ts and everything it imports (its own modules; packages are left to node_modules, linked in as
 * the image has it next to dist/) into a temporary directory, the way `tsc -p tsconfig.build.json` would, and
 * returns the entry point.
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
  await symlink(resolve(SRC, "../node_modules"), join(outDir, "node_modules"));
  return join(outDir, "agent/main.js");
}

// ---- The process: /proc/<pid>/status and smaps_rollup ----

interface ProcessSample {
  rss: number;
  peak: number;
  /** RssAnon: heap, stacks, OpenSSL state. */
  anon: number;
  /** RssFile: mostly the node binary's text and read-only data. */
  file: number;
  /** Proportional set size: shared pages divided among the processes mapping them. */
  pss: number;
  /** Private_Clean + Private_Dirty (the USS): what this process alone holds. */
  private: number;
}

const kib = (text: string, name: string): number =>
  Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;

async function processSample(pid: number): Promise<ProcessSample> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const smaps = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  return {
    rss: kib(status, "VmRSS"),
    peak: kib(status, "VmHWM"),
    anon: kib(status, "RssAnon"),
    file: kib(status, "RssFile"),
    pss: kib(smaps, "Pss"),
    private: kib(smaps, "Private_Clean") + kib(smaps, "Private_Dirty"),
  };
}

async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime + stime
}

// ---- The container: a memory cgroup with the limit, as the kubelet sets it ----

interface CgroupSample {
  /** memory.current (v2) / memory.usage_in_bytes (v1): what the limit is enforced against. */
  usage: number;
  anon: number;
  /** Page cache charged to the cgroup (the binary's text once faulted in by the agent). */
  file: number;
  activeFile: number;
  inactiveFile: number;
  /** The kubelet's working set (cAdvisor): usage − inactive_file. */
  workingSet: number;
  majorFaults: number;
  fileRefaults: number;
}

interface CgroupEvents {
  /** v2 memory.events "max" / v1 memory.failcnt: times usage hit the limit (and reclaim ran). */
  limitHits: number;
  oom: number;
  oomKills: number;
}

interface MemoryCgroup {
  version: 1 | 2;
  dir: string;
  procsFile: string;
  sample(): Promise<CgroupSample>;
  events(): Promise<CgroupEvents>;
  /** Highest usage since creation (v2 memory.peak / v1 memory.max_usage_in_bytes), if the kernel reports it. */
  peak(): Promise<number | null>;
  remove(): Promise<void>;
}

const readNumber = async (path: string): Promise<number | null> => {
  try {
    return Number((await readFile(path, "utf8")).trim());
  } catch {
    return null;
  }
};

const keyed = async (path: string): Promise<Map<string, number>> =>
  new Map(
    (await readFile(path, "utf8"))
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string])
      .map(([k, v]) => [k, Number(v)]),
  );

/** A child of this process's own memory cgroup, with the limit set; or why there is none. */
async function createCgroup(limitBytes: number | null): Promise<MemoryCgroup | string> {
  const name = `brupop-agent-bench-${process.pid}`;
  const lines = (await readFile("/proc/self/cgroup", "utf8")).trim().split("\n");
  const v1 = lines.map((l) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/.exec(l)?.[1]).find((p) => p !== undefined);
  const v2 = lines.map((l) => /^0::(.*)$/.exec(l)?.[1]).find((p) => p !== undefined);
  const v2Root = "/sys/fs/cgroup";
  const v2Memory = (await readFile(`${v2Root}/cgroup.controllers`, "utf8").catch(() => "")).split(" ");
  try {
    if (v2 !== undefined && v2Memory.map((c) => c.trim()).includes("memory")) {
      const parent = join(v2Root, v2);
      const enabled = await readFile(join(parent, "cgroup.subtree_control"), "utf8");
      if (!enabled.split(" ").some((c) => c.trim() === "memory")) {
        // Fails (EBUSY) when the parent holds processes itself: cgroup v2's "no internal processes" rule.
        await writeFile(join(parent, "cgroup.subtree_control"), "+memory");
      }
      const dir = join(parent, name);
      await mkdir(dir);
      if (limitBytes !== null) await writeFile(join(dir, "memory.max"), String(limitBytes));
      await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
      return {
        version: 2,
        dir,
        procsFile: join(dir, "cgroup.procs"),
        async sample() {
          const usage = (await readNumber(join(dir, "memory.current"))) ?? NaN;
          const s = await keyed(join(dir, "memory.stat"));
          const inactiveFile = s.get("inactive_file") ?? NaN;
          return {
            usage,
            anon: s.get("anon") ?? NaN,
            file: s.get("file") ?? NaN,
            activeFile: s.get("active_file") ?? NaN,
            inactiveFile,
            workingSet: Math.max(0, usage - inactiveFile),
            majorFaults: s.get("pgmajfault") ?? NaN,
            fileRefaults: s.get("workingset_refault_file") ?? NaN,
          };
        },
        async events() {
          const e = await keyed(join(dir, "memory.events"));
          return { limitHits: e.get("max") ?? NaN, oom: e.get("oom") ?? NaN, oomKills: e.get("oom_kill") ?? NaN };
        },
        peak: () => readNumber(join(dir, "memory.peak")),
        remove: () => rmdir(dir),
      };
    }
    if (v1 !== undefined) {
      const parent = join("/sys/fs/cgroup/memory", v1);
      const dir = join(parent, name);
      await mkdir(dir);
      if (limitBytes !== null) await writeFile(join(dir, "memory.limit_in_bytes"), String(limitBytes));
      return {
        version: 1,
        dir,
        procsFile: join(dir, "cgroup.procs"),
        async sample() {
          const usage = (await readNumber(join(dir, "memory.usage_in_bytes"))) ?? NaN;
          const s = await keyed(join(dir, "memory.stat"));
          const inactiveFile = s.get("total_inactive_file") ?? NaN;
          return {
            usage,
            anon: s.get("total_rss") ?? NaN,
            file: s.get("total_cache") ?? NaN,
            activeFile: s.get("total_active_file") ?? NaN,
            inactiveFile,
            workingSet: Math.max(0, usage - inactiveFile),
            majorFaults: s.get("total_pgmajfault") ?? NaN,
            fileRefaults: s.get("total_workingset_refault_file") ?? NaN,
          };
        },
        async events() {
          const control = await keyed(join(dir, "memory.oom_control"));
          return {
            limitHits: (await readNumber(join(dir, "memory.failcnt"))) ?? NaN,
            oom: control.get("under_oom") ?? NaN,
            oomKills: control.get("oom_kill") ?? NaN,
          };
        },
        peak: () => readNumber(join(dir, "memory.max_usage_in_bytes")),
        remove: () => rmdir(dir),
      };
    }
    return "no memory cgroup controller found (neither cgroup v2 with memory nor v1 memory)";
  } catch (error) {
    return `cannot create a memory cgroup: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The kernel's default read-ahead (VM_READAHEAD_PAGES), what a node's root or data volume normally has. */
const DEFAULT_READAHEAD_KIB = 128;

/** read_ahead_kb of the block device holding `path` (its disk's, for a partition), or null if unknown. */
async function readaheadKiB(path: string): Promise<number | null> {
  const dev = (await stat(path)).dev;
  const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`; // glibc major/minor
  for (const queue of [`/sys/dev/block/${id}/queue`, `/sys/dev/block/${id}/../queue`]) {
    const value = await readNumber(join(queue, "read_ahead_kb"));
    if (value !== null) return value;
  }
  return null;
}

const run = (command: string, args: string[]): string => {
  const r = spawnSync(command, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.stderr.trim() || `exit ${String(r.status)}`}`);
  return r.stdout.trim();
};

interface FreshRuntime {
  node: string;
  libraryPath: string;
  /** Read-ahead of the device the copies are on: each major fault of the binary reads this much around it. */
  readaheadKiB: number | null;
  /** A loop device was set up to get the default read-ahead (this machine's disk has a larger one). */
  loopDevice: boolean;
  cleanup(): Promise<void>;
}

/**
 * Copies the node binary and the shared libraries this process has loaded into a directory under `dir` and drops
 * the copies from the page cache: an agent started from them faults every file page in itself (charged to its
 * cgroup), as on a node just rebooted into an update, where no other process has touched its image's files.
 * The faults read ahead as much as the device's read_ahead_kb; when that is larger than the kernel's default (VMs
 * often use MiBs), every fault pulls MiBs of the binary into a 50 MiB cgroup and it thrashes in a way a node with
 * default read-ahead would not, so the copies then go on an ext4 loop device (direct I/O, no double caching) with
 * the default read-ahead.
 */
async function freshRuntime(dir: string): Promise<FreshRuntime> {
  let target = join(dir, "runtime");
  await mkdir(target, { recursive: true });
  let readahead = await readaheadKiB(target);
  let loop: { device: string; image: string; mount: string } | null = null;
  if (readahead === null || readahead > DEFAULT_READAHEAD_KIB) {
    const image = join(dir, "runtime.img");
    const mount = join(dir, "runtime-mnt");
    await writeFile(image, "");
    await truncate(image, 256 * MIB);
    run("mkfs.ext4", ["-q", "-F", image]);
    const device = run("losetup", ["--direct-io=on", "--find", "--show", image]);
    loop = { device, image, mount };
    await mkdir(mount);
    run("mount", [device, mount]);
    await writeFile(`/sys/block/${basename(device)}/queue/read_ahead_kb`, String(DEFAULT_READAHEAD_KIB));
    target = mount;
    readahead = await readaheadKiB(target);
  }
  const maps = await readFile("/proc/self/maps", "utf8");
  const libs = new Set(
    maps
      .split("\n")
      .map((line) => line.split(/\s+/)[5] ?? "")
      .filter((path) => /\/lib[^/]*\.so(\.\d+)*$/.test(path) && !path.includes("/ld-linux")),
  );
  const node = join(target, "node");
  const copies: [string, string][] = [
    [process.execPath, node],
    ...[...libs].map((l): [string, string] => [l, join(target, basename(l))]),
  ];
  for (const [from, to] of copies) {
    await copyFile(from, to);
    // fdatasync, then POSIX_FADV_DONTNEED for the whole file (GNU dd's documented idiom).
    run("dd", [`of=${to}`, "oflag=nocache", "conv=notrunc,fdatasync", "count=0"]);
  }
  await chmod(node, 0o755);
  return {
    node,
    libraryPath: target,
    readaheadKiB: readahead,
    loopDevice: loop !== null,
    async cleanup() {
      if (!loop) return;
      spawnSync("umount", [loop.mount]);
      spawnSync("losetup", ["-d", loop.device]);
      await rm(loop.image, { force: true });
    },
  };
}

/** A process that loads nothing and waits (for --mode bare), exiting cleanly on SIGTERM as the agent does. */
async function bareEntryPoint(dir: string): Promise<string> {
  const file = join(dir, "bare.mjs");
  await writeFile(file, 'process.on("SIGTERM", () => process.exit(0));\nsetInterval(() => undefined, 1 << 30);\n');
  return file;
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((done) => {
    const req = httpGet({ host: "127.0.0.1", port, path, timeout: 2_000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(0));
  });
}

// ---- The run ----

interface Sample {
  process: ProcessSample;
  cgroup: CgroupSample | null;
}

const r1 = (bytes: number): number => Math.round((bytes / MIB) * 10) / 10;
const stats = (xs: number[]): { mean: number; max: number } => ({
  mean: r1(xs.reduce((a, b) => a + b, 0) / xs.length),
  max: r1(Math.max(...xs)),
});

function summarize(samples: Sample[]) {
  const p = (f: (s: ProcessSample) => number): number[] => samples.map((s) => f(s.process));
  const c = samples.flatMap((s) => (s.cgroup ? [s.cgroup] : []));
  const cg = (f: (s: CgroupSample) => number): { mean: number; max: number } => stats(c.map(f));
  return {
    samples: samples.length,
    rssMiB: stats(p((s) => s.rss)),
    anonymousMiB: stats(p((s) => s.anon)),
    fileBackedMiB: stats(p((s) => s.file)),
    pssMiB: stats(p((s) => s.pss)),
    privateMiB: stats(p((s) => s.private)),
    cgroupMiB:
      c.length === 0
        ? null
        : {
            usage: cg((s) => s.usage),
            workingSet: cg((s) => s.workingSet),
            anon: cg((s) => s.anon),
            file: cg((s) => s.file),
            activeFile: cg((s) => s.activeFile),
            inactiveFile: cg((s) => s.inactiveFile),
          },
    /** Major page faults (pages read back from disk, here the binary's text) over the phase. */
    majorFaults: c.length < 2 ? null : (c.at(-1)?.majorFaults ?? 0) - (c[0]?.majorFaults ?? 0),
    fileRefaults: c.length < 2 ? null : (c.at(-1)?.fileRefaults ?? 0) - (c[0]?.fileRefaults ?? 0),
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
try {
  const host = await startTestHost({ offer: ["1.26.0"], profile: "fast" });
  cleanups.push(() => host.close());
  const stub = await startStubCluster({ controller: false }); // steady state: the node stays Idle
  cleanups.push(() => stub.stop());
  const healthPort = await freePort();
  const buildDir = await mkdtemp(join(tmpdir(), "brupop-agent-build-"));
  cleanups.push(() => rm(buildDir, { recursive: true, force: true }));
  const cgroup =
    values.cgroup === "off" ? "--cgroup off" : await createCgroup(limitMiB === null ? null : limitMiB * MIB);
  if (typeof cgroup === "string") process.stderr.write(`agent-memory: ${cgroup}; measuring private memory instead\n`);
  else cleanups.push(() => cgroup.remove().catch(() => undefined));
  // A fresh runtime is for the cgroup (its point is what gets charged to it) and needs root (a loop device).
  const shared = {
    node: process.execPath,
    libraryPath: null,
    reason: typeof cgroup === "string" ? "no cgroup" : "--fresh-binary no",
  };
  let runtime: FreshRuntime | typeof shared = shared;
  if (typeof cgroup !== "string" && values["fresh-binary"] === "yes") {
    try {
      const fresh = await freshRuntime(buildDir);
      cleanups.push(() => fresh.cleanup());
      runtime = fresh;
    } catch (error) {
      shared.reason = `no fresh runtime: ${error instanceof Error ? error.message : String(error)}`;
      process.stderr.write(`agent-memory: ${shared.reason}; the agent runs the shared node binary\n`);
    }
  }
  const env: Record<string, string> = {
    ...stub.agentProcessEnv(host),
    AGENT_SYNC_INTERVAL_SECONDS: values["sync-interval"],
    AGENT_HEALTH_PORT: String(healthPort), // as deployed: the probes' server is part of the footprint
    LOG_LEVEL: "warn",
    ...(runtime.libraryPath === null ? {} : { LD_LIBRARY_PATH: runtime.libraryPath }),
    ...extraEnv,
  };
  const entry =
    values.mode === "js"
      ? await compileAgent(buildDir)
      : values.mode === "bundle"
        ? await bundledEntryPoint("agent")
        : bare
          ? await bareEntryPoint(buildDir)
          : MAIN;
  const nodeFlags = values["node-flags"].split(" ").filter((flag) => flag !== "");
  // In a cgroup: a shell joins it, then becomes node (same pid), so nothing of the agent runs outside it.
  const child =
    typeof cgroup === "string"
      ? spawn(runtime.node, [...nodeFlags, entry], { env, stdio: ["ignore", "ignore", "inherit"] })
      : spawn(
          "/bin/sh",
          ["-c", 'echo $$ > "$1" && shift && exec "$@"', "sh", cgroup.procsFile, runtime.node, ...nodeFlags, entry],
          { env, stdio: ["ignore", "ignore", "inherit"] },
        );
  const spawnedAt = performance.now();
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start the agent");
  const ended: { exit?: { code: number | null; signal: string | null } } = {};
  const exited = new Promise<void>((done) =>
    child.on("exit", (code, signal) => {
      ended.exit = { code, signal };
      done();
    }),
  );
  cleanups.push(async () => {
    if (ended.exit !== undefined) return;
    child.kill("SIGTERM");
    await exited;
  });

  const sampleNow = async (): Promise<Sample> => ({
    process: await processSample(pid),
    cgroup: typeof cgroup === "string" ? null : await cgroup.sample(),
  });
  const sampleWhile = async (keepGoing: () => boolean, intervalMs: number): Promise<Sample[]> => {
    const samples: Sample[] = [];
    while (keepGoing() && ended.exit === undefined) {
      const sample = await sampleNow().catch(() => undefined); // the process may just have exited
      if (sample) samples.push(sample);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
    return samples;
  };
  const events = async (): Promise<CgroupEvents | null> => (typeof cgroup === "string" ? null : cgroup.events());

  // Start-up: from spawn to the first status report (Idle), sampled every 50 ms (bare: its first second).
  const isIdle = (): boolean => stub.shadow?.status?.current_state === "Idle";
  const started = (): boolean => (bare ? performance.now() - spawnedAt >= 1_000 : isIdle());
  const startupSamples = await sampleWhile(() => !started() && performance.now() - spawnedAt < 60_000, 50);
  if (!bare) await stub.until(isIdle, 1_000, "first status");
  const startup = {
    seconds: Math.round((performance.now() - spawnedAt) / 100) / 10,
    cpuSeconds: await cpuSeconds(pid),
    ...summarize(startupSamples),
  };
  await new Promise((resolve) => setTimeout(resolve, warmup * 1000));
  const eventsBefore = await events();

  // Steady state: the node Idle, the agent watching and syncing with the host every --sync-interval seconds.
  const cpuStart = await cpuSeconds(pid);
  const began = performance.now();
  const steady = summarize(await sampleWhile(() => performance.now() - began < seconds * 1000, 500));
  const elapsed = (performance.now() - began) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpuStart;
  const readyz = bare ? null : await httpStatus(healthPort, "/readyz");
  const afterSteady = await events();

  // One update through the stub's controller: prepare, activate, drain, reboot (the simulated host's), back to Idle.
  let update = null;
  if (values.update === "yes" && !bare) {
    stub.controller = true;
    stub.setSpec({}); // wakes the stub's controller: the host offers 1.26.0
    const cpuBefore = await cpuSeconds(pid);
    const t0 = performance.now();
    const done = (): boolean => isIdle() && stub.shadow?.status?.current_version === "1.26.0";
    const samples = await sampleWhile(() => !done() && performance.now() - t0 < 120_000, 100);
    update = {
      completed: done(),
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      states: stub.statuses.map((s) => s.current_state).filter((s, i, all) => all[i - 1] !== s),
      cpuSeconds: Math.round(((await cpuSeconds(pid)) - cpuBefore) * 1000) / 1000,
      ...summarize(samples),
    };
  }
  const last = await sampleNow();
  const eventsAfter = await events();
  const peak = typeof cgroup === "string" ? null : await cgroup.peak();
  const stopping = performance.now();
  child.kill("SIGTERM");
  await exited;
  const exit = ended.exit && { ...ended.exit, afterMs: Math.round(performance.now() - stopping) };

  // The measure the budget is judged on: with a cgroup, the kubelet's working set under the limit; without one,
  // the private memory (USS). Either way the agent must also stay healthy: no OOM kill, the readiness probe
  // answering, the update done, a clean exit on SIGTERM.
  const measure =
    steady.cgroupMiB !== null
      ? {
          name: `cgroup working set (usage − inactive_file) under memory limit ${limitMiB === null ? "none" : `${limitMiB} MiB`}`,
          maxMiB: Math.max(steady.cgroupMiB.workingSet.max, update?.cgroupMiB?.workingSet.max ?? 0),
        }
      : {
          name: "private memory (smaps_rollup Private_Clean + Private_Dirty)",
          maxMiB: Math.max(steady.privateMiB.max, update?.privateMiB.max ?? 0),
        };
  const oomKills = eventsAfter?.oomKills ?? 0;
  const healthy =
    oomKills === 0 && exit?.code === 0 && (bare || readyz === 200) && (update === null || update.completed);
  const result = {
    benchmark: "agent-memory",
    mode: values.mode,
    nodeFlags,
    env: extraEnv,
    node: process.version,
    seconds: Math.round(elapsed * 10) / 10,
    syncIntervalSeconds: Number(values["sync-interval"]),
    cgroup:
      typeof cgroup === "string"
        ? { used: false as const, reason: cgroup }
        : {
            used: true as const,
            version: cgroup.version,
            memoryLimitMiB: limitMiB,
            freshBinary:
              "cleanup" in runtime
                ? { readaheadKiB: runtime.readaheadKiB, loopDevice: runtime.loopDevice }
                : { skipped: runtime.reason },
            peakMiB: peak === null ? null : r1(peak),
            eventsDuringSteadyState:
              eventsBefore && afterSteady
                ? {
                    limitHits: afterSteady.limitHits - eventsBefore.limitHits,
                    oomKills: afterSteady.oomKills - eventsBefore.oomKills,
                  }
                : null,
            eventsTotal: eventsAfter,
          },
    startup,
    steady,
    update,
    // Kept for continuity with earlier results: the steady state's RSS.
    rssMiB: {
      mean: steady.rssMiB.mean,
      max: steady.rssMiB.max,
      last: r1(last.process.rss),
      peakIncludingStartup: r1(last.process.peak),
      anonymous: r1(last.process.anon),
      fileBacked: r1(last.process.file),
    },
    cpu: { seconds: Math.round(cpu * 1000) / 1000, percentOfOneCore: Math.round((cpu / elapsed) * 1000) / 10 },
    readyz,
    exit,
    apiServerCalls: stub.routes.length,
    budgetMiB: BUDGET_MIB,
    measure: measure.name,
    measuredMiB: measure.maxMiB,
    healthy,
    withinBudget: healthy && measure.maxMiB <= BUDGET_MIB,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (exit?.code !== 0) process.stderr.write(`agent exited with ${JSON.stringify(exit)}\n`);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}

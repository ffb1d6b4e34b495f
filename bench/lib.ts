// Shared pieces of the benchmarks: the control plane, lightweight stand-in agents, the controller as a child process
// (so its CPU and memory are its own), /proc readings, Prometheus text parsing, and the results files.
import { kubeClientOf } from "../sim/cluster/kube-client.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { API_GROUP, API_VERSION_V2, KIND, PLURAL, VERSION_V2, brsName } from "../src/api/constants.ts";
import type { BottlerocketShadow, BottlerocketShadowStatus } from "../src/api/bottlerocket-shadow.ts";
import type { BrsState } from "../src/api/state-machine.ts";
import { SupervisedInformer } from "../src/kube/informer.ts";
import { shadowInformer, type ShadowObject } from "../src/kube/shadow-informer.ts";
import { startControlPlane, type ControlPlane } from "../sim/control-plane/control-plane.ts";
import { freePort } from "../sim/control-plane/ports.ts";
import { createBottlerocketNodes } from "../sim/cluster/nodes.ts";
import { installOperatorCrds } from "../sim/stand-ins/status-agents.ts";
import { footprintGoalCells, type FootprintGoal } from "../sim/measure/footprint-goals.ts";
import type { ComponentEntry } from "./entry-points.ts";
import { inClusterLaunch, type InClusterAccess, type Launch } from "./in-cluster.ts";

export const ROOT = resolve(import.meta.dirname, "..");
export const RESULTS_DIR = join(ROOT, "bench", "results");
export const GROUP_LABEL = "bench.brupop.dev/group";

export const log = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

// ---- Control plane ----

export interface BenchCluster {
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  namespace: string;
  stop(): Promise<void>;
}

export async function startBenchCluster(namespace = "brupop-bench"): Promise<BenchCluster> {
  const cp = await startControlPlane({ log: (line) => log(`control plane: ${line}`) });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await installOperatorCrds(kc);
    return { cp, kc, core, namespace, stop: () => cp.stop() };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/** Creates kwok nodes `${prefix}-0..n-1` in batches, labelled with the bench group; returns their names. */
export async function createNodes(
  core: CoreV1Api,
  prefix: string,
  n: number,
  osVersion: string,
  batch = 100,
): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
  for (let i = 0; i < names.length; i += batch) {
    await createBottlerocketNodes(core, names.slice(i, i + batch), { osVersion, labels: { [GROUP_LABEL]: prefix } });
    if (n > batch) log(`nodes: ${Math.min(i + batch, n)}/${n} Ready`);
  }
  return names;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---- Lightweight stand-in agents ----

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface TimelineEntry {
  node: string;
  state: BrsState;
  seenAt: number;
  reportedAt?: number;
}

/** How stand-ins create their node's shadow and write its status, when not with the admin client. */
export interface ShadowWriter {
  create(nodeName: string): Promise<void>;
  writeStatus(nodeName: string, status: BottlerocketShadowStatus): Promise<void>;
}

/** Host time per step, in ms: how long the stand-in takes to report `current_state = spec.state`. */
export type StepDurations = Partial<Record<BrsState, number | readonly [number, number]>>;

/**
 * Stand-ins for the agents of many nodes behind ONE watch of the namespace's shadows (the per-node stand-ins of
 * test/support open a watch each, too many for 1,000 nodes). Same protocol: when spec.state differs from
 * status.current_state, after the step's duration report current_state = spec.state (the new version on
 * RebootedIntoUpdate, crash count reset when back to Idle). Writes status with the admin client, or through a
 * {@link ShadowWriter} (bench/route-stand-ins.ts: the brupop API server's agent routes, each node's own token).
 */
export class StandInAgents {
  readonly #api: CustomObjectsApi;
  readonly #writer: ShadowWriter | undefined;
  /** Shadow name → node name, for the writer. */
  readonly #nodeOf = new Map<string, string>();
  readonly #informer: SupervisedInformer<ShadowObject>;
  readonly #pending = new Set<string>();
  /** The state each stand-in last reported: until the watch shows our own write, the cache looks one step behind. */
  readonly #reported = new Map<string, BrsState>();
  #stopped = false;
  writes = 0;
  failedWrites = 0;
  /** When each node's stand-in first saw a spec state, and when it reported it (ms since epoch). */
  readonly timeline: TimelineEntry[] = [];

  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly durations: StepDurations;

  constructor(kc: KubeConfig, namespace: string, durations: StepDurations, writer?: ShadowWriter) {
    this.kc = kc;
    this.namespace = namespace;
    this.durations = durations;
    this.#writer = writer;
    this.#api = kc.makeApiClient(CustomObjectsApi);
    this.#informer = shadowInformer(kubeClientOf(kc), namespace, {
      name: "bench-stand-ins",
      onChange: (_kind, shadow) => this.#consider(shadow.metadata.name ?? ""),
    });
  }

  /** Creates each node's shadow (owned by its Node) reporting Idle at `current`, offered `target`; then watches. */
  async register(core: CoreV1Api, nodes: readonly string[], current: string, target: string): Promise<void> {
    await pool(nodes, 32, async (nodeName) => {
      this.#nodeOf.set(brsName(nodeName), nodeName);
      if (this.#writer) await this.#writer.create(nodeName);
      else await this.#createWithAdmin(core, nodeName);
      await this.#write(brsName(nodeName), {
        current_version: current,
        target_version: target,
        current_state: "Idle",
        crash_count: 0,
        state_transition_failure_timestamp: null,
      });
    });
    await this.#informer.start();
  }

  /** The shadow as the API server would create it (owned by its Node), with the admin client. */
  async #createWithAdmin(core: CoreV1Api, nodeName: string): Promise<void> {
    const node = await core.readNode({ name: nodeName });
    try {
      await this.#api.createNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.namespace,
        plural: PLURAL,
        body: {
          apiVersion: API_VERSION_V2,
          kind: KIND,
          metadata: {
            name: brsName(nodeName),
            ownerReferences: [{ apiVersion: "v1", kind: "Node", name: nodeName, uid: node.metadata?.uid ?? "" }],
          },
          spec: { state: "Idle", state_transition_timestamp: null, version: null },
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }

  /** Every stand-in now offers `target` (a new Bottlerocket release appeared). */
  async offer(target: string): Promise<void> {
    await pool(this.shadows(), 32, async (shadow) => {
      const status = shadow.status;
      if (status == null) return;
      await this.#write(shadow.metadata.name ?? "", { ...status, target_version: target });
    });
  }

  shadows(): readonly BottlerocketShadow[] {
    return this.#informer.list();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
  }

  #delay(state: BrsState): number {
    const d = this.durations[state] ?? 0;
    return typeof d === "number" ? d : d[0] + Math.random() * (d[1] - d[0]);
  }

  #consider(name: string): void {
    if (this.#stopped || this.#pending.has(name)) return;
    const shadow = this.#informer.get(name, this.namespace);
    if (shadow?.status == null || shadow.spec.state === shadow.status.current_state) return;
    if (this.#reported.get(name) === shadow.spec.state) return; // done; our write is not in the cache yet
    this.#pending.add(name);
    const entry: TimelineEntry = { node: name, state: shadow.spec.state, seenAt: Date.now() };
    this.timeline.push(entry);
    setTimeout(() => {
      entry.reportedAt = Date.now();
      this.#step(name)
        .catch(() => {
          this.failedWrites++;
          this.#reported.delete(name); // not reported after all: try again
        })
        .finally(() => {
          this.#pending.delete(name);
          this.#consider(name);
        });
    }, this.#delay(shadow.spec.state));
  }

  async #step(name: string): Promise<void> {
    const shadow = this.#informer.get(name, this.namespace);
    const status = shadow?.status;
    if (this.#stopped || shadow === undefined || status == null) return;
    const wanted = shadow.spec.state;
    if (wanted === status.current_state) return;
    const next: BottlerocketShadowStatus = { ...status, current_state: wanted };
    if (wanted === "RebootedIntoUpdate" && shadow.spec.version != null) next.current_version = shadow.spec.version;
    if (wanted === "Idle") {
      next.crash_count = 0;
      next.state_transition_failure_timestamp = null;
    }
    await this.#write(name, next);
  }

  async #write(name: string, status: BottlerocketShadowStatus): Promise<void> {
    this.writes++;
    this.#reported.set(name, status.current_state);
    if (this.#writer) {
      await this.#writer.writeStatus(this.#nodeOf.get(name) ?? name.replace(/^brs-/, ""), status);
      return;
    }
    await this.#api.patchNamespacedCustomObjectStatus(
      { group: API_GROUP, version: VERSION_V2, namespace: this.namespace, plural: PLURAL, name, body: { status } },
      MERGE_PATCH,
    );
  }
}

/** True once every shadow runs `version`, Idle on both sides, its spec cleared. */
export function allUpdated(shadows: readonly BottlerocketShadow[], n: number, version: string): boolean {
  return (
    shadows.length === n &&
    shadows.every(
      (s) =>
        s.status?.current_version === version &&
        s.status.current_state === "Idle" &&
        s.spec.state === "Idle" &&
        s.spec.version == null,
    )
  );
}

export async function waitUntil(what: string, check: () => boolean, timeoutMs: number, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

// ---- The controller as a child process (its entry point, as its Deployment runs it) ----

export interface ControllerProcess {
  child: ChildProcess;
  pid: number;
  metricsPort: number;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  metrics(): Promise<string>;
  /** Whether /metrics says this replica leads (false while it cannot be scraped). */
  leading(): Promise<boolean>;
  stop(): Promise<void>;
}

export interface ControllerProcessOptions {
  /** This replica's name in the Lease (POD_NAME). Default "bench-controller". */
  identity?: string;
  /** Resolve once it leads (default), or once it serves /metrics (a standby). */
  until?: "leading" | "serving";
  /** How to start it (bench/entry-points.ts); default from TypeScript source, `node src/controller/main.ts`. */
  entry?: ComponentEntry;
  /** Its kubeconfig (e.g. one through a counting proxy); default the control plane's admin kubeconfig. */
  kubeconfigPath?: string;
  /** Started in-cluster through this instead of a kubeconfig, as its pod (bench/in-cluster.ts). */
  inCluster?: InClusterAccess;
}

/** `node args` with `env`, or the same in-cluster through `inCluster` (then without the kubeconfig). */
export function launchOf(args: string[], env: Record<string, string>, inCluster?: InClusterAccess): Promise<Launch> {
  if (inCluster === undefined) return Promise.resolve({ command: process.execPath, args, env });
  return inClusterLaunch(process.execPath, args, env, inCluster);
}

export async function startControllerProcess(
  cluster: BenchCluster,
  env: Record<string, string>,
  nodeGroup: string,
  options: ControllerProcessOptions = {},
): Promise<ControllerProcess> {
  const metricsPort = await freePort();
  const launch = await launchOf(
    options.entry?.args ?? [join(ROOT, "src/controller/main.ts")],
    {
      PATH: process.env.PATH ?? "",
      KUBECONFIG: options.kubeconfigPath ?? cluster.cp.kubeconfigPath,
      BRUPOP_NAMESPACE: cluster.namespace,
      MY_NODE_NAME: "bench-controller-node",
      POD_NAME: options.identity ?? "bench-controller",
      METRICS_PORT: String(metricsPort),
      MANAGED_NODE_SELECTOR: `${GROUP_LABEL}=${nodeGroup}`,
      ...options.entry?.env,
      ...env,
    },
    options.inCluster,
  );
  const child = spawn(launch.command, launch.args, { env: launch.env, stdio: ["ignore", "ignore", "inherit"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not start the controller");
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const leading = async (): Promise<boolean> => {
    try {
      return /^brupop_controller_leader 1$/m.test(await metrics());
    } catch {
      return false; // not listening (yet, or any more)
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const until = options.until ?? "leading";
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`controller exited with ${child.exitCode}`);
      try {
        const text = await metrics();
        if (until === "serving" || /^brupop_controller_leader 1$/m.test(text)) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`controller not ${until} after 60 s`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, pid, metricsPort, exited, metrics, leading, stop };
}

// ---- /proc ----

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

export async function processCpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export async function processMemoryMiB(
  pid: number,
): Promise<{ rss: number; peak: number; anonymous: number; file: number }> {
  const text = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const mib = (name: string): number => round(kib(name) / 1024, 1);
  // RssFile: pages of mapped files, mostly the node binary's code and read-only data (clean, shared, reclaimable).
  return { rss: mib("VmRSS"), peak: mib("VmHWM"), anonymous: mib("RssAnon"), file: mib("RssFile") };
}

export interface RssSamples {
  maxMiB: number;
  meanMiB: number;
  /** The sample with the largest RSS, split into anonymous memory and file pages. */
  atMax?: { anonymousMiB: number; fileMiB: number };
}

/** Samples a process's RSS every `everyMs` until stopped; reports the max and mean. */
export function sampleRss(pid: number, everyMs = 250): { stop(): RssSamples } {
  const samples: number[] = [];
  let atMax: { rss: number; anonymousMiB: number; fileMiB: number } | undefined;
  const timer = setInterval(() => {
    processMemoryMiB(pid).then(
      (m) => {
        samples.push(m.rss);
        if (atMax === undefined || m.rss > atMax.rss)
          atMax = { rss: m.rss, anonymousMiB: m.anonymous, fileMiB: m.file };
      },
      () => undefined,
    );
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const max = samples.length === 0 ? NaN : Math.max(...samples);
      const mean = samples.length === 0 ? NaN : samples.reduce((a, b) => a + b, 0) / samples.length;
      return {
        maxMiB: round(max, 1),
        meanMiB: round(mean, 1),
        ...(atMax === undefined ? {} : { atMax: { anonymousMiB: atMax.anonymousMiB, fileMiB: atMax.fileMiB } }),
      };
    },
  };
}

// ---- Prometheus text ----

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ""] = l[2] ?? "";
    }
    out.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
  }
  return out;
}

/** Quantile from a cumulative histogram (upper bound of the bucket holding it, Prometheus-style interpolation). */
export function histogramQuantile(
  samples: readonly Sample[],
  name: string,
  q: number,
  match: Record<string, string> = {},
): number {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return NaN;
}

/** kube-apiserver's /metrics, scraped with the admin client certificate of the kubeconfig. */
export async function scrapeKubeApiserver(kc: KubeConfig): Promise<Sample[]> {
  const server = kc.getCurrentCluster()?.server ?? "";
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL("/metrics", server);
  const text = await new Promise<string>((done, fail) => {
    const req = httpsRequest(url, { ...options, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end();
  });
  return parsePrometheus(text).filter(
    (s) => s.name === "apiserver_request_total" || s.name === "apiserver_request_duration_seconds_bucket",
  );
}

/** Requests counted by apiserver_request_total, by "VERB resource" (WATCH counted when a watch ends). */
export function requestCounts(samples: readonly Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== "apiserver_request_total") continue;
    const key = `${s.labels.verb ?? "?"} ${s.labels.resource ?? "?"}${s.labels.subresource ? `/${s.labels.subresource}` : ""}`;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

export function diffCounts(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
}

// ---- Numbers ----

export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/** Count, nearest-rank p50 and p99, and maximum of latencies in ms (to 2 decimals); NaN where there are none. */
export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function latencySummary(xs: readonly number[]): LatencySummary {
  return {
    n: xs.length,
    p50: round(percentile(xs, 0.5), 2),
    p99: round(percentile(xs, 0.99), 2),
    max: xs.length === 0 ? NaN : round(Math.max(...xs), 2),
  };
}

// ---- Results ----

export interface Goal {
  description: string;
  measured: string;
  met: boolean | null;
}

export interface BenchResult {
  name: string;
  title: string;
  /** ISO time the measurement ended. */
  at: string;
  environment: { node: string; cpus: number; platform: string };
  parameters: Record<string, unknown>;
  results: Record<string, unknown>;
  /** One line each for the summary table. */
  headline: Record<string, string>;
  /** In words, or (bench/footprint.ts) a number against a numeric goal. */
  goals: (Goal | FootprintGoal)[];
  notes: string[];
}

export async function environment(): Promise<BenchResult["environment"]> {
  const { availableParallelism } = await import("node:os");
  return { node: process.version, cpus: availableParallelism(), platform: `${process.platform}-${process.arch}` };
}

/** Every benchmark (bench/<name>.ts), in the order `npm run bench` runs them and SUMMARY.md shows them. */
export const BENCHMARKS = [
  "overhead",
  "makespan",
  "scale",
  "apiserver-auth",
  "agent",
  "leader-election",
  "deadlines",
  "reaction",
  "footprint",
] as const;

/** Writes bench/results/<name>.json, regenerates SUMMARY.md, and prints the JSON on stdout. */
export async function report(result: BenchResult): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(join(RESULTS_DIR, `${result.name}.json`), json);
  await writeSummary();
  process.stdout.write(json);
}

export async function writeSummary(): Promise<void> {
  const files = (await readdir(RESULTS_DIR)).filter((f) => f.endsWith(".json")).sort();
  const results: BenchResult[] = [];
  for (const f of files) results.push(JSON.parse(await readFile(join(RESULTS_DIR, f), "utf8")) as BenchResult);
  const order: readonly string[] = BENCHMARKS;
  results.sort((a, b) => (order.indexOf(a.name) + 1 || 99) - (order.indexOf(b.name) + 1 || 99));
  const lines = [
    "# Benchmark results",
    "",
    "Generated by `npm run bench` (`node bench/run.ts`); each benchmark also runs alone with `node bench/<name>.ts`.",
    "Machine-readable results: `bench/results/<name>.json`. Numbers are from one run on the machine named in each",
    "section; they are measurements, not guarantees. Nothing here fails a build.",
    "",
    "## Goals",
    "",
    "| Benchmark | Goal | Measured | Met |",
    "| --- | --- | --- | --- |",
  ];
  for (const r of results) {
    for (const g of r.goals) {
      const { description, measured } = "id" in g ? footprintGoalCells(g) : g;
      lines.push(`| ${r.name} | ${description} | ${measured} | ${g.met === null ? "n/a" : g.met ? "yes" : "**no**"} |`);
    }
  }
  for (const r of results) {
    lines.push("", `## ${r.title} (\`${r.name}\`)`, "");
    lines.push(
      `Measured ${r.at} · Node ${r.environment.node} · ${r.environment.cpus} CPUs · ${r.environment.platform}`,
      "",
    );
    lines.push(
      `Parameters: ${Object.entries(r.parameters)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(", ")}`,
      "",
    );
    lines.push("| Metric | Value |", "| --- | --- |");
    for (const [k, v] of Object.entries(r.headline)) lines.push(`| ${k} | ${v} |`);
    if (r.notes.length > 0) {
      lines.push("");
      for (const n of r.notes) lines.push(`- ${n}`);
    }
  }
  await writeFile(join(RESULTS_DIR, "SUMMARY.md"), `${lines.join("\n")}\n`);
}

// ---- A rollout: stand-ins + controller process + observer ----

export interface RolloutOptions {
  nodes: number;
  budget: number;
  durations: StepDurations;
  prefix: string;
  timeoutMs: number;
  /** How the controller runs (default from TypeScript source). */
  controller?: Pick<ControllerProcessOptions, "entry" | "kubeconfigPath">;
}

export interface RolloutMeasurement {
  /** From the controller leading (nodes already offered the update) until every node is updated and Idle. */
  totalMs: number;
  /** From the first start the observer saw until the last node was done. */
  firstStartToDoneMs: number;
  /** Status reached spec.state → controller's next spec write, as seen by a separate watch. */
  stepLatencyMs: { n: number; p50: number; p95: number; p99: number; max: number };
  maxActive: number;
  budgetViolations: number;
  controllerCpuSeconds: number;
  controllerRssMiB: { max: number; mean: number };
  standInWrites: number;
  /** Per node: from its stand-in seeing the start to reporting Idle again (host time + operator time). */
  occupancyMs: { p50: number; max: number };
  /** A freed slot (a node reporting Idle) until the next node's stand-in sees its start, for starts after the first wave. */
  handoverMs: { n: number; p50: number; max: number };
}

function analyseTimeline(t: StandInAgents["timeline"]): Pick<RolloutMeasurement, "occupancyMs" | "handoverMs"> {
  const starts = t.filter((e) => e.state === "StagedAndPerformedUpdate").map((e) => ({ node: e.node, at: e.seenAt }));
  const ends = t
    .filter((e) => e.state === "Idle" && e.reportedAt !== undefined)
    .map((e) => ({ node: e.node, at: e.reportedAt ?? 0 }));
  const occupancy = starts
    .map((s) => (ends.find((e) => e.node === s.node && e.at >= s.at)?.at ?? NaN) - s.at)
    .filter((x) => !Number.isNaN(x));
  const handover: number[] = [];
  for (const s of starts) {
    const freed = ends.filter((e) => e.at <= s.at).map((e) => e.at);
    if (freed.length > 0) handover.push(s.at - Math.max(...freed));
  }
  return {
    occupancyMs: { p50: percentile(occupancy, 0.5), max: occupancy.length === 0 ? NaN : Math.max(...occupancy) },
    handoverMs: {
      n: handover.length,
      p50: percentile(handover, 0.5),
      max: handover.length === 0 ? NaN : Math.max(...handover),
    },
  };
}

export async function measureRollout(cluster: BenchCluster, o: RolloutOptions): Promise<RolloutMeasurement> {
  const { ShadowTimeline } = await import("../sim/stand-ins/status-agents.ts");
  const names = await createNodes(cluster.core, o.prefix, o.nodes, "1.0.0");
  const agents = new StandInAgents(cluster.kc, cluster.namespace, o.durations);
  const observer = new ShadowTimeline(cluster.kc, cluster.namespace, o.budget);
  let controller: ControllerProcess | undefined;
  try {
    await observer.start();
    await agents.register(cluster.core, names, "1.0.0", "2.0.0");
    await waitUntil("stand-ins registered", () => observer.shadows().length === o.nodes, 30_000);
    controller = await startControllerProcess(
      cluster,
      { MAX_CONCURRENT_UPDATE: String(o.budget) },
      o.prefix,
      o.controller,
    );
    const began = Date.now();
    const cpu0 = await processCpuSeconds(controller.pid);
    const rss = sampleRss(controller.pid);
    await waitUntil("rollout done", () => allUpdated(observer.shadows(), o.nodes, "2.0.0"), o.timeoutMs, 10);
    const done = Date.now();
    const cpu = (await processCpuSeconds(controller.pid)) - cpu0;
    const mem = rss.stop();
    const lat = observer.stepLatencies;
    const firstStart = Math.min(...observer.starts.map((s) => s.at));
    return {
      totalMs: done - began,
      firstStartToDoneMs: done - firstStart,
      stepLatencyMs: {
        n: lat.length,
        p50: percentile(lat, 0.5),
        p95: percentile(lat, 0.95),
        p99: percentile(lat, 0.99),
        max: lat.length === 0 ? NaN : Math.max(...lat),
      },
      maxActive: observer.maxActive,
      budgetViolations: observer.violations.length,
      controllerCpuSeconds: round(cpu, 2),
      controllerRssMiB: { max: mem.maxMiB, mean: mem.meanMiB },
      standInWrites: agents.writes,
      ...analyseTimeline(agents.timeline),
    };
  } finally {
    await controller?.stop();
    await agents.stop();
    await observer.stop();
  }
}

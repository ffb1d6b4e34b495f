// `npm run demo`: the operator updating a simulated cluster. It starts a real control plane, installs the operator
// from its manifest (real agent, API server and controller processes, see sim/cluster/simulated-cluster.ts),
// publishes a newer Bottlerocket version on the simulated hosts and shows the rollout: on a terminal a live view
// redrawn in place (each node's state, version and why it waits, the operator's Events), elsewhere one line per
// change; then the same summary either way. It ends by itself once every node is updated or quarantined, and cleans up.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import type { CoreV1Event } from "@kubernetes/client-node";
import { brsName } from "../../src/api/index.ts";
import { parseDuration } from "../../src/core/duration.ts";
import { reasonInfo } from "../../src/core/reasons.ts";
import { backoffUnit, positiveInt } from "./options.ts";

const QUARANTINED_EVENT = reasonInfo("quarantined").event;

/** `--fail <node>:<fault>`, e.g. `bottlerocket-2:prepare` or `bottlerocket-3:boot@always`. */
function collectFault(value: string, previous: [string, string][]): [string, string][] {
  const at = value.indexOf(":");
  if (at <= 0 || at === value.length - 1)
    throw new InvalidArgumentError("expected <node>:<fault>, e.g. bottlerocket-2:prepare");
  return [...previous, [value.slice(0, at), value.slice(at + 1)]];
}

export function demoCommand(): Command {
  return new Command("demo")
    .description("start a simulated cluster of Bottlerocket nodes and show a rollout (ends by itself)")
    .addOption(new Option("--nodes <n>", "simulated Bottlerocket nodes").default(6).argParser(positiveInt(100)))
    .option("--from <version>", "Bottlerocket version the nodes start on", "1.25.0")
    .option("--to <version>", "Bottlerocket version published once the cluster is up", "1.26.0")
    .addOption(
      new Option("--budget <n>", "MAX_CONCURRENT_UPDATE: nodes updating at once")
        .default(1)
        .argParser(positiveInt(100)),
    )
    .addOption(
      new Option("--fail <node:fault>", "inject a host fault on a node (repeatable; see --help-faults)")
        .default([] as [string, string][])
        .argParser(collectFault),
    )
    .option("--help-faults", "list the fault specs --fail accepts")
    .addOption(
      new Option(
        "--backoff-unit <duration>",
        "FAILURE_BACKOFF_UNIT for the demo's controller: a failed node waits 2^failures of these (a real install: 1m)",
      )
        .default("1s")
        .argParser(backoffUnit),
    )
    .addOption(
      new Option("--profile <profile>", "host step durations")
        .choices(["demo", "fast", "realistic"] as const)
        .default("demo"),
    )
    .addOption(new Option("--timeout <seconds>", "give up after this long").default(600).argParser(positiveInt(86_400)))
    .option("--keep", "keep the cluster directory (process logs) after the demo")
    .option("--image <layout>", "run the operator's pods from a built image (npm run image: dist/image/oci)")
    .action(async (opts) => {
      const { FAULT_SPEC_HELP, parseFaultSpec } = await import("../host/faults.ts");
      if (opts.helpFaults) {
        console.log(FAULT_SPEC_HELP);
        return;
      }
      const faults: Record<string, string[]> = {};
      for (const [node, spec] of opts.fail) {
        parseFaultSpec(spec); // fail early on a bad spec
        if (!/^bottlerocket-\d+$/.test(node) || Number(node.slice(13)) > opts.nodes) {
          throw new InvalidArgumentError(`--fail ${node}: no such node (bottlerocket-1..${opts.nodes})`);
        }
        (faults[node] ??= []).push(spec);
      }
      await runDemo({ ...opts, faults, keep: opts.keep === true });
    });
}

interface DemoOptions {
  nodes: number;
  from: string;
  to: string;
  budget: number;
  faults: Record<string, string[]>;
  backoffUnit: string;
  profile: "demo" | "fast" | "realistic";
  timeout: number;
  keep: boolean;
  image?: string;
}

/** Nothing changed for this long while no node is updating, starting or backing off: the rollout is stuck. */
const STALL_MS = 60_000;
const STATUS_TICK_MS = 500;
const REDRAW_MS = 1_000;

async function runDemo(o: DemoOptions): Promise<void> {
  const { startSimulatedCluster, FAST_AGENT_ENV } = await import("../cluster/simulated-cluster.ts");
  const { observeCluster } = await import("../cluster/fleet-observer.ts");
  const { observeWithOracle } = await import("../oracle/observer.ts");
  const { formatOutcomes, formatVerdict, verdictOf } = await import("../oracle/verdict.ts");
  const { CHAOS_ORACLE_BOUNDS } = await import("../chaos/run.ts");
  const { observedFleetReport } = await import("../cluster/fleet-report.ts");
  const { FleetReader } = await import("../../src/cli/fleet.ts");
  const { ENV } = await import("../../src/core/policy.ts");
  const { DEFAULT_QUARANTINE_AFTER_FAILURES } = await import("../../src/core/next-spec.ts");
  const { demoRows, renderScreen, rowLine, eventLine } = await import("./demo-view.ts");
  const { LiveOutput } = await import("./live-output.ts");
  const { readFile } = await import("node:fs/promises");

  const out = new LiveOutput(process.stdout);
  const started = Date.now();
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const stamp = () => `[${secs(Date.now() - started).padStart(7)}]`;
  const say = (line: string) => out.line(`${stamp()} ${line}`);
  const unitSeconds = parseDuration(o.backoffUnit);
  const faulty = Object.keys(o.faults);
  const backoffNote =
    unitSeconds < 60
      ? `crash backoff compressed for the demo (${ENV.failureBackoffUnit}=${o.backoffUnit}; a real install: 1m)`
      : `crash backoff ${ENV.failureBackoffUnit}=${o.backoffUnit}`;

  say(`starting a simulated cluster: ${o.nodes} Bottlerocket nodes at ${o.from}, budget ${o.budget}`);
  if (faulty.length > 0) {
    const waits = [1, 2, 3, 4].map((n) => (2 ** n + 1) * unitSeconds).join(", ");
    say(
      `faults: ${Object.entries(o.faults)
        .map(([node, specs]) => `${node} ${specs.join(", ")}`)
        .join("; ")}`,
    );
    say(
      `${backoffNote}: a failed node is retried after ${waits} s, ` +
        `quarantined after ${DEFAULT_QUARANTINE_AFTER_FAILURES} failures`,
    );
  }

  // ---- Start-up: each step as a line; on a terminal, the step running now with its time under them.
  let step = { text: "starting", at: Date.now() };
  const statusTimer = setInterval(() => {
    out.block([`  … ${step.text} (${secs(Date.now() - step.at)})`]);
  }, STATUS_TICK_MS);
  let rolling = false;
  const cluster = await startSimulatedCluster({
    nodes: o.nodes,
    fromVersion: o.from,
    budget: o.budget,
    profile: o.profile,
    faults: o.faults,
    env: { agent: FAST_AGENT_ENV },
    controllerSettings: { [ENV.failureBackoffUnit]: o.backoffUnit },
    keepDir: o.keep,
    ...(o.image ? { image: { layout: o.image } } : {}),
    log: (line) => {
      step = { text: line, at: Date.now() };
      // On a terminal the live view shows what these lines say (reboots, hosts up) once the rollout runs.
      if (!out.live || !rolling) say(line);
    },
  }).finally(() => {
    clearInterval(statusTimer);
    out.clear();
  });

  let stopping = false;
  let redraw: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  const observer = observeCluster(cluster, { onChange: () => schedule() });
  // The invariants are the oracle's (sim/oracle): what really happens to nodes, pods and hosts.
  const oracle = observeWithOracle(cluster, { budget: o.budget, ...CHAOS_ORACLE_BOUNDS });
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(redraw);
    clearTimeout(timer);
    out.block(["  … stopping the simulated cluster"]);
    await observer.stop().catch(() => undefined);
    await oracle.stop().catch(() => undefined);
    await cluster.stop();
    out.clear();
    console.log(o.keep ? `cluster stopped; logs kept in ${cluster.dir}` : "cluster stopped and cleaned up");
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  // ---- The rollout: redrawn in place on a terminal, one line per change elsewhere.
  const controller = await new FleetReader(cluster.kc, cluster.namespace).controllerSettings();
  let publishedAt = Date.now();
  const report = () => observedFleetReport(observer, cluster.namespace, controller, new Date());
  const rowsNow = (clock: "relative" | "absolute") => demoRows(report(), { to: o.to, rebooting: cluster.down }, clock);
  // The operator's Events (about shadows and nodes), not the Deployment controllers' chatter about its pods.
  const operatorEvents = () =>
    observer.events().filter((e) => e.involvedObject.kind === "BottlerocketShadow" || e.involvedObject.kind === "Node");
  const lastLine = new Map<string, string>();
  let seenEvents = new Set<string>();
  const schedule = () => {
    if (!rolling || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      render();
    }, 150);
  };
  const render = () => {
    const events = operatorEvents();
    if (out.live) {
      const { rows: height, columns: width } = out.size;
      out.block(
        renderScreen({
          title: `Rollout ${o.from} → ${o.to}, budget ${o.budget}: ${secs(Date.now() - publishedAt)} since publish`,
          notes: faulty.length > 0 ? [backoffNote] : [],
          rows: rowsNow("relative"),
          evictedPods: observer.evictedPods.size,
          events,
          height,
          width,
        }),
      );
    } else {
      for (const row of rowsNow("absolute")) {
        const line = rowLine(row);
        if (lastLine.get(row.node) === line) continue;
        lastLine.set(row.node, line);
        say(line);
      }
      for (const e of events) if (!seenEvents.has(e.metadata.uid ?? "")) say(`  event ${eventLine(e)}`);
    }
    seenEvents = new Set(events.map((e) => e.metadata.uid ?? ""));
  };

  try {
    await Promise.all([observer.start(), oracle.start()]);
    seenEvents = new Set(operatorEvents().map((e) => e.metadata.uid ?? ""));
    say(`publishing Bottlerocket ${o.to} on every host`);
    publishedAt = Date.now();
    cluster.publish(o.to);
    oracle.published(o.to);
    rolling = true;
    if (!out.live) say(`${"NODE".padEnd(16)}${"STATE".padEnd(47)}${"VERSION".padEnd(9)}WHY`);
    render();
    // A terminal's view shows times relative to now: redraw every second even without a change.
    if (out.live) redraw = setInterval(render, REDRAW_MS);

    // ---- Until every node is updated or quarantined (the story of a node that keeps failing); or stuck; or late.
    const deadline = publishedAt + o.timeout * 1000;
    let lastChange = Date.now();
    let lastSnapshot = "";
    let finishedAt: number | undefined;
    const updatedAt = new Map<string, number>();
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const rows = rowsNow("absolute");
      for (const r of rows) if (r.updated && !updatedAt.has(r.node)) updatedAt.set(r.node, Date.now() - publishedAt);
      const snapshot = JSON.stringify(rows);
      if (snapshot !== lastSnapshot) {
        lastSnapshot = snapshot;
        lastChange = Date.now();
      }
      // A quarantine is told by the controller's Event too: the story ends once that is shown.
      const quarantineTold = (node: string) =>
        operatorEvents().some((e) => e.reason === QUARANTINED_EVENT && e.involvedObject.name === brsName(node));
      if (rows.length === o.nodes && rows.every((r) => r.updated || (r.quarantined && quarantineTold(r.node)))) {
        finishedAt = Date.now();
        break;
      }
      const moving = report().rows.some((r) =>
        ["in-progress", "starting", "backoff", "budget-full"].includes(r.reason.code),
      );
      if (!moving && Date.now() - lastChange > STALL_MS) break;
      if (Date.now() > deadline) break;
    }
    rolling = false;
    clearInterval(redraw);
    clearTimeout(timer);
    render();
    out.keep();

    // ---- Summary.
    const final = report();
    const rows = demoRows(final, { to: o.to, rebooting: cluster.down }, "absolute");
    const apiserverLogs = await Promise.all(
      (await cluster.logFiles("apiserver")).map((f) => readFile(f, "utf8").catch(() => "")),
    );
    const pdbWaits = apiserverLogs
      .join("\n")
      .split("\n")
      .filter((l) => l.includes('"eviction refused; retrying"')).length;
    const reboots = [...cluster.hosts.values()].reduce((n, h) => n + h.bootCount - 1, 0);
    const outcomes = await oracle.finish();
    const verdict = verdictOf(oracle.oracle, o.budget, outcomes);
    const belowMin = cluster.workloads.filter(
      (w) => (observer.minReady.get(w.name) ?? w.replicas) < w.minAvailable,
    ).length;
    const times = [...updatedAt.values()].sort((a, b) => a - b);
    const quarantined = rows.filter((r) => r.quarantined);
    const unexpected = quarantined.filter((r) => !faulty.includes(r.node));
    const lines: string[] = ["", "Summary"];
    const field = (name: string, value: string) => lines.push(`  ${name.padEnd(23)}${value}`);
    const allUpdated = updatedAt.size === o.nodes;
    field(
      "nodes updated",
      `${updatedAt.size}/${o.nodes} to ${o.to}` +
        (finishedAt === undefined
          ? " (did not finish)"
          : allUpdated
            ? ` in ${secs(finishedAt - publishedAt)} after publishing`
            : `; the rest quarantined, ${secs(finishedAt - publishedAt)} after publishing`),
    );
    if (times.length > 0) {
      const per = times.length > 1 ? ((times.at(-1) ?? 0) - (times[0] ?? 0)) / (times.length - 1) : (times[0] ?? 0);
      field(
        "first / last node",
        `${secs(times[0] ?? 0)} / ${secs(times.at(-1) ?? 0)}  (about ${secs(per)} per node after the first)`,
      );
    }
    // Each node that failed on the way: its attempts and failures (from the operator's Events: a node that updated in
    // the end has its failure count reset), and how it ended.
    const events = operatorEvents();
    const eventsAbout = (row: (typeof final.rows)[number], ...reasons: string[]) =>
      events.filter((e) => e.involvedObject.name === row.shadow && reasons.includes(e.reason ?? ""));
    const total = (list: readonly CoreV1Event[]) => list.reduce((n, e) => n + (e.count ?? 1), 0);
    for (const row of final.rows) {
      const failed = eventsAbout(row, "UpdateFailed", "UpdateTimedOut");
      if (failed.length === 0 && row.version === o.to) continue;
      const attempts = total(eventsAbout(row, "UpdateStarted"));
      const failures = `${total(failed)} failure${total(failed) === 1 ? "" : "s"} in ${attempts} attempt${attempts === 1 ? "" : "s"}`;
      field(
        row.node,
        row.reason.code === "quarantined"
          ? `quarantined after ${failures}, each retried after its backoff; ` +
              `not retried until a person looks (brupop unquarantine ${row.node})`
          : row.version === o.to
            ? `updated after ${failures}: retried after its backoff`
            : `at ${row.version ?? "-"} after ${failures}: ${row.reason.message}`,
      );
      const last = failed.at(-1)?.message?.split("\n")[0];
      if (last !== undefined) field("", `last failure: ${last}`);
    }
    field("host reboots", String(reboots));
    field("pods evicted", `${observer.evictedPods.size} (moved to other nodes by drains)`);
    field("PDB-blocked evictions", `${pdbWaits} waited out (retried until the budget allowed them)`);
    field("workloads", belowMin === 0 ? "never below minAvailable" : `${belowMin} times below minAvailable`);
    for (const w of cluster.workloads) {
      const min = observer.minReady.get(w.name);
      field(
        "",
        `${w.kind} ${w.name}: ${w.replicas} replicas, minAvailable ${w.minAvailable}, lowest Ready seen ${min ?? "?"}`,
      );
    }
    field(
      "budget",
      `at most ${oracle.oracle.maxDisrupted} node(s) disrupted at once (budget ${o.budget}); ` +
        `at most ${observer.maxOutOfIdle} shadow(s) out of Idle`,
    );
    for (const line of formatVerdict(verdict, { since: publishedAt, maxViolations: 10 })) lines.push(`  ${line}`);
    for (const line of formatOutcomes(outcomes)) lines.push(`  ${line}`);
    if (finishedAt === undefined) {
      const waiting = rows.filter((r) => !r.updated && !r.quarantined).map((r) => `${r.node} (${r.why})`);
      field("did not finish", `still waiting for ${waiting.join(", ")}`);
    }
    for (const r of unexpected) field("unexpected", `${r.node} was quarantined without an injected fault`);
    if (finishedAt === undefined || !verdict.passed || belowMin > 0 || unexpected.length > 0) process.exitCode = 1;
    // Stop first, so that the summary is the last thing printed and the process ends right after it.
    await cleanup();
    for (const line of lines) console.log(line);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

// `brupop demo`: the operator updating a simulated cluster, live in the terminal. It starts a real control plane,
// installs the operator from its manifest (real agent, API server and controller processes, see
// sim/cluster/simulated-cluster.ts), publishes a newer Bottlerocket version on the simulated hosts, shows the
// rollout like `kubectl get brs -w` with the operator's Events, then a summary; it ends by itself and cleans up.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";

function positiveInt(max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected 1..${max}`);
    return n;
  };
}

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
  profile: "demo" | "fast" | "realistic";
  timeout: number;
  keep: boolean;
  image?: string;
}

async function runDemo(o: DemoOptions): Promise<void> {
  const { startSimulatedCluster, FAST_AGENT_ENV } = await import("../cluster/simulated-cluster.ts");
  const { observeCluster, nodeOf } = await import("../cluster/fleet-observer.ts");
  const { readFile } = await import("node:fs/promises");
  const tty = process.stdout.isTTY;
  const started = Date.now();
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const say = (line: string) => console.log(`[${secs(Date.now() - started).padStart(7)}] ${line}`);

  say(`starting a simulated cluster: ${o.nodes} Bottlerocket nodes at ${o.from}, budget ${o.budget}`);
  const cluster = await startSimulatedCluster({
    nodes: o.nodes,
    fromVersion: o.from,
    budget: o.budget,
    profile: o.profile,
    faults: o.faults,
    env: { agent: FAST_AGENT_ENV },
    keepDir: o.keep,
    ...(o.image ? { image: { layout: o.image } } : {}),
    log: (line) => {
      if (!tty || !rolling) say(line);
    },
  });
  let rolling = false;
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await observer.stop().catch(() => undefined);
    await cluster.stop();
    console.log(o.keep ? `cluster stopped; logs kept in ${cluster.dir}` : "cluster stopped and cleaned up");
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const observer = observeCluster(cluster, { budget: o.budget, onChange: () => schedule() });

  // ---- Rendering: a table like `kubectl get brs -w`, redrawn on change (a TTY), or one line per change (a pipe).
  const lastRow = new Map<string, string>();
  let seenEvents = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (!rolling || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      render();
    }, 150);
  };
  const rows = () =>
    observer.shadows().map((s) => {
      const node = nodeOf(s);
      const cordoned = observer.node(node)?.spec?.unschedulable === true;
      const down = cluster.down.has(node);
      return {
        node,
        state: s.status?.current_state ?? "-",
        spec: s.spec.state,
        version: s.status?.current_version ?? "-",
        target: s.status?.target_version ?? "-",
        crashes: String(s.status?.crash_count ?? 0),
        flags: [cordoned ? "cordoned" : "", down ? "rebooting" : ""].filter(Boolean).join(","),
      };
    });
  const render = () => {
    const elapsed = secs(Date.now() - started);
    const table = rows();
    // The operator's Events (about shadows and nodes), not the Deployment controllers' chatter about its pods.
    const events = observer
      .events()
      .filter((e) => e.involvedObject.kind === "BottlerocketShadow" || e.involvedObject.kind === "Node");
    if (tty) {
      const lines: string[] = [];
      lines.push(
        `Rollout ${o.from} -> ${o.to}, budget ${o.budget}, ${secs(Date.now() - publishedAt)} since publish`,
        "",
      );
      const header = ["NODE", "STATE", "SPEC", "VERSION", "TARGET", "CRASHES", ""];
      const widths = [18, 26, 26, 10, 10, 8, 0];
      const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("");
      lines.push(fmt(header));
      for (const r of table) lines.push(fmt([r.node, r.state, r.spec, r.version, r.target, r.crashes, r.flags]));
      const done = table.filter((r) => r.version === o.to && r.state === "Idle" && r.spec === "Idle").length;
      lines.push(
        "",
        `updated ${done}/${table.length}   evicted pods ${observer.evictedPods.size}   ` +
          `budget in use ${table.filter((r) => r.state !== "Idle" || r.spec !== "Idle").length}/${o.budget}`,
      );
      lines.push("", "RECENT EVENTS");
      for (const e of events.slice(-10)) lines.push(`  ${eventLine(e)}`);
      process.stdout.write(`\x1b[H\x1b[2J${lines.join("\n")}\n`);
    } else {
      for (const r of table) {
        const line = `${r.node.padEnd(16)} ${r.state.padEnd(25)} spec ${r.spec.padEnd(25)} ${r.version} -> ${r.target} crashes ${r.crashes} ${r.flags}`;
        if (lastRow.get(r.node) !== line) {
          lastRow.set(r.node, line);
          console.log(`[${elapsed.padStart(7)}] ${line}`);
        }
      }
      const fresh = events.filter((e) => !seenEvents.has(e.metadata.uid ?? ""));
      for (const e of fresh) console.log(`[${elapsed.padStart(7)}]   event ${eventLine(e)}`);
    }
    seenEvents = new Set(events.map((e) => e.metadata.uid ?? ""));
  };

  let publishedAt = Date.now();
  try {
    await observer.start();
    seenEvents = new Set(observer.events().map((e) => e.metadata.uid ?? ""));
    say(`publishing Bottlerocket ${o.to} on every host`);
    publishedAt = Date.now();
    cluster.publish(o.to);
    rolling = true;
    render();

    // ---- Wait until every node runs the new version, Idle and uncordoned; or nothing moves for a while.
    const deadline = publishedAt + o.timeout * 1000;
    let lastChange = Date.now();
    let lastSnapshot = "";
    let finishedAt: number | undefined;
    const perNodeDone = new Map<string, number>();
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const table = rows();
      for (const r of table) {
        const done = r.version === o.to && r.state === "Idle" && r.spec === "Idle" && !r.flags.includes("cordoned");
        if (done && !perNodeDone.has(r.node)) perNodeDone.set(r.node, Date.now() - publishedAt);
      }
      const snapshot = JSON.stringify(table);
      if (snapshot !== lastSnapshot) {
        lastSnapshot = snapshot;
        lastChange = Date.now();
      }
      if (table.length === o.nodes && perNodeDone.size === o.nodes) {
        finishedAt = Date.now();
        break;
      }
      const allIdle = table.every((r) => r.state === "Idle" && r.spec === "Idle" && !r.flags);
      if (allIdle && perNodeDone.size > 0 && Date.now() - lastChange > 60_000) break; // settled short of the goal
      if (Date.now() > deadline) break;
    }
    rolling = false;
    clearTimeout(timer);
    render();

    // ---- Summary.
    const table = rows();
    const apiserverLogs = await Promise.all(
      (await cluster.logFiles("apiserver")).map((f) => readFile(f, "utf8").catch(() => "")),
    );
    const pdbWaits = apiserverLogs
      .join("\n")
      .split("\n")
      .filter((l) => l.includes('"eviction refused; retrying"')).length;
    const reboots = [...cluster.hosts.values()].reduce((n, h) => n + h.bootCount - 1, 0);
    const workloadLines = cluster.workloads.map((w) => {
      const min = observer.minReady.get(w.name);
      return `${w.kind} ${w.name}: ${w.replicas} replicas, minAvailable ${w.minAvailable}, lowest Ready seen ${min ?? "?"}`;
    });
    const belowMin = observer.violations.filter((v) => v.kind === "workload-below-min").length;
    const times = [...perNodeDone.values()].sort((a, b) => a - b);
    console.log("");
    console.log("Summary");
    console.log(
      `  nodes updated          ${perNodeDone.size}/${o.nodes} to ${o.to}` +
        (finishedAt ? ` in ${secs(finishedAt - publishedAt)} after publishing` : " (did not finish)"),
    );
    if (times.length > 0) {
      const per = times.length > 1 ? ((times.at(-1) ?? 0) - (times[0] ?? 0)) / (times.length - 1) : (times[0] ?? 0);
      console.log(
        `  first / last node      ${secs(times[0] ?? 0)} / ${secs(times.at(-1) ?? 0)}  (about ${secs(per)} per node after the first)`,
      );
    }
    console.log(`  host reboots           ${reboots}`);
    console.log(`  pods evicted           ${observer.evictedPods.size} (moved to other nodes by drains)`);
    console.log(`  PDB-blocked evictions  ${pdbWaits} waited out (retried until the budget allowed them)`);
    console.log(
      `  workloads              ${belowMin === 0 ? "never below minAvailable" : `${belowMin} times below minAvailable`}`,
    );
    for (const l of workloadLines) console.log(`                         ${l}`);
    console.log(
      `  budget                 at most ${observer.maxOutOfIdle} node(s) out of Idle at once (budget ${o.budget})`,
    );
    const failed = table.filter((r) => r.crashes !== "0" || r.version !== o.to);
    for (const r of failed)
      console.log(`  ${r.node.padEnd(22)} ${r.version} (target ${r.target}), crash count ${r.crashes}`);
    console.log(
      `  invariant violations   ${observer.violations.length}` +
        ` (checked on ${observer.checks.shadow} shadow, ${observer.checks.node} node and ${observer.checks.pod} pod changes)`,
    );
    for (const v of observer.violations.slice(0, 10)) console.log(`    ${v.kind}: ${v.message}`);
    if (!finishedAt || observer.violations.length > 0) process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await cleanup();
  }
}

function eventLine(e: import("@kubernetes/client-node").CoreV1Event): string {
  const at = new Date(e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? 0);
  const time = at.toISOString().slice(11, 19);
  const object = e.involvedObject.name ?? "";
  return `${time} ${(e.type ?? "").padEnd(7)} ${(e.reason ?? "").padEnd(20)} ${object.padEnd(24)} ${(e.message ?? "").slice(0, 90)}`;
}

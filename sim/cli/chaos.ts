// `brupop chaos` (`npm run chaos`): a rollout in the simulated cluster while the operator's processes are killed at
// random moments and faults are injected, from a seeded, reproducible plan (sim/chaos/). Prints the invariant
// oracle's verdict (sim/oracle), each stuck node with its reason and the fault that made it stuck; exits 1 on any
// violation, any node lost, or a node stuck without a fault that justifies it.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";

function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected ${min}..${max}`);
    return n;
  };
}

const HELP = `
What is disrupted, from the moment the new version is published until --duration is over (one disruption every
5 s on average, at least 1.5 s apart; the plan is drawn from --seed, so a run can be repeated):
  kill-controller-leader   SIGKILL of the controller replica holding the Lease brupop-controller-leader
                           (at most one per 20 s: a new leader takes over only once the Lease expires, 15 s)
  kill-controller          SIGKILL of a random controller replica (at most one per 10 s)
  kill-apiserver           SIGKILL of a random API server replica (a drain it runs must be taken over)
  kill-agent               SIGKILL of a random agent, two times in three one whose node is mid-update
  host-fault               a one-shot fault on the host of a node still to update, at most one per node and
                           nodes/4 in all: prepare or activate fails, the new version panics at boot and rolls
                           back, the prepare process dies, the update dispatcher fails, the reboot's answer is
                           lost or delayed, prepare is slow
A SIGKILL is a container crash: the simulated kubelet restarts the process after a short back-off.

With --faults all, also (each kind at least once per run; no host fault twice before all were used):
  host-fault               besides the above: GET /updates/status answering 500 or a body cut short (before the
                           update, or as the host comes up from its reboot), a reboot refused once with a failing
                           deactivate, a request never answered; and, needing a person: a boot that never comes
                           back, a command hanging with the lock held, a host API answering nothing, a status file
                           corrupt until the next reboot (before the update, or right after the reboot)
  kill-agent-notready      a node's kubelet goes down for 20-60 s: Node NotReady, its agent stopped meanwhile
  restart-apiserver-mid-drain  the API server replica that starts the next drain is killed before the first poll
  cut-agent-off            a node's network is a black hole for 15-60 s (kube-apiserver and API server)
  restart-host-api         a host's API service restarts without a reboot: ECONNREFUSED for 3-20 s
  failover-window-end      the controller leader is killed 1.5 s before or 1 s after the update window closes
                           (the run uses SCHEDULER_CRON_EXPRESSION 0-44 * * * * *: 45 s of every minute)
  unmanage-node            a node leaves MANAGED_NODE_SELECTOR for 30-90 s, preferably mid-update
  delete-node              a node is deleted (its host powered off), preferably mid-update

Settings, and why:
  - the controller runs with its shipped defaults: brupop's crash backoff (3 min after a node's first failure,
    5 min after a second) and quarantine after 5 failures; one-shot faults fail a node once, so it retries after
    3 min and the run converges in a few minutes (about 4 to 8 for 20 nodes on 2 cores)
  - by default, faults no operator can recover from alone are left out (a hung boot, a wedged host API, a corrupt
    status file that needs a reboot); --faults all has them, and a node they hit may end stuck, reported
  - --faults all scales the operator's timeouts to the run's seconds-long host steps, keeping each controller timeout
    above what the agent allows itself: agent DRAIN_TIMEOUT_SECONDS 150, REBOOT_TIMEOUT_SECONDS 60; controller
    STATE_TIMEOUTS StagedAndPerformedUpdate=3m,RebootedIntoUpdate=4m,MonitoringUpdate=2m (Idle keeps 2m), so a node
    whose boot hangs is reported stuck within minutes; a run then takes about 8 to 9 minutes on 2 shared cores
  - host steps take seconds (the demo profile), agents sync every 2 s

The invariant oracle (sim/oracle/README.md) watches the nodes, pods, PodDisruptionBudgets and simulated hosts, and
checks on every change: I1 no host reboots while a pod its drain must evict is still bound to the node; I2 nodes
really disrupted (cordoned by the operator, or in a reboot it asked for) never exceed the budget; I3 no node stays
cordoned by the operator over 60 s without a reason on its shadow and an Event; I4 every node reaches the new version
(its host runs it, its Node shows it, uncordoned) or is reported stuck (a Warning Event and a reason) and not left
cordoned while Ready, and never 4 minutes without progress while a node could update; I5 updates start only inside
the window; and no PodDisruptionBudget below its desired healthy pods.

The many-seed verdict: --seeds 1..10 runs the seeds one after another and ends with a table (seed, wall time,
result, violations, updated, stuck with its reason, lost); exit 1 if any seed failed.

Passes (exit 0) only with zero oracle violations, zero nodes lost (neither updated nor reported stuck), and every
stuck node hit by a fault no operator repairs alone (a deleted node, a hung boot, a wedged or corrupt host API).`;

/** "1..10" → [1, 2, ..., 10]. */
function seedRange(v: string): number[] {
  const m = /^(\d+)\.\.(\d+)$/.exec(v);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from > to || to > 2 ** 31 - 1 || to - from >= 100) {
    throw new InvalidArgumentError("expected FROM..TO, at most 100 seeds (e.g. 1..10)");
  }
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export function chaosCommand(): Command {
  return new Command("chaos")
    .description("a rollout in a simulated cluster while the operator's processes are killed and host faults injected")
    .addOption(new Option("--nodes <n>", "simulated Bottlerocket nodes").default(20).argParser(intIn(1, 100)))
    .addOption(new Option("--budget <n>", "MAX_CONCURRENT_UPDATE").default(3).argParser(intIn(1, 100)))
    .addOption(
      new Option("--seed <n>", "seed of the disruption plan (default: random, printed)").argParser(
        intIn(0, 2 ** 31 - 1),
      ),
    )
    .addOption(
      new Option("--seeds <from..to>", "run these seeds one after another (e.g. 1..10), then a table of verdicts")
        .argParser(seedRange)
        .conflicts("seed"),
    )
    .addOption(
      new Option("--duration <seconds>", "disrupt during this long after publishing")
        .default(120)
        .argParser(intIn(0, 3_600)),
    )
    .addOption(
      new Option("--timeout <seconds>", "fail unless converged this long after publishing")
        .default(900)
        .argParser(intIn(1, 86_400)),
    )
    .addOption(
      new Option("--faults <set>", "which disruptions: the default set, or all kinds (see below)")
        .choices(["default", "all"] as const)
        .default("default" as const),
    )
    .option(
      "--json <file>",
      "write the JSON report here (default: a file in the temporary directory); with --seeds, a directory",
    )
    .option("--keep", "keep the cluster directory (process logs) after the run")
    .option("--verbose", "print the simulated cluster's own log lines")
    .addHelpText("after", HELP)
    .action(async (opts) => {
      if (opts.duration >= opts.timeout) {
        throw new InvalidArgumentError("--timeout must be longer than --duration");
      }
      const { runChaos } = await import("../chaos/run.ts");
      const { formatReport, formatSeedTable } = await import("../chaos/report.ts");
      const { writeFile, mkdir } = await import("node:fs/promises");
      const path = await import("node:path");
      const { tmpdir } = await import("node:os");
      const seeds = opts.seeds ?? [opts.seed ?? Math.floor(Math.random() * 2 ** 31)];
      let started = Date.now();
      const say = (line: string) =>
        console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
      const abort = new AbortController();
      const onSignal = () => {
        if (abort.signal.aborted) process.exit(130);
        say("interrupted: stopping the disruptions and cleaning up (again to quit at once)");
        abort.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const reports = [];
      try {
        for (const seed of seeds) {
          if (abort.signal.aborted) break;
          started = Date.now();
          const report = await runChaos({
            nodes: opts.nodes,
            budget: opts.budget,
            seed,
            durationMs: opts.duration * 1000,
            timeoutMs: opts.timeout * 1000,
            faults: opts.faults,
            keepDir: opts.keep === true,
            say,
            ...(opts.verbose ? { log: (line: string) => say(`  sim: ${line}`) } : {}),
            signal: abort.signal,
          });
          const name = `brupop-chaos-${seed}-${Date.now()}.json`;
          const file = path.resolve(
            opts.seeds ? path.join(opts.json ?? tmpdir(), name) : (opts.json ?? path.join(tmpdir(), name)),
          );
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
          console.log("");
          console.log(formatReport(report));
          console.log(`  JSON report            ${file}`);
          reports.push(report);
          if (!report.passed) process.exitCode = 1;
          if (report.interrupted) process.exitCode = 130;
        }
        if (opts.seeds) {
          console.log("");
          for (const line of formatSeedTable(reports)) console.log(line);
        }
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}

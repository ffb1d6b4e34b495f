// `brupop chaos` (`npm run chaos`): a rollout in the simulated cluster while the operator's processes are killed at
// random moments and host faults are injected, from a seeded, reproducible plan (sim/chaos/). Reports invariant
// violations (must be zero), nodes lost (must be zero) and the time to converge; exits 1 otherwise.
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

Settings, and why:
  - the controller runs with its shipped defaults: brupop's crash backoff (3 min after a node's first failure,
    5 min after a second) and quarantine after 5 failures; one-shot faults fail a node once, so it retries after
    3 min and the run converges in a few minutes (about 4 to 8 for 20 nodes on 2 cores)
  - faults no operator can recover from alone are left out (a hung boot, a wedged host API, a corrupt status
    file that needs a reboot): they would lose the node by design, not by a bug
  - host steps take seconds (the demo profile), agents sync every 2 s

Passes (exit 0) only with zero invariant violations (budget, no node cordoned without a reason, workloads never
below their PodDisruptionBudget's minAvailable, checked on every observed change), zero nodes lost (every node
Idle at the new version, uncordoned, its host up, its shadow present) and convergence within --timeout.`;

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
      new Option("--duration <seconds>", "disrupt during this long after publishing")
        .default(120)
        .argParser(intIn(0, 3_600)),
    )
    .addOption(
      new Option("--timeout <seconds>", "fail unless converged this long after publishing")
        .default(900)
        .argParser(intIn(1, 86_400)),
    )
    .option("--json <file>", "write the JSON report here (default: a file in the temporary directory)")
    .option("--keep", "keep the cluster directory (process logs) after the run")
    .option("--verbose", "print the simulated cluster's own log lines")
    .addHelpText("after", HELP)
    .action(async (opts) => {
      if (opts.duration >= opts.timeout) {
        throw new InvalidArgumentError("--timeout must be longer than --duration");
      }
      const { runChaos } = await import("../chaos/run.ts");
      const { formatReport } = await import("../chaos/report.ts");
      const { writeFile, mkdir } = await import("node:fs/promises");
      const path = await import("node:path");
      const { tmpdir } = await import("node:os");
      const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
      const started = Date.now();
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
      try {
        const report = await runChaos({
          nodes: opts.nodes,
          budget: opts.budget,
          seed,
          durationMs: opts.duration * 1000,
          timeoutMs: opts.timeout * 1000,
          keepDir: opts.keep === true,
          say,
          ...(opts.verbose ? { log: (line: string) => say(`  sim: ${line}`) } : {}),
          signal: abort.signal,
        });
        const file = path.resolve(opts.json ?? path.join(tmpdir(), `brupop-chaos-${seed}-${Date.now()}.json`));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
        console.log("");
        console.log(formatReport(report));
        console.log(`  JSON report            ${file}`);
        if (!report.passed) process.exitCode = 1;
        if (report.interrupted) process.exitCode = 130;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}

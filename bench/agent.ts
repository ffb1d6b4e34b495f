// Agent: memory and CPU of one real agent process at steady state and through one update. Runs
// bench/agent-memory.ts (the agent compiled to JavaScript as the image runs it, with the manifest's node flags,
// against a simulated host and the agent test stub, inside a memory cgroup limited to brupop's 50 MiB when this
// machine allows it) and records its JSON.
//
//   node bench/agent.ts [--seconds 20]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { runAgentMemory, type Phase } from "./agent-memory-result.ts";
import { environment, log, report } from "./lib.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "20" } } });
/** How long a stop may take (the agent's own grace before it gives up is 10 s). */
const STOP_GOAL_MS = 3_000;

const load = loadavg()[0] ?? 0;
log(`agent: node bench/agent-memory.ts --seconds ${values.seconds} (load average ${load.toFixed(2)})`);
const m = await runAgentMemory(["--seconds", values.seconds]);

const cg = m.cgroup.used ? m.cgroup : null;
const limit = cg?.memoryLimitMiB ?? null;
const oomKills = cg?.eventsTotal?.oomKills ?? 0;
const mib = (x: number | undefined): string => (x === undefined ? "n/a" : `${x} MiB`);
const faults = (p: Phase | null | undefined): string => String(p?.majorFaults ?? "n/a");
const update = m.update;
const headline: Record<string, string> = {};
if (cg) {
  headline[`Working set under the ${limit ?? "no"} MiB limit (usage − inactive_file): steady mean / max, update max`] =
    `${m.steady.cgroupMiB?.workingSet.mean ?? "n/a"} / ${mib(m.steady.cgroupMiB?.workingSet.max)}, ${mib(update?.cgroupMiB?.workingSet.max)}`;
  headline["cgroup usage / page cache charged (the binary's text) / anonymous, steady max"] =
    `${mib(m.steady.cgroupMiB?.usage.max)} / ${mib(m.steady.cgroupMiB?.file.max)} / ${mib(m.steady.cgroupMiB?.anon.max)}`;
  headline["OOM kills / times usage reached the limit (page cache reclaimed)"] =
    `${oomKills} / ${cg.eventsTotal?.limitHits ?? "n/a"}`;
  headline["Major page faults: start-up / steady state / update"] =
    `${faults(m.startup)} / ${faults(m.steady)} / ${faults(update)}`;
}
headline["Anonymous memory (heap, stacks): start-up / steady / update max"] =
  `${m.startup.anonymousMiB.max} / ${m.steady.anonymousMiB.max} / ${mib(update?.anonymousMiB.max)}`;
headline["RSS at steady state (mean / max), of which anonymous / file-backed (max)"] =
  `${m.rssMiB.mean} / ${m.rssMiB.max} MiB, ${m.steady.anonymousMiB.max} / ${m.steady.fileBackedMiB.max} MiB`;
headline["PSS / private (USS) at steady state, max"] = `${m.steady.pssMiB.max} / ${m.steady.privateMiB.max} MiB`;
headline["Start-up to the first status"] = `${m.startup.seconds} s, ${m.startup.cpuSeconds} s CPU`;
headline["CPU at steady state"] = `${m.cpu.seconds} s in ${m.seconds} s (${m.cpu.percentOfOneCore} % of one core)`;
if (update) {
  headline["One update (Idle → … → Idle)"] =
    `${update.completed ? "done" : "NOT done"} in ${update.seconds} s, ${update.cpuSeconds} s CPU`;
}
headline["Readiness probe / exit on SIGTERM"] =
  `${m.readyz} / ${JSON.stringify(m.exit?.code ?? m.exit?.signal)} after ${m.exit?.afterMs ?? "n/a"} ms`;
headline["Node flags"] = m.nodeFlags.join(" ") || "none";

const freshBinary = cg?.freshBinary;
await report({
  name: "agent",
  title: "Agent: one real agent process at steady state and through one update",
  at: new Date().toISOString(),
  environment: await environment(),
  parameters: {
    seconds: m.seconds,
    syncIntervalSeconds: m.syncIntervalSeconds,
    mode: m.mode,
    memoryLimitMiB: limit,
    loadAverage: Math.round(load * 100) / 100,
  },
  results: { ...m },
  headline,
  goals: [
    {
      description: `clean exit (0) within ${STOP_GOAL_MS / 1000} s of SIGTERM`,
      measured: `exit ${JSON.stringify(m.exit?.code ?? m.exit?.signal)} after ${m.exit?.afterMs ?? "n/a"} ms`,
      met: m.exit?.code === 0 && m.exit.afterMs !== undefined && m.exit.afterMs < STOP_GOAL_MS,
    },
    cg
      ? {
          description: `agent within brupop's ${m.budgetMiB} MiB limit, enforced as a cgroup memory limit of ${limit ?? "none"} MiB: no OOM kill, update done, working set ≤ ${m.budgetMiB} MiB`,
          measured: `working set ${m.measuredMiB} MiB max, ${oomKills} OOM kills, update ${update?.completed === true ? "done" : "not done"} (RSS ${m.rssMiB.max} MiB)`,
          met: m.withinBudget && limit !== null && limit <= m.budgetMiB,
        }
      : {
          description: `agent private memory ≤ ${m.budgetMiB} MiB (brupop's limit; no cgroup here)`,
          measured: `${m.measuredMiB} MiB max (RSS ${m.rssMiB.max} MiB)`,
          met: m.withinBudget,
        },
  ],
  notes: [
    cg
      ? "The budget is judged on the cgroup working set under a hard memory limit, as the kubelet enforces and reports it, not on RSS: most of the RSS is the node binary's clean text, page cache that the kernel reclaims under the limit instead of killing the agent."
      : `No memory cgroup (${m.cgroup.used ? "" : m.cgroup.reason}): the budget is judged on private memory (anonymous + private file pages), a lower bound, since the node binary's text, shared page cache that RSS counts, also needs some room under a real limit.`,
    ...(freshBinary && "readaheadKiB" in freshBinary
      ? [
          `The agent runs a private copy of the node binary and its libraries, dropped from the page cache first, so every page it touches is charged to its cgroup (a node just rebooted, no other process of its image): the worst case. Read-ahead ${freshBinary.readaheadKiB ?? "?"} KiB${freshBinary.loopDevice ? " (a loop device: this machine's disk reads ahead more than the kernel's default)" : ""}.`,
        ]
      : []),
    "The agent runs compiled to JavaScript (as in the image) with the manifest's node flags, against a simulated host socket and the agent test stub (HTTPS Kubernetes watches + brupop routes), not a full cluster; the node stays Idle during the steady state, then the stub drives one update.",
    "Where the limit starts to hurt (one update under each limit, major faults): see docs/adr/0007-agent-memory.md.",
  ],
});

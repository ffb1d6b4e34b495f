// Makespan against the physical limit: stand-in agents take fixed, realistic (scaled-down) times per step; N nodes
// under a budget of B cannot finish faster than ceil(N / B) waves × the host time of one node. Reports the ratio.
//
//   node bench/makespan.ts [--nodes 12] [--budget 3] [--prepare-ms 2000] [--reboot-ms 3000] [--monitor-ms 1000]
import { parseArgs } from "node:util";
import { environment, log, measureRollout, report, round, startBenchCluster } from "./lib.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "12" },
    budget: { type: "string", default: "3" },
    "prepare-ms": { type: "string", default: "2000" },
    "reboot-ms": { type: "string", default: "3000" },
    "monitor-ms": { type: "string", default: "1000" },
  },
});
const nodes = Number(values.nodes);
const budget = Number(values.budget);
const prepare = Number(values["prepare-ms"]);
const reboot = Number(values["reboot-ms"]);
const monitor = Number(values["monitor-ms"]);
const hostMsPerNode = prepare + reboot + monitor;
const physicalMs = Math.ceil(nodes / budget) * hostMsPerNode;
const GOAL_RATIO = 1.05;

const cluster = await startBenchCluster();
try {
  log(`makespan: ${nodes} nodes, budget ${budget}, host time ${hostMsPerNode} ms per node`);
  const m = await measureRollout(cluster, {
    nodes,
    budget,
    // The stand-in reports a state after the host work for it: prepare (download, stage, drain), reboot, monitor.
    durations: { StagedAndPerformedUpdate: prepare, RebootedIntoUpdate: reboot, MonitoringUpdate: monitor, Idle: 0 },
    prefix: "makespan",
    timeoutMs: physicalMs * 3 + 60_000,
  });
  const ratio = m.totalMs / physicalMs;
  await report({
    name: "makespan",
    title: "Makespan against the physical limit",
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: { nodes, budget, prepareMs: prepare, rebootMs: reboot, monitorMs: monitor },
    results: { ...m, hostMsPerNode, physicalLimitMs: physicalMs, ratio: round(ratio, 4) },
    headline: {
      "Physical limit": `${round(physicalMs / 1000, 1)} s (ceil(${nodes}/${budget}) waves × ${hostMsPerNode / 1000} s host time)`,
      "Measured makespan": `${round(m.totalMs / 1000, 2)} s`,
      "Makespan / physical limit": `${round(ratio, 3)} (${round((ratio - 1) * 100, 1)} % over)`,
      "Max nodes out of Idle (budget violations)": `${m.maxActive} (${m.budgetViolations})`,
      "Status → next spec write (p50 / p95 / p99 / max)": `${m.stepLatencyMs.p50} / ${m.stepLatencyMs.p95} / ${m.stepLatencyMs.p99} / ${m.stepLatencyMs.max} ms over ${m.stepLatencyMs.n} steps`,
    },
    goals: [
      {
        description: "makespan within 5 % of N/B × per-node host time",
        measured: `${round((ratio - 1) * 100, 1)} % over`,
        met: ratio <= GOAL_RATIO,
      },
      {
        description: "a status reaching spec.state is followed by the next spec write: p95 < 500 ms, max < 1 s",
        measured: `p95 ${m.stepLatencyMs.p95} ms, max ${m.stepLatencyMs.max} ms over ${m.stepLatencyMs.n} steps`,
        met: m.stepLatencyMs.p95 < 500 && m.stepLatencyMs.max < 1_000,
      },
    ],
    notes: [
      "Step durations are scaled down (seconds instead of minutes); with real durations the operator's fixed cost per step (tens of ms) is a smaller share, so the ratio measured here is an upper bound.",
      "Host time per node = prepare + reboot + monitor; the Idle report at the end is immediate. Drains are part of 'prepare' here (stand-in agents, no pods).",
    ],
  });
} finally {
  await cluster.stop();
}

// Operator overhead per node: a serial rollout (budget 1) of 20 nodes whose host steps and drains take ~0 (stand-in
// agents report each step as soon as they see it), so the time per node is what the operator itself costs:
// watch delivery, reconcile, the consistent LIST before a start, and the spec writes.
//
// --entry: the controller from TypeScript source (default, as the earlier results) or as the image runs it (bundle).
//
//   node bench/overhead.ts [--nodes 20] [--entry source|bundle]
import { parseArgs } from "node:util";
import { componentEntry, entryMode } from "./entry-points.ts";
import { environment, log, measureRollout, report, round, startBenchCluster } from "./lib.ts";

const { values } = parseArgs({
  options: { nodes: { type: "string", default: "20" }, entry: { type: "string", default: "source" } },
});
const nodes = Number(values.nodes);
const entry = entryMode(values.entry);
const controllerEntry = await componentEntry("controller", entry);
const GOAL_S_PER_NODE = 1;

const cluster = await startBenchCluster();
try {
  log(`overhead: serial rollout of ${nodes} nodes, steps take 0 ms`);
  const m = await measureRollout(cluster, {
    nodes,
    budget: 1,
    durations: {},
    prefix: "overhead",
    timeoutMs: 120_000 + nodes * 5_000,
    controller: { entry: controllerEntry },
  });
  const perNode = m.totalMs / nodes / 1000;
  await report({
    name: "overhead",
    title: "Operator overhead per node",
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: { nodes, budget: 1, stepDurationsMs: 0, entry },
    results: { ...m, secondsPerNode: round(perNode, 3) },
    headline: {
      "Total rollout time": `${round(m.totalMs / 1000, 2)} s (${nodes} nodes, budget 1)`,
      "Time per node": `${round(perNode * 1000)} ms`,
      "Status → next spec write (p50 / p99 / max)": `${m.stepLatencyMs.p50} / ${m.stepLatencyMs.p99} / ${m.stepLatencyMs.max} ms over ${m.stepLatencyMs.n} steps`,
      "Max nodes out of Idle (budget violations)": `${m.maxActive} (${m.budgetViolations})`,
      "Controller CPU during the rollout": `${m.controllerCpuSeconds} s`,
      "Controller RSS (max)": `${m.controllerRssMiB.max} MiB`,
    },
    goals: [
      {
        description: "serial rollout, ~0 host time: < 1 s per node",
        measured: `${round(perNode * 1000)} ms/node`,
        met: perNode < GOAL_S_PER_NODE,
      },
    ],
    notes: [
      `Real kube-apiserver 1.35 + kwok on loopback; the controller runs as its own process (${controllerEntry.what}); stand-in agents write shadow status with the admin client (no agent process, no API server, no drains).`,
      "Each node goes through 4 spec writes (StagedAndPerformedUpdate, RebootedIntoUpdate, MonitoringUpdate, Idle) and 4 status reports.",
    ],
  });
} finally {
  await cluster.stop();
}

// Agent: resident memory and CPU of one real agent process at steady state. Runs bench/agent-memory.ts (the agent
// compiled to JavaScript as the image runs it, against a simulated host and the agent test stub) and records its JSON.
//
//   node bench/agent.ts [--seconds 20]
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { environment, log, report, ROOT } from "./lib.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "20" } } });

interface AgentMemory {
  mode: string;
  seconds: number;
  syncIntervalSeconds: number;
  rssMiB: {
    mean: number;
    max: number;
    last: number;
    peakIncludingStartup: number;
    anonymous: number;
    fileBacked: number;
  };
  cpu: { seconds: number; percentOfOneCore: number };
  apiServerCalls: number;
  budgetMiB: number;
  withinBudget: boolean;
}

log(`agent: node bench/agent-memory.ts --seconds ${values.seconds}`);
const child = spawn(process.execPath, [join(ROOT, "bench/agent-memory.ts"), "--seconds", values.seconds], {
  stdio: ["ignore", "pipe", "inherit"],
});
let out = "";
child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
const code = await new Promise<number | null>((done) => child.on("exit", done));
if (code !== 0) throw new Error(`bench/agent-memory.ts exited with ${String(code)}`);
const m = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as AgentMemory;

await report({
  name: "agent",
  title: "Agent: one real agent process at steady state",
  at: new Date().toISOString(),
  environment: await environment(),
  parameters: { seconds: m.seconds, syncIntervalSeconds: m.syncIntervalSeconds, mode: m.mode },
  results: { ...m },
  headline: {
    "RSS at steady state (mean / max)": `${m.rssMiB.mean} / ${m.rssMiB.max} MiB`,
    "RSS anonymous / file-backed": `${m.rssMiB.anonymous} / ${m.rssMiB.fileBacked} MiB`,
    "Peak RSS including start-up": `${m.rssMiB.peakIncludingStartup} MiB`,
    CPU: `${m.cpu.seconds} s in ${m.seconds} s (${m.cpu.percentOfOneCore} % of one core)`,
    "Calls to the API server stub": String(m.apiServerCalls),
  },
  goals: [
    {
      description: `agent steady-state RSS ≤ ${m.budgetMiB} MiB (brupop's own limit)`,
      measured: `${m.rssMiB.max} MiB max`,
      met: m.withinBudget,
    },
  ],
  notes: [
    "The agent runs compiled to JavaScript (as in the image), against a simulated host socket and the agent test stub (HTTPS Kubernetes watches + brupop routes), not a full cluster; the node stays Idle.",
  ],
});

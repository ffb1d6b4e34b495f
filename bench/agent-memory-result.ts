// bench/agent-memory.ts run as a child process (its cgroup and its agent are its own), and the JSON it prints: for
// the benchmarks that report on one agent (bench/agent.ts, bench/footprint.ts).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./lib.ts";

export interface Stat {
  mean: number;
  max: number;
}
export interface Phase {
  rssMiB: Stat;
  anonymousMiB: Stat;
  fileBackedMiB: Stat;
  pssMiB: Stat;
  privateMiB: Stat;
  cgroupMiB: { usage: Stat; workingSet: Stat; anon: Stat; file: Stat; activeFile: Stat; inactiveFile: Stat } | null;
  majorFaults: number | null;
}
export interface AgentMemory {
  mode: string;
  nodeFlags: string[];
  seconds: number;
  syncIntervalSeconds: number;
  cgroup:
    | { used: false; reason: string }
    | {
        used: true;
        version: number;
        memoryLimitMiB: number | null;
        freshBinary: { readaheadKiB: number | null; loopDevice: boolean } | { skipped: string };
        eventsTotal: { limitHits: number; oom: number; oomKills: number } | null;
      };
  startup: Phase & { seconds: number; cpuSeconds: number };
  steady: Phase;
  update: (Phase & { completed: boolean; seconds: number; cpuSeconds: number; states: string[] }) | null;
  rssMiB: { mean: number; max: number; peakIncludingStartup: number; anonymous: number; fileBacked: number };
  cpu: { seconds: number; percentOfOneCore: number };
  /** null for --mode bare (no agent, no probe). */
  readyz: number | null;
  /** afterMs: from SIGTERM to the process's exit (absent in results from before it was measured). */
  exit: { code: number | null; signal: string | null; afterMs?: number } | undefined;
  apiServerCalls: number;
  budgetMiB: number;
  measure: string;
  measuredMiB: number;
  healthy: boolean;
  withinBudget: boolean;
}

/** Runs `node bench/agent-memory.ts <args>` and returns what it measured; throws if it failed. */
export async function runAgentMemory(args: readonly string[]): Promise<AgentMemory> {
  const child = spawn(process.execPath, [join(ROOT, "bench/agent-memory.ts"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  if (code !== 0) throw new Error(`bench/agent-memory.ts ${args.join(" ")} exited with ${String(code)}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as AgentMemory;
}

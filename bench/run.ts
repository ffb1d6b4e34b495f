// `npm run bench`: every benchmark in sequence, each in its own process (its own control plane), then
// bench/results/SUMMARY.md from all bench/results/*.json. A failing benchmark is reported and the others still run;
// the exit code is 0 unless a benchmark could not run at all (benchmarks report goals, they do not assert them).
//
//   node bench/run.ts [overhead makespan scale apiserver-auth agent leader-election deadlines reaction footprint]
import { spawn } from "node:child_process";
import { join } from "node:path";
import { BENCHMARKS, log, ROOT, writeSummary } from "./lib.ts";

const ALL: readonly string[] = BENCHMARKS;
const selected = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
const failed: string[] = [];
for (const name of selected) {
  if (!ALL.includes(name)) throw new Error(`unknown benchmark ${name}; one of ${ALL.join(", ")}`);
  log(`=== ${name}`);
  const began = Date.now();
  const child = spawn(process.execPath, [join(ROOT, "bench", `${name}.ts`)], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const code = await new Promise<number | null>((done) => child.on("exit", done));
  log(
    `=== ${name}: ${code === 0 ? "done" : `FAILED (exit ${String(code)})`} in ${Math.round((Date.now() - began) / 1000)} s`,
  );
  if (code !== 0) failed.push(name);
}
await writeSummary();
log(`results in bench/results/ (SUMMARY.md)${failed.length > 0 ? `; failed: ${failed.join(", ")}` : ""}`);
process.exitCode = failed.length > 0 ? 1 : 0;

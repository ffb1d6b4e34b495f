// A small chaos run (the machinery of `npm run chaos`, sim/chaos/): 4 nodes, a 25-second plan of process kills
// and host faults, then convergence. Only faults that do not fail a node are used here, so that no node waits out
// brupop's 3-minute crash backoff; `npm run chaos` uses the failing ones too.
import { describe, expect, it } from "vitest";
import { runChaos } from "../../sim/chaos/run.ts";
import { formatReport } from "../../sim/chaos/report.ts";
import { DURATIONS } from "./support.ts";

describe("chaos (small)", () => {
  it("converges with zero violations and zero nodes lost while processes are killed and hosts misbehave", async () => {
    const report = await runChaos({
      nodes: 4,
      budget: 2,
      seed: 20_251_125,
      durationMs: 25_000,
      meanGapMs: 2_500,
      // Room for Kubernetes' 2-minute hold on an evicted StatefulSet pod's budget (support.ts), on a loaded machine.
      timeoutMs: 420_000,
      profile: "fast",
      durations: { ...DURATIONS, prepareMs: 2_500, rebootMs: 2_500 },
      hostFaults: ["reboot-drop", "reboot-delay:1500", "slow:prepare:4000", "refresh"],
      maxHostFaults: 2,
      ...(process.env.E2E_VERBOSE ? { say: (line: string) => console.error(line) } : {}),
    });
    const summary = formatReport(report);
    console.log(summary);
    const performed = Object.values(report.performed).reduce((a, b) => a + b, 0);
    expect(performed, summary).toBeGreaterThanOrEqual(5);
    expect(report.oracle.violations, summary).toEqual([]);
    expect(report.oracle.rebootChecks.reboots, summary).toBeGreaterThanOrEqual(4);
    expect(report.lost, summary).toEqual([]);
    expect(report.converged, summary).toBe(true);
    expect(report.maxOutOfIdle).toBeLessThanOrEqual(2);
    expect(report.oracle.maxDisrupted).toBeLessThanOrEqual(2);
    expect(report.passed).toBe(true);
  }, 600_000);
});

import { describe, expect, it } from "vitest";
import { parseFaultSpec } from "../host/faults.ts";
import {
  ALL_HOST_FAULTS,
  DEFAULT_HOST_FAULTS,
  DEFAULT_WEIGHTS,
  FAULT_SETS,
  FIRST_HOST_FAULTS,
  KIND_LIMITS,
  needsAPerson,
  DEFAULT_KIND_SPACING_MS,
  DISRUPTION_KINDS,
  chaosPlan,
  countByKind,
  defaultMaxHostFaults,
  resolveDraw,
  type ChaosPlanOptions,
} from "./plan.ts";

const nodes = Array.from({ length: 20 }, (_, i) => `bottlerocket-${i + 1}`);
const base: ChaosPlanOptions = { seed: 1, nodes, durationMs: 180_000 };

describe("chaosPlan", () => {
  it("gives the same plan for the same seed and a different one for another seed", () => {
    expect(chaosPlan(base)).toEqual(chaosPlan(base));
    expect(chaosPlan({ ...base, seed: 2 })).not.toEqual(chaosPlan(base));
  });

  it("stays within the period, in time order, with the minimum gap and about the mean rate", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const plan = chaosPlan({ ...base, seed, meanGapMs: 5_000, minGapMs: 1_500 });
      expect(plan.length).toBeGreaterThan(0);
      for (const [i, d] of plan.entries()) {
        expect(d.atMs).toBeGreaterThanOrEqual(1_500);
        expect(d.atMs).toBeLessThan(180_000);
        if (i > 0) expect(d.atMs - (plan[i - 1]?.atMs ?? 0)).toBeGreaterThanOrEqual(1_499);
        expect(d.draw).toBeGreaterThanOrEqual(0);
        expect(d.draw).toBeLessThan(1);
      }
      // 180 s at one per 5 s on average: 36 slots, some skipped by the per-kind limits.
      expect(plan.length).toBeLessThanOrEqual(60);
      expect(plan.length).toBeGreaterThanOrEqual(15);
    }
  });

  it("spaces disruptions of one kind and bounds host faults to the limit, one per node at most", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const plan = chaosPlan({ ...base, seed });
      for (const kind of DISRUPTION_KINDS) {
        const times = plan.filter((d) => d.kind === kind).map((d) => d.atMs);
        const spacing = DEFAULT_KIND_SPACING_MS[kind] ?? 0;
        for (let i = 1; i < times.length; i++) {
          expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(spacing);
        }
      }
      expect(countByKind(plan)["host-fault"]).toBeLessThanOrEqual(defaultMaxHostFaults(nodes.length));
      const twoNodes = chaosPlan({ ...base, seed, nodes: nodes.slice(0, 2), maxHostFaults: 9 });
      expect(countByKind(twoNodes)["host-fault"]).toBeLessThanOrEqual(2);
    }
  });

  it("uses every default kind over a long plan, and only valid one-shot fault specs", () => {
    const plan = chaosPlan({ ...base, durationMs: 600_000, maxHostFaults: 20 });
    const counts = countByKind(plan);
    for (const kind of DISRUPTION_KINDS) {
      if (DEFAULT_WEIGHTS[kind] > 0) expect(counts[kind], kind).toBeGreaterThan(0);
      else expect(counts[kind], kind).toBe(0);
    }
    for (const d of plan.filter((x) => x.kind === "host-fault")) {
      expect(DEFAULT_HOST_FAULTS).toContain(d.fault);
      expect(parseFaultSpec(d.fault ?? "").remaining).toBe(1);
    }
    for (const d of plan.filter((x) => x.kind === "kill-agent")) expect(["busy", "any"]).toContain(d.prefer);
  });

  it("--faults all: every kind in every 120-s plan of 20 nodes, within its limits; host faults not repeated", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const plan = chaosPlan({ ...base, seed, durationMs: 120_000, ...FAULT_SETS.all, maxHostFaults: 6 });
      const counts = countByKind(plan);
      for (const kind of DISRUPTION_KINDS) {
        expect(counts[kind], `seed ${seed}: ${kind}`).toBeGreaterThan(0);
        expect(counts[kind]).toBeLessThanOrEqual(KIND_LIMITS[kind] ?? Infinity);
      }
      const faults = plan.flatMap((d) => (d.kind === "host-fault" ? [d.fault] : []));
      expect(new Set(faults).size).toBe(faults.length);
      expect(faults.length).toBeGreaterThanOrEqual(FIRST_HOST_FAULTS.length); // five of twenty nodes
      expect([...faults.slice(0, FIRST_HOST_FAULTS.length)].sort()).toEqual([...FIRST_HOST_FAULTS].sort());
      for (const f of faults) expect(ALL_HOST_FAULTS).toContain(f);
      for (const d of plan.filter((x) => x.durationMs !== undefined)) expect(d.durationMs).toBeGreaterThan(0);
    }
  });

  it("every host fault of --faults all is a valid spec; those needing a person are the ones no operator repairs", () => {
    for (const f of ALL_HOST_FAULTS) {
      for (const part of f.replace(/^after-reboot:/, "").split("+")) expect(() => parseFaultSpec(part)).not.toThrow();
    }
    expect(ALL_HOST_FAULTS.filter(needsAPerson)).toEqual([
      "boot-hang",
      "hang:prepare",
      "stall@always",
      "status-corrupt",
      "after-reboot:status-corrupt",
    ]);
  });

  it("honours weights: a weight of 0 disables a kind", () => {
    const plan = chaosPlan({ ...base, weights: { "host-fault": 0, "kill-agent": 0 } });
    const counts = countByKind(plan);
    expect(counts["host-fault"]).toBe(0);
    expect(counts["kill-agent"]).toBe(0);
    expect(counts["kill-apiserver"]).toBeGreaterThan(0);
  });

  it("keeps later draws stable when a limit changes (same slots, same kinds elsewhere)", () => {
    const a = chaosPlan({ ...base, maxHostFaults: 1 });
    const b = chaosPlan({ ...base, maxHostFaults: 5 });
    // Both plans draw the same gaps: every time in one plan is a slot time of the other or was skipped there.
    const times = new Set([...a, ...b].map((d) => d.atMs));
    expect(a.every((d) => times.has(d.atMs))).toBe(true);
    expect(a[0]?.atMs).toBe(b[0]?.atMs);
  });

  it("is empty for a zero period and rejects nonsense", () => {
    expect(chaosPlan({ ...base, durationMs: 0 })).toEqual([]);
    expect(() => chaosPlan({ ...base, seed: 1.5 })).toThrow(/seed/);
    expect(() => chaosPlan({ ...base, minGapMs: 0 })).toThrow(/minGapMs/);
    expect(() => chaosPlan({ ...base, minGapMs: 5_000, meanGapMs: 1_000 })).toThrow(/meanGapMs/);
  });
});

describe("resolveDraw", () => {
  it("maps a draw onto the candidates, and nothing onto none", () => {
    expect(resolveDraw(["a", "b", "c"], 0)).toBe("a");
    expect(resolveDraw(["a", "b", "c"], 0.5)).toBe("b");
    expect(resolveDraw(["a", "b", "c"], 0.999)).toBe("c");
    expect(resolveDraw([], 0.5)).toBeUndefined();
  });
});

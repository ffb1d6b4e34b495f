import { describe, expect, it } from "vitest";
import { gateJobName } from "./gate-jobs.ts";

describe("gateJobName", () => {
  const at = "2026-12-06T11:00:00.000Z";

  it("is the same for the same node, gate and attempt, whoever computes it", () => {
    expect(gateJobName("brs-node-1", "smoke", at)).toBe(gateJobName("brs-node-1", "smoke", at));
    expect(gateJobName("brs-node-1", "smoke", at)).toMatch(/^brupop-gate-smoke-[0-9a-f]{12}$/);
  });

  it("differs for another attempt, gate or node", () => {
    const names = new Set([
      gateJobName("brs-node-1", "smoke", at),
      gateJobName("brs-node-1", "smoke", "2026-12-06T11:05:00.000Z"),
      gateJobName("brs-node-1", "disk", at),
      gateJobName("brs-node-2", "smoke", at),
    ]);
    expect(names.size).toBe(4);
  });

  it("fits a label value (a Job's name becomes its pods' job-name label) with the longest gate name", () => {
    const name = gateJobName(`brs-${"n".repeat(250)}`, "g".repeat(63), at);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

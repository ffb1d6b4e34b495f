import { describe, expect, it } from "vitest";
import { NOW, brs, k8sNode } from "../../test/support/cli-fixtures.ts";
import { observedFleetReport, waitingFor } from "./fleet-report.ts";

describe("waitingFor", () => {
  const failedAt = new Date(NOW.getTime() - 60_000).toISOString();
  const observed = {
    shadows: () => [
      brs("n1", { status: { target_version: "1.26.0", crash_count: 1, state_transition_failure_timestamp: failedAt } }),
      brs("n2", { status: { current_version: "1.26.0", target_version: "1.26.0" } }),
    ],
    nodes: () => [k8sNode("n1"), k8sNode("n2"), k8sNode("n3")],
  };
  const report = observedFleetReport(observed, "ns", { env: {}, found: "deployment" }, NOW);

  it("names each awaited node with the controller's reason, else what keeps it from counting as done", () => {
    expect(waitingFor(report, ["n1", "n2", "n3"], (node) => (node === "n2" ? ["left cordoned"] : []))).toBe(
      "n1 (backoff until 10:02:00, 1 failure), n2 (left cordoned), n3 (agent-missing)",
    );
  });

  it("names the first few and counts the rest", () => {
    const many = Array.from({ length: 9 }, () => "n1");
    expect(waitingFor(report, many, () => [])).toMatch(/\), and 3 more$/);
  });

  it("honours the controller's backoff unit", () => {
    const fast = observedFleetReport(observed, "ns", { env: { FAILURE_BACKOFF_UNIT: "1s" }, found: "deployment" }, NOW);
    // Failed a minute ago, 3 s of backoff: it may start now.
    expect(waitingFor(fast, ["n1"], () => [])).toBe("n1 (starting (1.25.0 → 1.26.0), 1 failure)");
  });
});

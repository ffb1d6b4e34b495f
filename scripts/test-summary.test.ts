import { describe, expect, it } from "vitest";
import { summary, type Report } from "./test-summary.ts";

// The shape vitest 5's JSON reporter gives a file whose beforeAll threw (its tests "skipped") next to a passing one.
const report: Report = {
  numPassedTests: 1,
  numFailedTests: 0,
  numPendingTests: 2,
  numTodoTests: 0,
  testResults: [
    {
      name: "/repo/sim/seeded-random.test.ts",
      status: "passed",
      message: "",
      assertionResults: [{ status: "passed" }],
    },
    {
      name: "/repo/test/integration/prometheus.test.ts",
      status: "failed",
      message: "the prometheus binary was not found on PATH: install Debian's prometheus package\nstack…",
      assertionResults: [{ status: "skipped" }, { status: "skipped" }],
    },
  ],
};

describe("test summary", () => {
  it("counts a file that failed outside its tests as a failure, and names it", () => {
    expect(summary(report, "/repo")).toEqual([
      "tests: 1 passed, 1 failed, 2 skipped (1 file failed outside a test)",
      "  failed: test/integration/prometheus.test.ts: the prometheus binary was not found on PATH: install Debian's prometheus package",
    ]);
  });

  it("a file with failed tests counts by its tests", () => {
    const failing: Report = {
      ...report,
      numFailedTests: 2,
      numPendingTests: 0,
      testResults: [
        { name: "/repo/a.test.ts", status: "failed", assertionResults: [{ status: "failed" }, { status: "failed" }] },
      ],
    };
    expect(summary(failing, "/repo")).toEqual(["tests: 1 passed, 2 failed, 0 skipped"]);
  });
});

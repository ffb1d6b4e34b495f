// Prints vitest's JSON report as one plain closing line, "tests: N passed, N failed, N skipped", followed by the files
// that failed outside any test (an error in a hook or at import: their tests are reported as skipped, so without this
// a file that could not run at all would read as "0 failed").
import { readFileSync } from "node:fs";
import { relative } from "node:path";

export interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: readonly {
    name: string;
    status: string;
    message?: string;
    assertionResults: readonly { status: string }[];
  }[];
}

export function summary(report: Report, root = process.cwd()): string[] {
  const broken = report.testResults.filter(
    (file) => file.status === "failed" && !file.assertionResults.some((test) => test.status === "failed"),
  );
  const failed = report.numFailedTests + broken.length;
  const skipped = report.numPendingTests + report.numTodoTests;
  const lines = [
    `tests: ${report.numPassedTests} passed, ${failed} failed, ${skipped} skipped` +
      (broken.length > 0 ? ` (${broken.length} file${broken.length === 1 ? "" : "s"} failed outside a test)` : ""),
  ];
  for (const file of broken) {
    const why = (file.message ?? "").split("\n")[0] ?? "";
    lines.push(`  failed: ${relative(root, file.name)}: ${why === "" ? "no message" : why}`);
  }
  return lines;
}

if (import.meta.main) {
  const file = process.argv[2] ?? "test-results/vitest.json";
  for (const line of summary(JSON.parse(readFileSync(file, "utf8")) as Report)) console.log(line);
}

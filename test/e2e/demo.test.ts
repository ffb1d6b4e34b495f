// The README's demo commands, run as a user runs them: `npm run demo` in a terminal (a pseudo-terminal of the size a
// terminal emulator opens with, 80 × 24), where the fleet view is redrawn in place, and through a pipe, where each
// change is one line; the same summary either way, the exit code, and an exit right after the summary. Then
// `npm run demo -- --fail bottlerocket-2:boot@always`: the failing node's backoff, retries and quarantine, told to the
// end. Each run starts its own simulated cluster of 6 nodes with the demo's defaults.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, shell, shellInTerminal, type Finished } from "./run-command.ts";

/** What each run may take at most: the demo's own time (about 100 s, 200 s with --fail) on a loaded machine. */
const TIMEOUT_MS = 600_000;
const NODES = [
  "bottlerocket-1",
  "bottlerocket-2",
  "bottlerocket-3",
  "bottlerocket-4",
  "bottlerocket-5",
  "bottlerocket-6",
];
/** CPL + ED: the cursor back up over the live block, the screen cleared from there (sim/cli/live-output.ts). */
// eslint-disable-next-line no-control-regex
const REDRAW = /\u001b\[\d+F\u001b\[J/g;
// eslint-disable-next-line no-control-regex
const ANY_ESCAPE = /\u001b\[/;
/** What a line holds before CHA 1 + EL (cursor to column 1, erase the line): gone from the screen. */
// eslint-disable-next-line no-control-regex
const ERASED_LINE = /[^\n]*\u001b\[1G\u001b\[0K/g;

/** The summary, printed to the test's log too (the README's numbers come from such runs). */
function summaryOf(out: string): string {
  const at = out.lastIndexOf("\nSummary");
  expect(at, "a summary").toBeGreaterThan(0);
  console.log(out.slice(at));
  return out.slice(at);
}

/** The summary is the last thing shown, and the process (npm with it) ends at once after it. */
function expectEndsWithSummary(run: Finished): void {
  const out = run.stdout.replaceAll("\r", "").replace(ERASED_LINE, "").trimEnd();
  const at = out.lastIndexOf("\nSummary\n");
  expect(at).toBeGreaterThan(0);
  // Nothing but the summary's own (indented) lines after its heading, the oracle's verdict among them.
  const body = out.slice(at + "\nSummary\n".length);
  expect(body.split("\n").filter((line) => !line.startsWith("  "))).toEqual([]);
  expect(body).toMatch(/\n {2}invariant oracle: PASSED \(/);
  expect(run.quietBeforeExitMs).toBeLessThan(1_000);
}

function expectCommonSummary(summary: string): void {
  expect(summary).toMatch(/\n {2}host reboots {11}\d+/);
  expect(summary).toMatch(/\n {2}workloads {14}never below minAvailable/);
  expect(summary).toMatch(/\n {2}budget {17}at most 1 node\(s\) disrupted at once \(budget 1\)/);
}

/** The start-up: each step once; the API server's Service refusing clients while its pods start is not printed. */
function expectStartUp(out: string): void {
  expect(out).toMatch(/\] starting a simulated cluster: 6 Bottlerocket nodes at 1\.25\.0, budget 1\n/);
  const ready = out.indexOf("simulated cluster ready: 6 nodes, operator running");
  expect(ready).toBeGreaterThan(0);
  expect(out.slice(0, ready)).not.toContain("brupop-apiserver Service");
  expect(out).not.toContain("ReferenceError");
}

describe("the README's demo", () => {
  it("the README's quick start and its --fail example are the commands run here", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const quickStart = /## Quick start\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    expect(quickStart.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim())).toEqual([
      "npm ci && npm run demo",
      "npm test",
      "",
    ]);
    expect(readme).toContain("`npm run demo -- --fail bottlerocket-2:boot@always`");
  });

  it(
    "npm run demo in a terminal: start-up steps, a live view redrawn in place with why each node waits, the summary",
    async () => {
      const run = await shellInTerminal("npm run demo", { rows: 24, columns: 80 }, { timeoutMs: TIMEOUT_MS });
      // npm's spinner on a terminal: a frame, then back to column 1 and the line erased (CHA + EL), as it leaves it.
      const screen = run.stdout.replaceAll("\r", "").replace(ERASED_LINE, "");
      expect(run.code, screen).toBe(0);
      expectStartUp(screen);
      // The live view: redrawn many times; the table with each node's state, version and why it waits, within 80
      // columns (a changing node's STATE is where it is going, so that WHY fits).
      expect(screen.match(REDRAW)?.length ?? 0).toBeGreaterThan(5);
      expect(screen).toMatch(/Rollout 1\.25\.0 → 1\.26\.0, budget 1: [\d.]+ s since publish/);
      expect(screen).toMatch(/\nNODE +STATE +VERSION +WHY\n/);
      expect(screen).toMatch(/\nbottlerocket-\d +→ \S+ +1\.2[56]\.0 +in-progress/);
      expect(screen).toMatch(/\nbottlerocket-\d +Idle +1\.25\.0 +budget-full \(1\/1\)\n/);
      expect(screen).toMatch(/RECENT EVENTS\n {2}\d\d:\d\d:\d\d Normal +UpdateStarted +brs-bottlerocket-\d/);
      // The last view stays on the screen above the summary: every node updated, its WHY in full.
      const lastView = screen.slice(screen.lastIndexOf("Rollout 1.25.0"), screen.lastIndexOf("\nSummary"));
      for (const node of NODES) expect(lastView).toMatch(new RegExp(`\\n${node} +Idle +1\\.26\\.0 +up-to-date\\n`));
      expect(lastView).toMatch(/\nupdated 6\/6 {3}updating 0 {3}pods evicted \d+\n/);
      const summary = summaryOf(screen);
      expect(summary).toMatch(/\n {2}nodes updated {10}6\/6 to 1\.26\.0 in [\d.]+ s after publishing\n/);
      expectCommonSummary(summary);
      expectEndsWithSummary(run);
    },
    TIMEOUT_MS + 60_000,
  );

  it(
    "npm run demo through a pipe: one line per change, no terminal control codes, the same summary",
    async () => {
      const run = await shell("npm run demo", { timeoutMs: TIMEOUT_MS });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).not.toMatch(ANY_ESCAPE);
      expectStartUp(run.stdout);
      // The API server's Service, its pods moved by a drain: an outage is one line when it begins and one when it
      // ends, never one per refused connection.
      const begins = run.stdout.split("refusing clients until one does").length - 1;
      const ends = run.stdout.split("accepts connections again").length - 1;
      expect(begins - ends).toBeLessThanOrEqual(1);
      expect(begins).toBeLessThanOrEqual(6);
      const rows = run.stdout.split("\n").filter((l) => /^\[ *[\d.]+ s\] bottlerocket-\d /.test(l));
      // Each node from Idle at 1.25.0, through its update, to Idle at 1.26.0; a node's line only when it changed.
      for (const node of NODES) {
        const mine = rows.filter((l) => l.includes(`] ${node} `)).map((l) => l.replace(/^\[ *[\d.]+ s\] /, ""));
        expect(mine[0], node).toMatch(/^bottlerocket-\d +Idle +1\.25\.0 +up-to-date$/);
        expect(
          mine.some((l) => / → .*in-progress/.test(l)),
          node,
        ).toBe(true);
        expect(mine.at(-1), node).toMatch(/^bottlerocket-\d +Idle +1\.26\.0 +up-to-date$/);
        for (let i = 1; i < mine.length; i++) expect(mine[i], `${node} line ${i}`).not.toBe(mine[i - 1]);
      }
      expect(rows.some((l) => /Idle +1\.25\.0 +budget-full \(1\/1\)$/.test(l))).toBe(true);
      expect(run.stdout).toMatch(/\] {3}event \d\d:\d\d:\d\d Normal +UpdateSucceeded +brs-bottlerocket-\d/);
      const summary = summaryOf(run.stdout);
      expect(summary).toMatch(/\n {2}nodes updated {10}6\/6 to 1\.26\.0 in [\d.]+ s after publishing\n/);
      expectCommonSummary(summary);
      expectEndsWithSummary(run);
    },
    TIMEOUT_MS + 60_000,
  );

  it(
    "npm run demo -- --fail bottlerocket-2:boot@always: backoff, retries, quarantine, the backoff compressed and said so",
    async () => {
      const run = await shell("npm run demo -- --fail bottlerocket-2:boot@always", { timeoutMs: TIMEOUT_MS });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(
        /crash backoff compressed for the demo \(FAILURE_BACKOFF_UNIT=1s; a real install: 1m\): a failed node is retried after 3, 5, 9, 17 s, quarantined after 5 failures/,
      );
      const mine = run.stdout.split("\n").filter((l) => l.includes("] bottlerocket-2 "));
      expect(mine.some((l) => /backoff until \d\d:\d\d:\d\d, 1 failure$/.test(l))).toBe(true);
      expect(mine.some((l) => /backoff until \d\d:\d\d:\d\d, 4 failures$/.test(l))).toBe(true);
      expect(mine.at(-1)).toMatch(/Idle +1\.25\.0 +quarantined after 5 failures$/);
      expect(run.stdout).toMatch(/event .* Warning Quarantined +brs-bottlerocket-2/);
      const summary = summaryOf(run.stdout);
      expect(summary).toMatch(
        /\n {2}nodes updated {10}5\/6 to 1\.26\.0; the rest quarantined, [\d.]+ s after publishing\n/,
      );
      expect(summary).toMatch(
        /\n {2}bottlerocket-2 {9}quarantined after 5 failures in 5 attempts, each retried after its backoff; not retried until a person looks \(brupop unquarantine bottlerocket-2\)\n {25}last failure: .*failed to boot/,
      );
      expectCommonSummary(summary);
      expectEndsWithSummary(run);
    },
    TIMEOUT_MS + 60_000,
  );
});

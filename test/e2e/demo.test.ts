// `npm run demo` as a user runs it: in a terminal (a pseudo-terminal), where the fleet view is redrawn in place, and
// through a pipe, where each change is one line; the same summary either way, the exit code, and an exit right after
// the summary. Then `--fail NODE:boot@always`: the failing node's backoff, retries and quarantine, told to the end.
// Each run starts its own simulated cluster (2 nodes, host steps in milliseconds).
import { describe, expect, it } from "vitest";
import { devCli, devCliInTerminal, type Finished } from "./run-command.ts";

const FAST = ["--nodes", "2", "--profile", "fast"];
const TIMEOUT_MS = 420_000;
/** CPL + ED: the cursor back up over the live block, the screen cleared from there (sim/cli/live-output.ts). */
// eslint-disable-next-line no-control-regex
const REDRAW = /\u001b\[\d+F\u001b\[J/g;
// eslint-disable-next-line no-control-regex
const ANY_ESCAPE = /\u001b\[/;

function summaryOf(out: string): string {
  const at = out.lastIndexOf("\nSummary");
  expect(at, "a summary").toBeGreaterThan(0);
  return out.slice(at);
}

/** The summary is the last thing printed, and the process ends at once after it. */
function expectEndsWithSummary(run: Finished): void {
  const last = run.stdout.replaceAll("\r", "").trimEnd().split("\n").at(-1) ?? "";
  expect(last).toMatch(/^ {2}invariant violations {3}0 \(checked on \d+ shadow/);
  expect(run.quietBeforeExitMs).toBeLessThan(1_000);
}

function expectCommonSummary(summary: string): void {
  expect(summary).toMatch(/\n {2}host reboots {11}\d+/);
  expect(summary).toMatch(/\n {2}workloads {14}never below minAvailable/);
  expect(summary).toMatch(/\n {2}budget {17}at most 1 node\(s\) out of Idle at once \(budget 1\)/);
}

describe("npm run demo", () => {
  it("in a terminal: start-up steps, a live view redrawn in place with why each node waits, then the summary", async () => {
    const run = await devCliInTerminal(["demo", ...FAST], { rows: 40, columns: 160 }, { timeoutMs: TIMEOUT_MS });
    const screen = run.stdout.replaceAll("\r", "");
    expect(run.code, screen).toBe(0);
    expect(screen).not.toContain("ReferenceError");
    // Start-up: each step once; the API server's Service refusing clients while its pods start is not printed.
    expect(screen).toMatch(/\] starting a simulated cluster: 2 Bottlerocket nodes at 1\.25\.0, budget 1\n/);
    expect(screen).toMatch(/\] simulated cluster ready: 2 nodes, operator running/);
    expect(screen.slice(0, screen.indexOf("simulated cluster ready"))).not.toContain("brupop-apiserver Service");
    // The live view: redrawn many times; the table with each node's state, version and why it waits.
    expect(screen.match(REDRAW)?.length ?? 0).toBeGreaterThan(5);
    expect(screen).toMatch(/Rollout 1\.25\.0 → 1\.26\.0, budget 1: [\d.]+ s since publish/);
    expect(screen).toContain("NODE            STATE                                          VERSION  WHY");
    expect(screen).toMatch(/\nbottlerocket-\d +\S+ → \S+ +1\.2[56]\.0 +in-progress/);
    expect(screen).toMatch(/\nbottlerocket-\d +Idle +1\.25\.0 +budget-full \(1\/1\)/);
    expect(screen).toMatch(/\nupdated 2\/2 {3}updating 0 {3}pods evicted \d+/);
    expect(screen).toMatch(/RECENT EVENTS\n {2}\d\d:\d\d:\d\d Normal +UpdateStarted +brs-bottlerocket-\d/);
    const summary = summaryOf(screen);
    expect(summary).toMatch(/\n {2}nodes updated {10}2\/2 to 1\.26\.0 in [\d.]+ s after publishing\n/);
    expectCommonSummary(summary);
    expectEndsWithSummary(run);
  });

  it("through a pipe: one line per change, no terminal control codes, the same summary", async () => {
    const run = await devCli(["demo", ...FAST], { timeoutMs: TIMEOUT_MS });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(ANY_ESCAPE);
    // The API server's Service: nothing while its pods start; later (its pods moved by a drain) an outage is one line
    // when it begins and one when it ends, never one per refused connection.
    const ready = run.stdout.indexOf("simulated cluster ready");
    expect(ready).toBeGreaterThan(0);
    expect(run.stdout.slice(0, ready)).not.toContain("brupop-apiserver Service");
    const begins = run.stdout.split("refusing clients until one does").length - 1;
    const ends = run.stdout.split("accepts connections again").length - 1;
    expect(begins - ends).toBeLessThanOrEqual(1);
    expect(begins).toBeLessThanOrEqual(4);
    const rows = run.stdout.split("\n").filter((l) => /^\[ *[\d.]+ s\] bottlerocket-\d /.test(l));
    // Each node from Idle at 1.25.0, through its update, to Idle at 1.26.0; a node's line only when it changed.
    for (const node of ["bottlerocket-1", "bottlerocket-2"]) {
      const mine = rows.filter((l) => l.includes(`] ${node} `)).map((l) => l.replace(/^\[ *[\d.]+ s\] /, ""));
      expect(mine[0], node).toMatch(/^bottlerocket-\d +Idle +1\.25\.0 +up-to-date$/);
      expect(
        mine.some((l) => / → .*in-progress/.test(l)),
        node,
      ).toBe(true);
      expect(mine.at(-1), node).toMatch(/^bottlerocket-\d +Idle +1\.26\.0 +up-to-date$/);
      for (let i = 1; i < mine.length; i++) expect(mine[i], `${node} line ${i}`).not.toBe(mine[i - 1]);
    }
    expect(run.stdout).toMatch(/\] {3}event \d\d:\d\d:\d\d Normal +UpdateSucceeded +brs-bottlerocket-1/);
    const summary = summaryOf(run.stdout);
    expect(summary).toMatch(/\n {2}nodes updated {10}2\/2 to 1\.26\.0 in [\d.]+ s after publishing\n/);
    expectCommonSummary(summary);
    expectEndsWithSummary(run);
  });

  it("--fail NODE:boot@always: backoff, retries, quarantine, with the backoff compressed and said so", async () => {
    const run = await devCli(["demo", ...FAST, "--fail", "bottlerocket-2:boot@always"], { timeoutMs: TIMEOUT_MS });
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
      /\n {2}nodes updated {10}1\/2 to 1\.26\.0; the rest quarantined, [\d.]+ s after publishing\n/,
    );
    expect(summary).toMatch(
      /\n {2}bottlerocket-2 {9}quarantined after 5 failures in 5 attempts, each retried after its backoff; not retried until a person looks \(brupop unquarantine bottlerocket-2\)\n {25}last failure: .*failed to boot/,
    );
    expectEndsWithSummary(run);
  });
});

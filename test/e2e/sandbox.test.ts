// The README's sandbox commands, run as written from the repository root: `npm run cluster -- up --detach` starts the
// operator (every node managed, shown by `bin/brupop status` and `kubectl get brs`), `fault` arms a host fault on one
// node, `publish` starts a rollout that `bin/brupop status --watch` and `kubectl get brs -w` follow (the faulty node
// backing off), and `down` leaves nothing behind. The sandbox is the README's: .cluster/ in the repository.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StatusView } from "../../src/cli/status-view.ts";
import { isAlive } from "../../sim/cli/cluster.ts";
import { ROOT, shell, userEnv } from "./run-command.ts";

const TIMEOUT_MS = 300_000;
const SANDBOX = join(ROOT, ".cluster");
const KUBECONFIG = join(SANDBOX, "kubeconfig");
const NAMESPACE = "brupop-bottlerocket-aws";

/** The README's sandbox block, comments dropped: what this test runs, in this order. */
const README_COMMANDS = [
  "npm run cluster -- up --detach",
  "export KUBECONFIG=$PWD/.cluster/kubeconfig",
  "bin/brupop status",
  "npm run cluster -- fault bottlerocket-2 prepare",
  "npm run cluster -- publish 1.26.0",
  "bin/brupop status --watch",
  "npm run cluster -- down",
];

/** Set once this test has started `up` in a .cluster/ that did not exist before. */
let ours = false;

afterAll(async () => {
  // A failed test must not leave its sandbox running (and never stops one it did not start).
  if (ours && existsSync(SANDBOX)) await shell("npm run cluster -- down", { timeoutMs: 60_000 });
});

/** After `export KUBECONFIG=$PWD/.cluster/kubeconfig`, from the repository root. */
const exported = () => userEnv({ KUBECONFIG });
const inShell = (line: string, timeoutMs = 60_000) => shell(line, { env: exported(), timeoutMs });

interface Watch {
  /** Everything the command printed until stopped. */
  readonly output: () => string;
  readonly stop: () => void;
  /** Resolves once the output matches every pattern (each watch redraws at its own pace); rejects after `timeoutMs`. */
  readonly until: (patterns: readonly RegExp[], timeoutMs: number) => Promise<void>;
}

/** A command that runs until stopped (a watch), its output collected; `onLine` sees each complete line. */
function watch(command: string, args: readonly string[], onLine: (line: string) => void = () => undefined): Watch {
  const child = spawn(command, [...args], { cwd: ROOT, env: exported() });
  let out = "";
  let buffer = "";
  const waiters = new Set<() => void>();
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    buffer += chunk.toString();
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) onLine(line);
    for (const check of waiters) check();
  });
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const until = (patterns: readonly RegExp[], timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!patterns.every((p) => p.test(out))) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        const missing = patterns.filter((p) => !p.test(out)).join(", ");
        reject(new Error(`${command}: no ${missing} within ${timeoutMs} ms; printed:\n${out.slice(-2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { output: () => out, stop: () => child.kill("SIGINT"), until };
}

/** `bin/brupop status --watch -o json` (the same watch, machine-readable) until a document satisfies `done`. */
function watchStatusUntil(done: (view: StatusView) => boolean, timeoutMs: number): Promise<StatusView[]> {
  return new Promise((resolve, reject) => {
    const seen: StatusView[] = [];
    const w = watch(join(ROOT, "bin", "brupop"), ["status", "--watch", "-o", "json"], (line) => {
      if (line.trim() === "") return;
      const view = JSON.parse(line) as StatusView;
      seen.push(view);
      if (!done(view)) return;
      clearTimeout(timer);
      w.stop();
      resolve(seen);
    });
    const timer = setTimeout(() => {
      w.stop();
      reject(new Error(`status --watch: not done within ${timeoutMs} ms; last: ${JSON.stringify(seen.at(-1))}`));
    }, timeoutMs);
  });
}

describe("the README's sandbox", () => {
  it("up runs the operator, publish starts a rollout seen by brupop status --watch, down removes everything", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const block = /To try the `brupop` command[^\n]*\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    expect(block.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim())).toEqual([...README_COMMANDS, ""]);
    expect(existsSync(SANDBOX), `${SANDBOX} exists: a sandbox of yours? \`npm run cluster -- down\` first`).toBe(false);

    ours = true;
    const up = await shell("npm run cluster -- up --detach", { timeoutMs: TIMEOUT_MS });
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const state = JSON.parse(await readFile(join(SANDBOX, "state.json"), "utf8")) as {
      pid: number;
      kubectl: string;
      controlPlaneDir: string;
    };
    // How to use it, printed.
    expect(up.stdout).toContain(`export KUBECONFIG=${KUBECONFIG}`);
    expect(up.stdout).toContain(`kubectl get brs -n ${NAMESPACE}`);
    expect(up.stdout).toContain("bin/brupop status");
    expect(up.stdout).toContain("npm run cluster -- publish 1.26.0");
    expect(up.stdout).toContain("npm run cluster -- fault bottlerocket-2 prepare");
    expect(up.stdout).toContain("npm run cluster -- fault bottlerocket-2 boot@always");
    expect(up.stdout).toContain("npm run cluster -- down");

    // The operator runs: every node has a shadow its agent reports on, and nothing waits.
    const status = await inShell("bin/brupop status");
    expect(status.code, status.stderr).toBe(0);
    const json = await inShell("bin/brupop status -o json");
    const initial = JSON.parse(json.stdout) as StatusView;
    expect(initial.managedNodes).toBe(3);
    expect(initial.notes).toEqual([]);
    expect(initial.nodes.map((n) => [n.node, n.state, n.version, n.reason.code])).toEqual([
      ["bottlerocket-1", "Idle", "1.25.0", "up-to-date"],
      ["bottlerocket-2", "Idle", "1.25.0", "up-to-date"],
      ["bottlerocket-3", "Idle", "1.25.0", "up-to-date"],
    ]);
    for (const node of ["bottlerocket-1", "bottlerocket-2", "bottlerocket-3"]) {
      expect(status.stdout).toMatch(new RegExp(`\\n${node} .*1\\.25\\.0`));
    }
    // kubectl shows brupop's columns for the shadows.
    const brs = await inShell(`${state.kubectl} get brs -n ${NAMESPACE}`);
    expect(brs.code, brs.stderr).toBe(0);
    expect(brs.stdout).toMatch(/^NAME +STATE +VERSION +TARGET STATE +TARGET VERSION +CRASH COUNT\n/);
    expect(brs.stdout.trim().split("\n")).toHaveLength(4);

    // A fault on one node (a wrong node named as such), then the rollout.
    const wrong = await inShell("npm run cluster -- fault bottlerocket-9 prepare");
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain(
      "no node bottlerocket-9: the nodes are bottlerocket-1, bottlerocket-2, bottlerocket-3",
    );
    const fault = await inShell("npm run cluster -- fault bottlerocket-2 prepare");
    expect(fault.code, fault.stderr).toBe(0);
    expect(fault.stdout).toContain("armed fault prepare on bottlerocket-2's host");

    const text = watch("sh", ["-c", "bin/brupop status --watch"]);
    const kubectl = watch(state.kubectl, ["get", "brs", "-n", NAMESPACE, "-w"]);
    // Done: bottlerocket-1 and -3 updated, bottlerocket-2 backing off after its failed prepare (1m × 3 with the
    // operator's default FAILURE_BACKOFF_UNIT: its retry is the demo's story, not waited for here).
    const done = (view: StatusView) =>
      view.nodes.every((n) =>
        n.node === "bottlerocket-2"
          ? n.reason.code === "backoff"
          : n.version === "1.26.0" && n.state === "Idle" && n.reason.code === "up-to-date",
      );
    const watching = watchStatusUntil(done, TIMEOUT_MS);
    const publish = await inShell("npm run cluster -- publish 1.26.0");
    expect(publish.code, publish.stderr).toBe(0);
    expect(publish.stdout).toContain("published Bottlerocket 1.26.0 to 3 simulated hosts");
    const views = await watching;
    // What a person watching saw: the table redrawn with the updated nodes and the one backing off, and kubectl's
    // rows of the shadows at the new version (each watch catches up at its own pace).
    await text.until([/\nbottlerocket-1 .*1\.26\.0/, /\nbottlerocket-2 .*backoff/], 60_000);
    await kubectl.until(
      [/\nbrs-bottlerocket-1 +Idle +1\.26\.0 +Idle +1\.26\.0/, /\nbrs-bottlerocket-3 +Idle +1\.26\.0 +Idle +1\.26\.0/],
      60_000,
    );
    text.stop();
    kubectl.stop();
    const reasons = (node: string) => new Set(views.map((v) => v.nodes.find((n) => n.node === node)?.reason.code));
    expect(reasons("bottlerocket-1").has("in-progress")).toBe(true);
    expect(reasons("bottlerocket-3").has("in-progress")).toBe(true);
    expect(reasons("bottlerocket-2").has("backoff")).toBe(true);
    const last = views.at(-1)?.nodes.find((n) => n.node === "bottlerocket-2");
    expect(last?.version).toBe("1.25.0");

    // Down: the process, the state directory and the control plane's directory are gone.
    const down = await shell("npm run cluster -- down", { timeoutMs: 60_000 });
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain("sandbox stopped");
    expect(isAlive(state.pid)).toBe(false);
    expect(existsSync(SANDBOX)).toBe(false);
    expect(existsSync(state.controlPlaneDir)).toBe(false);
    const after = await inShell("bin/brupop status");
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/cannot load the kubeconfig|no such file/);
  });
});

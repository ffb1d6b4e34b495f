// The sandbox as a user tries it: `npm run cluster -- up` starts the operator (every node managed, shown by
// `bin/brupop status`), `fault` arms a host fault on one node, `publish` starts a rollout that `bin/brupop status
// --watch` follows to the end (the faulty node backing off, then retried), and `down` leaves nothing behind.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StatusView } from "../../src/cli/status-view.ts";
import { isAlive } from "../../sim/cli/cluster.ts";
import { BRUPOP, ROOT, devCli, run } from "./run-command.ts";

const TIMEOUT_MS = 300_000;

let dir = "";
let kubeconfig = "";
let upPid: number | undefined;

afterAll(async () => {
  // A failed test must not leave the sandbox running.
  if (upPid !== undefined && isAlive(upPid)) await devCli(["cluster", "down", "--dir", dir], { timeoutMs: 60_000 });
  if (dir !== "") await rm(dir, { recursive: true, force: true });
});

const brupopEnv = () => ({ ...process.env, KUBECONFIG: kubeconfig });

/** Runs `bin/brupop status --watch -o json` until a document satisfies `done`; every document seen. */
function watchStatus(done: (view: StatusView) => boolean, timeoutMs: number): Promise<StatusView[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(BRUPOP, ["status", "--watch", "-o", "json"], { cwd: ROOT, env: brupopEnv() });
    const seen: StatusView[] = [];
    let buffer = "";
    const timer = setTimeout(() => {
      child.kill("SIGINT");
      reject(new Error(`status --watch: not done within ${timeoutMs} ms; last: ${JSON.stringify(seen.at(-1))}`));
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines.filter((l) => l.trim() !== "")) {
        const view = JSON.parse(line) as StatusView;
        seen.push(view);
        if (done(view)) {
          clearTimeout(timer);
          child.kill("SIGINT");
          resolve(seen);
        }
      }
    });
    child.once("error", reject);
  });
}

describe("npm run cluster", () => {
  it("up runs the operator, publish starts a rollout seen by brupop status, down removes everything", async () => {
    dir = await mkdtemp(join(tmpdir(), "brupop-sandbox-"));
    const sandbox = join(dir, "state");
    const up = await devCli(
      ["cluster", "up", "--detach", "--dir", sandbox, "--nodes", "2", "--profile", "fast", "--backoff-unit", "1s"],
      { timeoutMs: TIMEOUT_MS },
    );
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const state = JSON.parse(await readFile(join(sandbox, "state.json"), "utf8")) as {
      pid: number;
      kubeconfig: string;
      controlPlaneDir: string;
    };
    upPid = state.pid;
    kubeconfig = state.kubeconfig;
    // How to use it, printed.
    expect(up.stdout).toContain(`export KUBECONFIG=${kubeconfig}`);
    expect(up.stdout).toContain("kubectl get brs -n brupop-bottlerocket-aws");
    expect(up.stdout).toContain("bin/brupop status");
    expect(up.stdout).toContain("npm run cluster -- publish 1.26.0");
    expect(up.stdout).toContain("npm run cluster -- fault bottlerocket-2 boot@always");
    expect(up.stdout).toContain("npm run cluster -- down");

    // The operator runs: every node has a shadow its agent reports on, and nothing waits.
    const before = await run(BRUPOP, ["status", "-o", "json"], { env: brupopEnv(), timeoutMs: 60_000 });
    expect(before.code, before.stderr).toBe(0);
    const initial = JSON.parse(before.stdout) as StatusView;
    expect(initial.managedNodes).toBe(2);
    expect(initial.notes).toEqual([]);
    expect(initial.nodes.map((n) => [n.node, n.state, n.version, n.reason.code])).toEqual([
      ["bottlerocket-1", "Idle", "1.25.0", "up-to-date"],
      ["bottlerocket-2", "Idle", "1.25.0", "up-to-date"],
    ]);

    // A fault on one node, then the rollout.
    const fault = await devCli(["cluster", "fault", "bottlerocket-2", "prepare", "--dir", sandbox], {
      timeoutMs: 60_000,
    });
    expect(fault.code, fault.stderr).toBe(0);
    expect(fault.stdout).toContain("armed fault prepare on bottlerocket-2's host");
    const wrong = await devCli(["cluster", "fault", "bottlerocket-9", "prepare", "--dir", sandbox], {
      timeoutMs: 60_000,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("no node bottlerocket-9: the nodes are bottlerocket-1, bottlerocket-2");

    const watching = watchStatus(
      (view) => view.nodes.every((n) => n.version === "1.26.0" && n.state === "Idle" && n.targetState === "Idle"),
      TIMEOUT_MS,
    );
    const publish = await devCli(["cluster", "publish", "1.26.0", "--dir", sandbox], { timeoutMs: 60_000 });
    expect(publish.code, publish.stderr).toBe(0);
    expect(publish.stdout).toContain("published Bottlerocket 1.26.0 to 2 simulated hosts");
    const views = await watching;
    const reasons = (node: string) => new Set(views.map((v) => v.nodes.find((n) => n.node === node)?.reason.code));
    expect(reasons("bottlerocket-1").has("in-progress")).toBe(true);
    expect(reasons("bottlerocket-2").has("backoff")).toBe(true);
    expect(reasons("bottlerocket-2").has("in-progress")).toBe(true);
    expect(views.at(-1)?.nodes.map((n) => [n.node, n.version, n.reason.code])).toEqual([
      ["bottlerocket-1", "1.26.0", "up-to-date"],
      ["bottlerocket-2", "1.26.0", "up-to-date"],
    ]);

    // Down: the process, the state directory and the control plane's directory are gone.
    const down = await devCli(["cluster", "down", "--dir", sandbox], { timeoutMs: 60_000 });
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain("sandbox stopped");
    expect(isAlive(state.pid)).toBe(false);
    expect(existsSync(sandbox)).toBe(false);
    expect(existsSync(state.controlPlaneDir)).toBe(false);
    const after = await run(BRUPOP, ["status"], { env: brupopEnv(), timeoutMs: 60_000 });
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/cannot load the kubeconfig|no such file/);
  });
});

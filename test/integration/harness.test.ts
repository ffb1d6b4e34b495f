// The harness's own promises: nothing is left running when the test runner dies, and `brupop cluster` gives a
// working cluster to kubectl. Each test starts a control plane of its own (about 8 s).
import { describe, it, expect, inject } from "vitest";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { eventually } from "../support/cluster.ts";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("control plane processes", () => {
  it("are stopped and their directory removed when the owning process is killed with SIGKILL", async () => {
    const script = `
      import { startControlPlane } from ${JSON.stringify(join(root, "sim/control-plane/control-plane.ts"))};
      const cp = await startControlPlane({ binDir: ${JSON.stringify(inject("controlPlane").binDir)} });
      console.log(JSON.stringify({ dir: cp.dir, pids: cp.processes.map((p) => p.pid) }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const started = await eventually(
      "child control plane started",
      async () => (out.includes("\n") ? (JSON.parse(out) as { dir: string; pids: number[] }) : undefined),
      60_000,
    );
    expect(started.pids).toHaveLength(5); // etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
    expect(started.pids.every(alive)).toBe(true);
    child.kill("SIGKILL");
    await eventually(
      "all control plane processes gone and the directory removed",
      async () => (started.pids.some(alive) || existsSync(started.dir) ? undefined : true),
      30_000,
    );
  });
});

describe("npm run cluster (the development CLI, sim/cli/main.ts)", () => {
  it("up --detach gives a cluster kubectl can use, down stops it", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "brupop-cluster-cmd-"));
    // What `npm run cluster -- ...` runs.
    const cli = join(root, "sim/cli/main.ts");
    const dev = (args: string[], o: { cwd: string }) => run(process.execPath, [cli, ...args], o);
    try {
      const up = await dev(["cluster", "up", "--nodes", "2", "--detach"], { cwd });
      expect(up.stdout).toContain(`kubeconfig: ${join(cwd, ".cluster/kubeconfig")}`);
      const kubectl = join(inject("controlPlane").binDir, "kubectl");
      const nodes = await run(kubectl, [
        "--kubeconfig",
        join(cwd, ".cluster/kubeconfig"),
        "get",
        "nodes",
        "--no-headers",
      ]);
      const lines = nodes.stdout.trim().split("\n");
      expect(lines.map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
        ["bottlerocket-1", "Ready"],
        ["bottlerocket-2", "Ready"],
      ]);
      const status = await dev(["cluster", "status"], { cwd });
      expect(status.stdout).toContain("bottlerocket-1, bottlerocket-2");
      const down = await dev(["cluster", "down"], { cwd });
      expect(down.stdout).toContain("cluster stopped");
      await expect(dev(["cluster", "status"], { cwd })).rejects.toMatchObject({ code: 1 });
    } finally {
      await dev(["cluster", "down"], { cwd }).catch(() => undefined);
      await rm(cwd, { recursive: true, force: true });
    }
  });
});

// The harness's own promise: nothing is left running when the test runner dies. The test starts a control plane of
// its own (about 8 s). `npm run cluster` (a sandbox with the operator) is tested end to end: test/e2e/sandbox.test.ts.
import { describe, it, expect, inject } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { eventually } from "../support/cluster.ts";

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

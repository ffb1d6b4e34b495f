import { afterEach, describe, expect, it } from "vitest";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { minutesAndSeconds, provisionStep, resolveBinDir } from "./provision.ts";

describe("provision progress", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  /** A stand-in for scripts/testenv/provision: not provisioned; builds in two steps, the second until `release`. */
  async function standIn(): Promise<{ script: string; release: string }> {
    const dir = await mkdtemp(join(tmpdir(), "provision-test-"));
    dirs.push(dir);
    const release = join(dir, "release");
    const script = join(dir, "provision");
    await writeFile(
      script,
      `#!/usr/bin/env bash
[[ "\${1:-}" == "--bin-dir" ]] && exit 1
echo "[provision 10:00:00] kwok: building" >&2
echo "[provision 10:00:01] kubernetes: building kube-apiserver kubectl" >&2
while [[ ! -f ${release} ]]; do sleep 0.05; done
echo "${dir}/bin"
`,
    );
    await chmod(script, 0o755);
    return { script, release };
  }

  it("reports each step as it starts, and a long step again with the time spent", async () => {
    const { script, release } = await standIn();
    const lines: string[] = [];
    const binDir = await resolveBinDir(
      (line) => {
        lines.push(line);
        // Let the build finish once the long step has been reported as still running.
        if (line.includes("still")) void writeFile(release, "");
      },
      { script, heartbeatMs: 50 },
    );
    expect(binDir).toBe(join(script, "..", "bin"));
    expect(lines[0]).toMatch(/not built yet: building it once/);
    expect(lines).toContain("building the test control plane: kwok: building");
    expect(lines).toContain("building the test control plane: kubernetes: building kube-apiserver kubectl");
    expect(lines.find((l) => l.includes("still"))).toMatch(
      /^building the test control plane: still kubernetes: building kube-apiserver kubectl \(\d+ s on this step, \d+ s in all\)$/,
    );
  });

  it("a failed build says so with the script's last lines", async () => {
    const dir = await mkdtemp(join(tmpdir(), "provision-test-"));
    dirs.push(dir);
    const script = join(dir, "provision");
    await writeFile(script, `#!/usr/bin/env bash\necho "provision: Go is required" >&2\nexit 1\n`);
    await chmod(script, 0o755);
    await expect(resolveBinDir(() => undefined, { script })).rejects.toThrow(
      /provision failed \(exit 1\):\nprovision: Go is required/,
    );
  });

  it("formats steps and durations", () => {
    expect(provisionStep("[provision 12:34:56] etcd: building")).toBe("etcd: building");
    expect(provisionStep("go: some error")).toBe("go: some error");
    expect(minutesAndSeconds(42_400)).toBe("42 s");
    expect(minutesAndSeconds(75_000)).toBe("1 min 15 s");
  });
});

// End to end from the image: the same rollout as rollout.test.ts, with every operator pod's process started from the
// built image (`npm run image`, amd64) rather than the source tree: the manifest's command line over the image's
// entrypoint, in the image's read-only root (sim/container). What users will run is what updates the nodes.
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { containerCommand, type ComponentName } from "../../src/deploy/pod.ts";
import { builtImage } from "../support/image.ts";
import { expectConverged, expectNoViolations, start, stopClustersAfterEach, TO, until, updated } from "./support.ts";

stopClustersAfterEach();

describe("a rollout of 5 nodes with budget 2, the operator run from its image", () => {
  it("ends with every node Idle at the new version; every operator process ran in the image's root", async () => {
    const { layout } = await builtImage();
    const running = await start({ budget: 2, image: { layout } });
    const { cluster, observer } = running;

    // Which root and command line each running operator process has, seen from outside (/proc).
    const seen = new Map<string, { root: string; cmdline: string[] }>();
    const look = () => {
      for (const [component, runner] of Object.entries(cluster.runners) as [
        ComponentName,
        typeof cluster.runners.agent,
      ][]) {
        for (const [pod, proc] of runner.processes()) {
          if (!proc?.running()) continue;
          try {
            const root = readlinkSync(`/proc/${proc.pid}/root`);
            const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0").slice(0, -1);
            // Until the wrapper has exec'd into the image, the process is still unshare or sh.
            if (root !== "/") seen.set(`${component}/${pod}`, { root, cmdline });
          } catch {
            // exited meanwhile
          }
        }
      }
    };
    const publishedAt = Date.now();
    cluster.publish(TO);
    await until("every node updated", 480_000, () => {
      look();
      return cluster.nodeNames.every((n) => updated(observer, n));
    });
    console.log(`from the image: 5 nodes updated in ${((Date.now() - publishedAt) / 1000).toFixed(1)} s`);
    await expectConverged(running);
    await expectNoViolations(running);
    expect(observer.maxOutOfIdle).toBe(2);

    const rootfs = join(cluster.dir, "image-rootfs");
    const components = new Set([...seen.keys()].map((k) => k.split("/")[0]));
    expect([...components].sort()).toEqual(["agent", "apiserver", "controller"]);
    for (const [key, { root, cmdline }] of seen) {
      expect(root, key).toBe(rootfs);
      const { command, args } = containerCommand(key.split("/")[0] as ComponentName);
      expect(cmdline, key).toEqual([...command, ...args]);
    }
  }, 600_000);
});

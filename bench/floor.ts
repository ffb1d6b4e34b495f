// The floor under a component's memory: what a process costs that only starts Node, or only loads the libraries
// the controller and the API server are built on, bundled as the image bundles them, with the same node flags and
// runtime environment. The footprint benchmark reports it next to the components' RSS, so that what is the
// runtime's and the libraries' is told apart from what is ours (issue 17: "show where the memory goes and the floor").
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bundleAsImage } from "./entry-points.ts";
import { processMemoryMiB } from "./lib.ts";

export interface Floor {
  what: string;
  /** RSS once settled (5 s after start). */
  rssMiB: number;
  /** JavaScript loaded, for the library cases. */
  bundleKiB?: number;
}

/** Entry points that keep every export of a library reachable: what an importer of the whole library loads. */
const LIBRARIES: Record<string, string> = {
  "node:https with a TLS context (what any Kubernetes client loads)": "bench/floor-entries/tls.ts",
  "the controller's libraries with TLS (bundled, every export kept)": "bench/floor-entries/controller-libraries.ts",
  "the API server's libraries with TLS (bundled, every export kept)": "bench/floor-entries/apiserver-libraries.ts",
  "@kubernetes/client-node (bundled, every export kept)": "bench/floor-entries/client-node.ts",
  "undici (bundled, every export kept)": "bench/floor-entries/undici.ts",
};

async function rssOf(args: string[], cwd: string, env: Readonly<Record<string, string>>): Promise<number> {
  const child = spawn(process.execPath, args, { cwd, stdio: "ignore", env: { ...process.env, ...env } });
  try {
    await sleep(5_000);
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode}`);
    return (await processMemoryMiB(child.pid ?? 0)).rss;
  } finally {
    child.kill("SIGKILL");
  }
}

export async function measureFloors(
  nodeFlags: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<Floor[]> {
  const floors: Floor[] = [];
  const idle = "setInterval(() => {}, 1 << 30);";
  floors.push({ what: "bare node", rssMiB: await rssOf([...nodeFlags, "-e", idle], process.cwd(), env) });
  for (const [what, entry] of Object.entries(LIBRARIES)) {
    const b = await bundleAsImage(entry, `floor/${floors.length}.js`);
    floors.push({
      what,
      rssMiB: await rssOf([...nodeFlags, b.path], dirname(b.path), env),
      bundleKiB: Math.round(b.bytes / 1024),
    });
  }
  return floors;
}

import { bundleAsImage } from "../../entry-points.ts";
import { processMemoryMiB } from "../../lib.ts";
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NODE_FLAGS, RUNTIME_ENV } from "../../../src/deploy/pod.ts";
for (const lib of process.argv.slice(2)) {
  const b = await bundleAsImage(`bench/floor-entries/tmp/${lib}.ts`, `floor/tmp-${lib}.js`);
  const rs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = spawn(process.execPath, [...NODE_FLAGS.apiserver, "--optimize-for-size", b.path], { cwd: dirname(b.path), stdio: "ignore", env: { ...process.env, ...RUNTIME_ENV.apiserver } });
    await sleep(4000);
    rs.push((await processMemoryMiB(c.pid ?? 0)).rss);
    c.kill("SIGKILL");
  }
  console.log(lib, Math.round(b.bytes / 1024), "KiB", rs.map((r) => r.toFixed(1)).join(" "));
}

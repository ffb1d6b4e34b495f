// Writes the generated install files: `bottlerocket-update-operator.yaml` (default options) and both Helm charts
// (files.ts), and removes files of the charts' directories that are no longer generated. `--check` writes nothing
// and exits 1 when a committed file differs or is left over (for CI).
//
//   node src/deploy/generate.ts [--check]
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { CHARTS_DIR, HAND_WRITTEN_CHART_FILES, generatedFiles } from "./files.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const check = process.argv.includes("--check");
const files = generatedFiles();
let stale = 0;
for (const [path, content] of Object.entries(files)) {
  const file = join(root, path);
  const current = await readFile(file, "utf8").catch(() => undefined);
  if (current === content) continue;
  if (check) {
    stale++;
    console.error(`${relative(process.cwd(), file)} is out of date; run npm run manifests`);
  } else {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
    console.log(`wrote ${relative(process.cwd(), file)}`);
  }
}
const present = await readdir(join(root, CHARTS_DIR), { recursive: true, withFileTypes: true });
for (const entry of present) {
  if (!entry.isFile() || HAND_WRITTEN_CHART_FILES.includes(entry.name)) continue;
  const path = relative(root, join(entry.parentPath, entry.name));
  if (path in files) continue;
  if (check) {
    stale++;
    console.error(`${path} is no longer generated; run npm run manifests`);
  } else {
    await rm(join(root, path));
    console.log(`removed ${path}`);
  }
}
if (stale > 0) process.exitCode = 1;

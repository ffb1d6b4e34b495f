// Writes the generated install files: `bottlerocket-update-operator.yaml` (default options) and the Helm chart's
// generated CRD template. `--check` writes nothing and exits 1 when a committed file differs (for CI).
//
//   node src/deploy/generate.ts [--check]
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { generatedFiles } from "./files.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const check = process.argv.includes("--check");
let stale = 0;
for (const [path, content] of Object.entries(generatedFiles())) {
  const file = join(root, path);
  const current = await readFile(file, "utf8").catch(() => undefined);
  if (current === content) continue;
  if (check) {
    stale++;
    console.error(`${relative(process.cwd(), file)} is out of date; run npm run manifests`);
  } else {
    await writeFile(file, content);
    console.log(`wrote ${relative(process.cwd(), file)}`);
  }
}
if (stale > 0) process.exitCode = 1;

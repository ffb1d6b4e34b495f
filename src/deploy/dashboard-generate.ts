// Writes deploy/examples/grafana-dashboard.json from src/deploy/dashboard.ts. `--check` writes nothing and exits 1
// when the committed file differs. The dashboard test compares the parsed JSON, so formatting alone never fails it.
//
//   node src/deploy/dashboard-generate.ts [--check]
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { grafanaDashboardJson } from "./dashboard.ts";

const DASHBOARD_PATH = "deploy/examples/grafana-dashboard.json";

const file = join(dirname(fileURLToPath(import.meta.url)), "..", "..", DASHBOARD_PATH);
// Formatted as `prettier --check .` wants it (the lint step checks every file).
const content = await format(grafanaDashboardJson(), { ...(await resolveConfig(file)), filepath: file });
const current = await readFile(file, "utf8").catch(() => undefined);
if (current !== content) {
  if (process.argv.includes("--check")) {
    console.error(`${relative(process.cwd(), file)} is out of date; run node src/deploy/dashboard-generate.ts`);
    process.exitCode = 1;
  } else {
    await writeFile(file, content);
    console.log(`wrote ${relative(process.cwd(), file)}`);
  }
}

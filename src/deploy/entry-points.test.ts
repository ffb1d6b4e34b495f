// The image holds one bundle per entry point; each process must load only what it needs. Checked on the static
// import graph of the sources (dynamic `import()` included) and on the bundles the image is built from (esbuild's
// account of what it put in each): no component loads a Kubernetes client library or prom-client, nor an HTTP
// server framework, and the components never load each other. An entry point not written yet is reported as skipped.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { bundle } from "../../scripts/image/bundle.ts";

const src = join(import.meta.dirname, "..");
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Every module reachable from `entry`: local files (relative to src/) and packages. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    const rel = relative(src, file);
    if (files.has(rel)) return;
    files.add(rel);
    const text = readFileSync(file, "utf8").replace(/^\s*\/\/.*$/gm, "");
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? "";
      if (/^import\s+type\s/.test(m[0].trim())) continue; // erased at compile time
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
      else if (!spec.startsWith("node:"))
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec));
    }
  };
  visit(join(src, entry));
  return { files, packages };
}

const RULES: [entry: string, forbiddenPackages: string[], forbiddenDirs: string[]][] = [
  [
    "agent/main.ts",
    ["@kubernetes/client-node", "fastify", "@fastify/type-provider-typebox", "prom-client"],
    ["apiserver/", "controller/", "../", "cli/", "deploy/"],
  ],
  // No component loads @kubernetes/client-node: its generated models are most of a process's memory
  // (docs/design/footprint.md); src/kube/client.ts is their client. Its types may be imported (`import type`).
  // Nor prom-client: 2.2 MiB per process; src/metrics writes the exposition (src/metrics/README.md).
  // Nor fastify the API server: its HTTP layer is src/apiserver/http on node:http (6.4 MiB less, its README).
  [
    "apiserver/main.ts",
    [
      "@kubernetes/client-node",
      "prom-client",
      "fastify",
      "@fastify/rate-limit",
      "@fastify/type-provider-typebox",
      "find-my-way",
    ],
    ["agent/", "controller/", "../", "cli/", "deploy/"],
  ],
  // Nor TypeBox the controller: kube-apiserver validates its objects; the policy's names are in update-policy-names.ts.
  [
    "controller/main.ts",
    ["@kubernetes/client-node", "fastify", "typebox", "prom-client"],
    ["agent/", "apiserver/", "../", "cli/", "deploy/"],
  ],
];

describe("entry points of the image", () => {
  it.each(RULES)("%s loads only what its component needs", (entry, forbiddenPackages, forbiddenDirs) => {
    if (!existsSync(join(src, entry))) {
      console.warn(`src/${entry} does not exist yet; its import check is skipped`);
      return;
    }
    const { files, packages } = importGraph(entry);
    expect([...packages].filter((p) => forbiddenPackages.includes(p))).toEqual([]);
    expect([...files].filter((f) => forbiddenDirs.some((d) => f.startsWith(d)))).toEqual([]);
  });

  it.each(RULES)(
    "%s: its bundle in the image holds only what its component needs",
    async (entry, forbiddenPackages, forbiddenDirs) => {
      const b = await bundle(`src/${entry}`, { target: "node24", format: "esm" });
      expect(b.packages.map((p) => p.name).filter((p) => forbiddenPackages.includes(p))).toEqual([]);
      const sources = b.sources.map((f) => relative("src", f));
      expect(sources).toContain(entry);
      expect(sources.filter((f) => forbiddenDirs.some((d) => f.startsWith(d)))).toEqual([]);
    },
  );

  it("the import scan sees what it must (checked on this directory's manifest module)", () => {
    const { files, packages } = importGraph("deploy/manifest.ts");
    expect(packages).toContain("yaml");
    expect(files).toContain("api/crd.ts");
    expect(packages).not.toContain("@kubernetes/client-node"); // type-only imports are erased
  });
});

describe("the build (tsconfig.build.json, what the image's dist/ is compiled from)", () => {
  it("holds product code only: no test, simulator, fixture or benchmark file", () => {
    const root = join(src, "..");
    const listed = execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json", "--listFilesOnly"], {
      cwd: root,
      encoding: "utf8",
    })
      .split("\n")
      .filter((f) => f !== "" && !f.includes("/node_modules/"))
      .map((f) => relative(root, f));
    expect(listed).toContain("src/agent/main.ts");
    const notProduct = listed.filter(
      (f) => !f.startsWith("src/") || /\.test\.ts$|fixture|testing|stub|(^|\/)(sim|test|bench)\//.test(f.slice(4)),
    );
    expect(notProduct).toEqual([]);
  });
});

// One file per program, bundled by esbuild from src/, and with `split` one more per module it imports lazily: each
// holds only the code its entry point reaches (no node_modules in the image), which esbuild's metafile lists; the
// npm packages it names are what the licences and the SBOM cover.
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { build, type Metafile } from "esbuild";
import { ROOT } from "./inputs.ts";

/** An npm package whose code is in a bundle. */
export interface BundledPackage {
  readonly name: string;
  readonly version: string;
  /** SPDX expression from its package.json. */
  readonly license: string;
  /** Directory in node_modules (relative to the repository). */
  readonly dir: string;
  /** Its licence and notice files, by file name. */
  readonly licenseFiles: ReadonlyMap<string, Buffer>;
  /** The lockfile's integrity of its tarball. */
  readonly integrity?: string;
}

export interface Bundle {
  /** The entry point. */
  readonly code: Buffer;
  /**
   * With `split`: the modules the entry point imports only when it first needs them, by file name, to sit beside it.
   */
  readonly chunks: ReadonlyMap<string, Buffer>;
  readonly packages: readonly BundledPackage[];
  /** Source files of this repository in the bundle (relative paths). */
  readonly sources: readonly string[];
}

// A CommonJS dependency may call require() for Node's built-ins; an ES module has no require of its own.
const REQUIRE_SHIM =
  'import { createRequire as __brupopCreateRequire } from "node:module"; const require = __brupopCreateRequire(import.meta.url);';

export interface BundleOptions {
  /** e.g. "node24" for the image's exact runtime, "node22" for the CLI's oldest supported Node. */
  readonly target: string;
  readonly format: "esm" | "cjs";
  readonly define?: Readonly<Record<string, string>>;
  /** First line of the file (`#!...`). */
  readonly hashbang?: string;
  /**
   * ES modules only: what the code imports with `import()` goes to files of its own, loaded when first imported,
   * rather than into the entry point, where its source would sit in the heap unused (docs/design/footprint.md).
   */
  readonly split?: boolean;
}

export async function bundle(entry: string, options: BundleOptions): Promise<Bundle> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: options.format,
    target: options.target,
    write: false,
    metafile: true,
    ...(options.split
      ? { splitting: true, outdir: "out", entryNames: "[name]", chunkNames: "[name]-[hash]" }
      : { outfile: "out.js" }),
    // Whitespace and syntax only: stack traces keep the source's names. Licences go to their own files.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    logLevel: "warning",
    ...(options.define ? { define: { ...options.define } } : {}),
    banner: {
      js: [options.hashbang, options.format === "esm" ? REQUIRE_SHIM : undefined].filter(Boolean).join("\n"),
    },
  });
  const entryOutput = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)?.[0];
  const isEntry = (path: string) => entryOutput !== undefined && path.endsWith(`/${entryOutput}`);
  const output = result.outputFiles.find((f) => isEntry(f.path));
  if (!output) throw new Error(`esbuild wrote nothing for ${entry}`);
  const chunks = new Map(
    result.outputFiles.filter((f) => !isEntry(f.path)).map((f) => [basename(f.path), Buffer.from(f.contents)]),
  );
  return { code: Buffer.from(output.contents), chunks, ...(await contents(result.metafile)) };
}

async function contents(meta: Metafile): Promise<{ packages: BundledPackage[]; sources: string[] }> {
  const dirs = new Set<string>();
  const sources: string[] = [];
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (bytesInOutput === 0) continue;
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m?.[1]) dirs.add(m[1]);
      else sources.push(input);
    }
  }
  const lock = JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { integrity?: string }>;
  };
  const packages = await Promise.all([...dirs].sort().map((dir) => packageAt(dir, lock.packages[dir]?.integrity)));
  return { packages: dedupe(packages), sources: sources.sort() };
}

/** The same package at the same version may sit in two directories; it is one component. */
function dedupe(packages: BundledPackage[]): BundledPackage[] {
  const seen = new Map<string, BundledPackage>();
  for (const p of packages) if (!seen.has(`${p.name}@${p.version}`)) seen.set(`${p.name}@${p.version}`, p);
  return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice)(\.|-|$)/i;

async function packageAt(dir: string, integrity: string | undefined): Promise<BundledPackage> {
  const abs = join(ROOT, dir);
  const pkg = JSON.parse(await readFile(join(abs, "package.json"), "utf8")) as {
    name: string;
    version: string;
    license?: string | { type: string };
  };
  const license = typeof pkg.license === "string" ? pkg.license : (pkg.license?.type ?? "");
  const licenseFiles = new Map<string, Buffer>();
  for (const file of (await readdir(abs)).sort()) {
    if (LICENSE_FILE.test(file) && existsSync(join(abs, file))) licenseFiles.set(file, await readFile(join(abs, file)));
  }
  return { name: pkg.name, version: pkg.version, license, dir, licenseFiles, ...(integrity ? { integrity } : {}) };
}

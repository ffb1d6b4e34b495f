// How a benchmark runs a component: as the image runs it (the one-file esbuild bundle of its entry point that the
// image holds, scripts/image/bundle.ts, with the manifest's node flags), or from TypeScript source (node's type
// stripping, which loads a transpiler of its own: more memory and start-up time than the image's process).
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { bundle } from "../scripts/image/bundle.ts";
import { NODE_FLAGS, RUNTIME_ENV, type ComponentName } from "../src/deploy/pod.ts";

const ROOT = resolve(import.meta.dirname, "..");

export type EntryMode = "bundle" | "source";

export const ENTRY_MODES: readonly EntryMode[] = ["bundle", "source"];

export function entryMode(value: string): EntryMode {
  if (!(ENTRY_MODES as readonly string[]).includes(value)) {
    throw new Error(`--entry must be one of ${ENTRY_MODES.join(", ")}, not ${value}`);
  }
  return value as EntryMode;
}

/** The node arguments that start a component: its node flags, then its entry point. */
export interface ComponentEntry {
  args: string[];
  /** The node flags among `args`. */
  nodeFlags: readonly string[];
  /** The environment the runtime reads, as the container sets it. */
  env: Readonly<Record<string, string>>;
  /** What runs, in words, for the results. */
  what: string;
}

let bundleDir: Promise<string> | undefined;
const bundled = new Map<ComponentName, Promise<string>>();

/** A directory laid out as the image's /app (package.json: ES modules; dist/<component>/main.js), removed at exit. */
function appDir(): Promise<string> {
  bundleDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "brupop-bench-app-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "package.json"), `${JSON.stringify({ type: "module" })}\n`);
    return dir;
  })();
  return bundleDir;
}

/**
 * `entry` bundled as the image bundles its programs, written to `file` (a path inside the app directory, like
 * `dist/controller/main.js`); resolves with its absolute path and size.
 */
export async function bundleAsImage(entry: string, file: string): Promise<{ path: string; bytes: number }> {
  const path = join(await appDir(), file);
  const b = await bundle(entry, { target: "node24", format: "esm", split: true });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, b.code);
  for (const [name, code] of b.chunks) await writeFile(join(dirname(path), name), code);
  return { path, bytes: b.code.length };
}

/** The image's bundle of `component`'s entry point, written once per process (dist/<component>/main.js). */
export function bundledEntryPoint(component: ComponentName): Promise<string> {
  let file = bundled.get(component);
  if (file === undefined) {
    file = bundleAsImage(`src/${component}/main.ts`, join("dist", component, "main.js")).then((b) => b.path);
    bundled.set(component, file);
  }
  return file;
}

/**
 * How to start `component` in `mode`, with `extraFlags` (e.g. a container's heap size) before its own node flags.
 */
export async function componentEntry(
  component: ComponentName,
  mode: EntryMode,
  extraFlags: readonly string[] = [],
): Promise<ComponentEntry> {
  const flags = [...extraFlags, ...NODE_FLAGS[component]];
  const env = RUNTIME_ENV[component];
  const settings = [...flags, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const withFlags = settings.length === 0 ? "" : ` with ${settings.join(" ")}`;
  if (mode === "source") {
    return {
      args: [...flags, join(ROOT, "src", component, "main.ts")],
      nodeFlags: flags,
      env,
      what: `node src/${component}/main.ts (TypeScript source)${withFlags}`,
    };
  }
  return {
    args: [...flags, await bundledEntryPoint(component)],
    nodeFlags: flags,
    env,
    what: `node dist/${component}/main.js (the image's esbuild bundle)${withFlags}`,
  };
}

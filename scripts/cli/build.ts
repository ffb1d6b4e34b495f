// npm run cli [-- options]: the `brupop` CLI for people without a checkout, in dist/cli/:
//   bottlerocket-update-operator-<version>.tgz   an npm package (`npm install -g ./<tgz>`): bins brupop and
//                                                kubectl-brupop, one bundled file, no dependencies, Node >= 22;
//   brupop-linux-amd64, brupop-linux-arm64       single-file executables (Node's SEA: the project's exact Node.js
//                                                with the bundle injected), nothing else to install.
// Each carries THIRD-PARTY-NOTICES: the licences of the npm packages bundled in.
import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { parseArgs, promisify } from "node:util";
import { bundle, type Bundle } from "../image/bundle.ts";
import { ARCHES, ROOT, fetchNodeRuntime, readLock, type Arch } from "../image/inputs.ts";

const run = promisify(execFile);
export const CLI_OUT = join(ROOT, "dist", "cli");
/** The oldest Node.js the npm package supports (the bundle's target). */
export const CLI_NODE_MIN = "22";
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

interface Pkg {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly license: string;
}
const projectPackage = async (): Promise<Pkg> => JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as Pkg;

const cliBundle = async (format: "esm" | "cjs", target: string, version: string): Promise<Bundle> =>
  bundle("src/cli/main.ts", {
    format,
    target,
    // import.meta: version.ts reads package.json through it only when BRUPOP_VERSION is not set (a checkout).
    define: { BRUPOP_VERSION: JSON.stringify(version), ...(format === "cjs" ? { "import.meta.url": '""' } : {}) },
    ...(format === "esm" ? { hashbang: "#!/usr/bin/env node" } : {}),
  });

function thirdPartyNotices(b: Bundle): string {
  const parts = b.packages.map((p) => {
    const texts = [...p.licenseFiles.values()].map((t) => t.toString("utf8").trim());
    return [
      `${p.name}@${p.version} (${p.license || "no licence field"})`,
      ...(texts.length > 0 ? texts : ["(the package ships no licence file)"]),
    ].join("\n\n");
  });
  return `The brupop CLI bundles these npm packages:\n\n${parts.join(`\n\n${"-".repeat(78)}\n\n`)}\n`;
}

/** The npm package: its directory, then `npm pack` of it. Returns the tarball's path. */
export async function packCli(out = CLI_OUT): Promise<string> {
  const pkg = await projectPackage();
  const b = await cliBundle("esm", `node${CLI_NODE_MIN}`, pkg.version);
  const dir = join(out, "package");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "brupop.mjs"), b.code);
  await chmod(join(dir, "brupop.mjs"), 0o755);
  await writeFile(
    join(dir, "package.json"),
    `${JSON.stringify(
      {
        name: pkg.name,
        version: pkg.version,
        description: `The brupop CLI: ${pkg.description}`,
        license: pkg.license,
        type: "module",
        bin: { brupop: "brupop.mjs", "kubectl-brupop": "brupop.mjs" },
        engines: { node: `>=${CLI_NODE_MIN}` },
        files: ["brupop.mjs", "LICENSE", "NOTICE", "THIRD-PARTY-NOTICES", "README.md"],
      },
      null,
      2,
    )}\n`,
  );
  for (const f of ["LICENSE", "NOTICE"]) await copyFile(join(ROOT, f), join(dir, f));
  await writeFile(join(dir, "THIRD-PARTY-NOTICES"), thirdPartyNotices(b));
  await writeFile(
    join(dir, "README.md"),
    `# brupop ${pkg.version}\n\nThe command line of the Bottlerocket update operator: \`brupop status\`, \`brupop explain NODE\`,\n` +
      `\`brupop pause\`/\`resume\`, \`brupop label\`, \`brupop unquarantine\`, \`brupop manifests\`; also \`kubectl brupop ...\`.\n` +
      `Reads the cluster of your kubeconfig (KUBECONFIG or ~/.kube/config). Node.js ${CLI_NODE_MIN} or newer.\n`,
  );
  const { stdout } = await run("npm", ["pack", dir, "--pack-destination", out, "--json"], { cwd: out });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  if (!packed) throw new Error("npm pack wrote nothing");
  return join(out, packed.filename);
}

/** Single-file executables: the arch's Node.js runtime (the image's, pinned) with the CLI injected as its SEA blob. */
export async function seaCli(arches: readonly Arch[] = ARCHES, out = CLI_OUT): Promise<Record<string, string>> {
  const pkg = await projectPackage();
  // A CommonJS script (what a SEA runs), for the runtime it is injected into; one blob serves every architecture
  // since it carries neither a code cache nor a snapshot.
  const b = await cliBundle("cjs", "node24", pkg.version);
  const work = join(out, "sea");
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  await writeFile(join(work, "brupop.cjs"), b.code);
  await writeFile(
    join(work, "sea-config.json"),
    JSON.stringify({
      main: "brupop.cjs",
      output: "brupop.blob",
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: false,
    }),
  );
  await run(process.execPath, ["--experimental-sea-config", "sea-config.json"], { cwd: work });
  const blob = await readFile(join(work, "brupop.blob"));
  const { inject } = createRequire(import.meta.url)("postject") as {
    inject: (file: string, name: string, data: Buffer, options: { sentinelFuse: string }) => Promise<void>;
  };
  const lock = await readLock();
  const written: Record<string, string> = {};
  for (const arch of arches) {
    const node = await fetchNodeRuntime(arch, lock);
    const file = join(out, `brupop-linux-${arch}`);
    await writeFile(file, node.binary);
    await chmod(file, 0o755);
    await inject(file, "NODE_SEA_BLOB", blob, { sentinelFuse: SEA_FUSE });
    written[arch] = file;
  }
  await writeFile(join(out, "THIRD-PARTY-NOTICES"), thirdPartyNotices(b));
  await rm(work, { recursive: true, force: true });
  return written;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      platform: { type: "string", default: ARCHES.map((a) => `linux/${a}`).join(",") },
      "no-sea": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`npm run cli [-- options]   the npm package and single-file executables of brupop, in dist/cli/
  --platform linux/amd64,linux/arm64   executables for these (default: both)
  --no-sea                             the npm package only`);
    return;
  }
  await mkdir(CLI_OUT, { recursive: true });
  const tgz = await packCli();
  console.log(`npm package: ${relative(ROOT, tgz)}`);
  if (values["no-sea"]) return;
  const arches = values.platform.split(",").map((p) => p.trim().replace(/^linux\//, "") as Arch);
  for (const [arch, file] of Object.entries(await seaCli(arches)))
    console.log(`linux/${arch}: ${relative(ROOT, file)}`);
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}

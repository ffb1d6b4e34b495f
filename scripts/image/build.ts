// npm run image [-- options]: builds the operator's image for linux/amd64 and linux/arm64 without a container
// engine, as an OCI image index, reproducibly (the same commit and inputs.lock.json give the same digest).
// Writes to dist/image/: oci/ (an OCI image layout), <name>.oci.tar (the same as one archive for `podman load` or
// `skopeo copy oci-archive:...`; `docker load` is untested, no Docker engine here), sbom-<arch>.cdx.json (CycloneDX)
// and build.json (digests, sizes).
// This script is the image's only definition (there is no Dockerfile).
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseArgs, promisify } from "node:util";
import { imageReference } from "../../src/deploy/image.ts";
import {
  PROJECT,
  appEntries,
  bundleComponents,
  layerOf,
  platformImageOf,
  runtimeEntries,
  type DebianPart,
} from "./image.ts";
import { ARCHES, LOCK_FILE, ROOT, currentLock, fetchDebs, fetchNodeRuntime, readLock, type Arch } from "./inputs.ts";
import { archiveOf, imageIndex, writeLayout, type PlatformImage } from "./oci.ts";
import { cycloneDx } from "./sbom.ts";

const run = promisify(execFile);
export const DEFAULT_OUT = join(ROOT, "dist", "image");
/** The size goal per architecture, compressed (what a node pulls). */
export const SIZE_GOAL_BYTES = 60 * 1024 * 1024;

export interface BuildReport {
  readonly reference: string;
  readonly indexDigest: string;
  readonly inputs: string;
  readonly created: string;
  readonly revision: string;
  readonly archive: string;
  readonly platforms: Readonly<
    Partial<
      Record<
        Arch,
        {
          manifestDigest: string;
          compressedBytes: number;
          uncompressedBytes: number;
          layers: { digest: string; size: number }[];
        }
      >
    >
  >;
  readonly seconds: number;
}

export interface BuildOptions {
  readonly arches?: readonly Arch[];
  readonly out?: string;
  readonly reference?: string;
  readonly log?: (line: string) => void;
}

/** The commit's time and name, or SOURCE_DATE_EPOCH: what the image records as its creation. */
async function provenance(): Promise<{ created: Date; revision: string }> {
  const git = (...args: string[]) => run("git", args, { cwd: ROOT }).then((r) => r.stdout.trim());
  const revision = await git("rev-parse", "HEAD").catch(() => "unknown");
  const epoch = process.env.SOURCE_DATE_EPOCH ?? (await git("log", "-1", "--format=%ct").catch(() => "0"));
  if (!/^\d+$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH ${JSON.stringify(epoch)} is not a number of seconds`);
  return { created: new Date(Number(epoch) * 1000), revision };
}

/** What the image is built from: a hash of every input file, the provenance and the options (tests compare it). */
export async function inputsFingerprint(arches: readonly Arch[], reference: string): Promise<string> {
  const hash = createHash("sha256");
  const { created, revision } = await provenance();
  hash.update(JSON.stringify({ arches, reference, created, revision }));
  const files: string[] = ["package.json", "package-lock.json", "LICENSE", "NOTICE"];
  for (const dir of ["src", "scripts/image"]) {
    for (const f of await readdir(join(ROOT, dir), { recursive: true })) {
      if (/\.(ts|json)$/.test(f) && !f.endsWith(".test.ts")) files.push(join(dir, f));
    }
  }
  for (const f of files.sort()) hash.update(`${f}\0`).update(await readFile(join(ROOT, f)));
  return hash.digest("hex");
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export async function buildImage(options: BuildOptions = {}): Promise<BuildReport> {
  const start = Date.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const arches = options.arches ?? ARCHES;
  const out = options.out ?? DEFAULT_OUT;
  const reference = options.reference ?? process.env.BRUPOP_IMAGE ?? imageReference({});
  const tag = reference.slice(reference.lastIndexOf(":") + 1);
  const repository = reference.slice(0, reference.lastIndexOf(":"));
  const { created, revision } = await provenance();
  const inputs = await inputsFingerprint(arches, reference);
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
    version: string;
    description: string;
  };

  const lock = await readLock();
  log(`fetching the pinned inputs (${relative(ROOT, LOCK_FILE)})`);
  const [debs, app, ...runtimes] = await Promise.all([
    fetchDebs(lock),
    bundleComponents(),
    ...arches.map((arch) => fetchNodeRuntime(arch, lock)),
  ]);
  log(
    `bundled ${Object.entries(app.bundles)
      .map(([c, b]) => {
        const later = [...b.chunks.values()].reduce((sum, chunk) => sum + chunk.length, 0);
        return `${c} ${mib(b.code.length)}${later > 0 ? ` (+ ${mib(later)} loaded when first needed)` : ""}`;
      })
      .join(", ")} (${app.packages.length} npm packages)`,
  );
  const annotations = {
    "org.opencontainers.image.title": PROJECT,
    "org.opencontainers.image.description": pkg.description,
    "org.opencontainers.image.version": pkg.version,
    "org.opencontainers.image.revision": revision,
    "org.opencontainers.image.created": created.toISOString(),
    "org.opencontainers.image.licenses": "Apache-2.0",
  };

  const appLayer = layerOf(await appEntries(app), created);
  const platforms = await Promise.all(
    arches.map(async (arch, i) => {
      const node = runtimes[i];
      if (!node) throw new Error(`no runtime for ${arch}`);
      const runtime = await runtimeEntries(arch, node, lock, debs);
      const image = platformImageOf(
        arch,
        await layerOf(runtime.entries, created),
        await appLayer,
        { version: pkg.version, revision, created },
        annotations,
      );
      return { arch, node, image, debian: runtime.debian };
    }),
  );
  const index = imageIndex(
    platforms.map((p) => p.image),
    annotations,
  );

  await mkdir(out, { recursive: true });
  await writeLayout(join(out, "oci"), index, tag, reference);
  const archive = join(out, `${PROJECT}.oci.tar`);
  await writeFile(archive, await archiveOf(index, tag, reference, created));
  for (const p of platforms) {
    const sbom = cycloneDx({
      arch: p.arch,
      repository,
      version: pkg.version,
      manifestDigest: p.image.manifest.descriptor.digest,
      created,
      node: p.node,
      debian: p.debian satisfies readonly DebianPart[],
      packages: app.packages,
    });
    await writeFile(join(out, `sbom-${p.arch}.cdx.json`), `${JSON.stringify(sbom, null, 2)}\n`);
  }

  const sizes = (image: PlatformImage) => ({
    manifestDigest: image.manifest.descriptor.digest,
    compressedBytes:
      image.manifest.descriptor.size +
      image.config.descriptor.size +
      image.layers.reduce((n, l) => n + l.blob.descriptor.size, 0),
    uncompressedBytes: image.layers.reduce((n, l) => n + l.uncompressedSize, 0),
    layers: image.layers.map((l) => ({ digest: l.blob.descriptor.digest, size: l.blob.descriptor.size })),
  });
  const report: BuildReport = {
    reference,
    indexDigest: index.index.descriptor.digest,
    inputs,
    created: created.toISOString(),
    revision,
    archive: relative(out, archive),
    platforms: Object.fromEntries(platforms.map((p) => [p.arch, sizes(p.image)])),
    seconds: Math.round((Date.now() - start) / 100) / 10,
  };
  await writeFile(join(out, "build.json"), `${JSON.stringify(report, null, 2)}\n`);
  log(`${reference} ${report.indexDigest}`);
  for (const [arch, s] of Object.entries(report.platforms)) {
    const over = s.compressedBytes > SIZE_GOAL_BYTES ? ` — OVER the ${mib(SIZE_GOAL_BYTES)} goal` : "";
    log(
      `  linux/${arch}: ${s.manifestDigest}, ${mib(s.compressedBytes)} compressed, ${mib(s.uncompressedBytes)} unpacked${over}`,
    );
  }
  log(`written to ${relative(ROOT, out)}/ in ${report.seconds} s`);
  return report;
}

/** The build in `out` if it was made from the current inputs; otherwise undefined. */
export async function currentBuild(
  out = DEFAULT_OUT,
  arches: readonly Arch[] = ARCHES,
  reference?: string,
): Promise<BuildReport | undefined> {
  const file = join(out, "build.json");
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(await readFile(file, "utf8")) as BuildReport;
  const expected = await inputsFingerprint(arches, reference ?? report.reference);
  return report.inputs === expected ? report : undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      platform: { type: "string", default: ARCHES.map((a) => `linux/${a}`).join(",") },
      out: { type: "string", default: DEFAULT_OUT },
      tag: { type: "string" },
      load: { type: "boolean", default: false },
      "update-lock": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(`npm run image [-- options]
  --platform linux/amd64,linux/arm64   which architectures (default: both)
  --out DIR                            where to write (default: dist/image)
  --tag REF                            the image reference recorded in the archive
                                       (default: $BRUPOP_IMAGE, else the manifest's ${imageReference({})})
  --load                               load the archive into podman (or docker) when done
  --update-lock                        pin what the npm registry and the Debian mirror serve now
                                       in scripts/image/inputs.lock.json, then build`);
    return;
  }
  if (values["update-lock"]) {
    await writeFile(LOCK_FILE, `${JSON.stringify(await currentLock(), null, 2)}\n`);
    console.log(`pinned the current inputs in ${relative(ROOT, LOCK_FILE)}`);
  }
  const arches = values.platform.split(",").map((p) => {
    const arch = p.trim().replace(/^linux\//, "");
    if (!ARCHES.includes(arch as Arch))
      throw new Error(`--platform ${p}: one of ${ARCHES.map((a) => `linux/${a}`).join(", ")}`);
    return arch as Arch;
  });
  const report = await buildImage({ arches, out: values.out, ...(values.tag ? { reference: values.tag } : {}) });
  if (values.load) {
    const tool = ["podman", "docker"].find((t) => spawnSync(t, ["--version"], { stdio: "ignore" }).status === 0);
    if (!tool) throw new Error("--load: neither podman nor docker is installed");
    const loaded = spawnSync(tool, ["load", "-i", join(values.out, report.archive)], { stdio: "inherit" });
    if (loaded.status !== 0) throw new Error(`${tool} load failed`);
  }
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}

// npm run release:artifacts -- --image <registry/repository:tag> [--out dist/release]
// What a release attaches, in one directory, from the image npm run image built (dist/image, built here when
// missing or stale) and the CLI (built here): the install manifest and the Helm charts (the operator's, with the
// image pinned by digest, and the CRDs' chart it needs beside it), the image's OCI archive and SBOMs, the CLI's npm package and single-file executables, and SHA256SUMS.
// The release workflow (.github/workflows/release.yml) runs it; so does test/integration/release.test.ts.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, cp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CHART_DIR, CRD_CHART_DIR, MANIFEST_PATH } from "../../src/deploy/files.ts";
import { operatorManifest } from "../../src/deploy/manifest.ts";
import { DEFAULT_OUT, buildImage, currentBuild } from "../image/build.ts";
import { ROOT } from "../image/inputs.ts";
import { packCli, seaCli } from "../cli/build.ts";

const run = promisify(execFile);
export const RELEASE_OUT = join(ROOT, "dist", "release");

/** The helm binary the project provisions (scripts/testenv/provision-helm). */
export async function helmBinary(): Promise<string> {
  const { stdout } = await run(join(ROOT, "scripts", "testenv", "provision-helm"), ["--bin"]);
  return stdout.trim();
}

/** `repo:tag` → `repo:tag@digest`. */
export const pinned = (reference: string, digest: string): string => `${reference}@${digest}`;

export async function releaseArtifacts(
  reference: string,
  out = RELEASE_OUT,
): Promise<{ files: string[]; digest: string }> {
  if (!/^[^@\s]+:[^:/@\s]+$/.test(reference)) throw new Error(`--image ${reference}: give registry/repository:tag`);
  // The digests do not depend on the reference (only the archive's name annotation does): a current build serves.
  const report = (await currentBuild(DEFAULT_OUT)) ?? (await buildImage({ reference }));
  const image = pinned(reference, report.indexDigest);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  // The install manifest, pinned to the image by digest.
  await writeFile(join(out, MANIFEST_PATH), operatorManifest({ image }));

  // The chart, its default image the same.
  const chart = join(out, "chart-src");
  await cp(join(ROOT, CHART_DIR), chart, { recursive: true });
  const values = await readFile(join(chart, "values.yaml"), "utf8");
  const imageLine = /^image: .*$/m;
  if ((values.match(/^image: .*$/gm) ?? []).length !== 1)
    throw new Error(`${CHART_DIR}/values.yaml: no single top-level image line`);
  await writeFile(join(chart, "values.yaml"), values.replace(imageLine, `image: ${image}`));
  const helm = await helmBinary();
  await run(helm, ["lint", chart]);
  await run(helm, ["package", chart, "--destination", out]);
  await rm(chart, { recursive: true, force: true });
  // The CRDs' chart, as brupop's (installed first; names no image).
  await run(helm, ["lint", join(ROOT, CRD_CHART_DIR)]);
  await run(helm, ["package", join(ROOT, CRD_CHART_DIR), "--destination", out]);

  // The image: archive and SBOMs.
  await copyFile(join(DEFAULT_OUT, report.archive), join(out, basename(report.archive)));
  for (const arch of Object.keys(report.platforms)) {
    await copyFile(join(DEFAULT_OUT, `sbom-${arch}.cdx.json`), join(out, `sbom-image-linux-${arch}.cdx.json`));
  }

  // The CLI.
  const cli = join(out, "cli-build");
  // The npm package's own name would be the chart package's (both bottlerocket-update-operator-<version>.tgz).
  const tgz = await packCli(cli);
  await copyFile(tgz, join(out, basename(tgz).replace(/^bottlerocket-update-operator-/, "brupop-cli-npm-")));
  for (const [arch, file] of Object.entries(await seaCli(undefined, cli)))
    await copyFile(file, join(out, `brupop-linux-${arch}`));
  await copyFile(join(cli, "THIRD-PARTY-NOTICES"), join(out, "brupop-THIRD-PARTY-NOTICES"));
  await rm(cli, { recursive: true, force: true });

  // Checksums, in sha256sum's format.
  const files = (await readdir(out)).filter((f) => f !== "SHA256SUMS").sort();
  const sums = await Promise.all(
    files.map(
      async (f) =>
        `${createHash("sha256")
          .update(await readFile(join(out, f)))
          .digest("hex")}  ${f}`,
    ),
  );
  await writeFile(join(out, "SHA256SUMS"), `${sums.join("\n")}\n`);
  await writeFile(join(out, "image-digest"), `${report.indexDigest}\n`);
  return { files: [...files, "SHA256SUMS"], digest: report.indexDigest };
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({
    options: { image: { type: "string" }, out: { type: "string", default: RELEASE_OUT } },
  });
  if (!values.image) {
    console.error("usage: npm run release:artifacts -- --image <registry/repository:tag> [--out DIR]");
    process.exit(2);
  }
  releaseArtifacts(values.image, values.out).then(
    ({ files, digest }) => {
      console.log(`${values.image ?? ""}@${digest}`);
      for (const f of files) console.log(`  ${relative(ROOT, join(values.out, f))}`);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}

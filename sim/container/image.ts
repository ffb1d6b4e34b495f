// A built image (an OCI image layout, as `npm run image` writes it) unpacked into a directory: one platform's
// layers extracted in order, and the config a container runtime would apply (entrypoint, command, env, user,
// working directory).
import { execFile } from "node:child_process";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface ImageConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
}

export interface UnpackedImage {
  readonly rootfs: string;
  readonly architecture: string;
  readonly config: ImageConfig;
  readonly manifestDigest: string;
}

interface Descriptor {
  readonly digest: string;
  readonly platform?: { readonly architecture: string; readonly os: string };
}

const blobPath = (layout: string, digest: string) => join(layout, "blobs", "sha256", digest.replace(/^sha256:/, ""));
const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, "utf8")) as T;

/** Extracts `architecture`'s image of the layout's (first) image index into `rootfs` (created). */
export async function unpackImage(layout: string, architecture: string, rootfs: string): Promise<UnpackedImage> {
  const top = await readJson<{ manifests: Descriptor[] }>(join(layout, "index.json"));
  const first = top.manifests[0];
  if (!first) throw new Error(`${layout}: index.json names no image`);
  const index = await readJson<{ manifests: Descriptor[] }>(blobPath(layout, first.digest));
  const entry = index.manifests.find((m) => m.platform?.os === "linux" && m.platform.architecture === architecture);
  if (!entry) throw new Error(`${layout}: no linux/${architecture} image`);
  const manifest = await readJson<{ config: Descriptor; layers: Descriptor[] }>(blobPath(layout, entry.digest));
  await mkdir(rootfs, { recursive: true });
  await chmod(rootfs, 0o755); // the container's "/" (a mkdtemp directory is 0700)
  // GNU tar, layers in order; as root it keeps the owners and modes recorded in each layer.
  for (const layer of manifest.layers) await run("tar", ["-xzf", blobPath(layout, layer.digest), "-C", rootfs]);
  const config = await readJson<{ architecture: string; config: ImageConfig }>(
    blobPath(layout, manifest.config.digest),
  );
  return { rootfs, architecture: config.architecture, config: config.config, manifestDigest: entry.digest };
}

// An OCI image layout written directly: layers are gzipped tar files of entries given in full (path, mode, owner,
// content), configs, manifests and the index are JSON, every blob is named by its sha256. Nothing depends on the
// build machine: entries are sorted, owners and times are fixed, gzip's header carries no time or name. The same
// entries therefore give the same digests, and the image index's digest names the whole build.
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";
import { pack, type Header } from "tar-stream";

const gzip = promisify(gzipCallback);

export const MEDIA_TYPE = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

interface Owner {
  readonly uid?: number;
  readonly gid?: number;
}
export type Entry =
  | ({ readonly path: string; readonly type: "file"; readonly mode: number; readonly data: Buffer } & Owner)
  | ({ readonly path: string; readonly type: "dir"; readonly mode: number } & Owner)
  | { readonly path: string; readonly type: "symlink"; readonly target: string };

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

export interface Blob {
  readonly descriptor: Descriptor;
  readonly data: Buffer;
}

export const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

function blob(mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Blob {
  return { descriptor: { mediaType, digest: `sha256:${sha256(data)}`, size: data.length, ...extra }, data };
}

/** JSON as blobs are written: no whitespace, keys in the order given (the objects below are built in a fixed order). */
export const jsonBlob = (mediaType: string, value: unknown, extra: Partial<Descriptor> = {}): Blob =>
  blob(mediaType, Buffer.from(JSON.stringify(value)), extra);

/** Entries with their parent directories added (root-owned, 0755), sorted by path, each path once. */
export function normalizeEntries(entries: readonly Entry[]): Entry[] {
  const byPath = new Map<string, Entry>();
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+|\/+$/g, "");
    if (path === "" || path.split("/").some((p) => p === "." || p === ".." || p === "")) {
      throw new Error(`bad path in image: ${JSON.stringify(entry.path)}`);
    }
    if (byPath.has(path)) throw new Error(`${path} is in the image twice`);
    byPath.set(path, { ...entry, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const existing = byPath.get(parent);
      if (existing === undefined) byPath.set(parent, { path: parent, type: "dir", mode: 0o755 });
      else if (existing.type !== "dir") throw new Error(`${parent} is not a directory but holds ${path}`);
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The uncompressed tar of `entries` (normalized), every time set to `mtime`. */
export async function tarOf(entries: readonly Entry[], mtime: Date): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const entry of normalizeEntries(entries)) {
    const common: Partial<Header> & { name: string } = {
      name: entry.path,
      mtime,
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
    };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (entry.type === "file") {
        tar.entry(
          { ...common, type: "file", mode: entry.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0 },
          entry.data,
          done,
        );
      } else if (entry.type === "dir") {
        tar.entry({ ...common, type: "directory", mode: entry.mode, uid: entry.uid ?? 0, gid: entry.gid ?? 0 }, done);
      } else {
        tar.entry({ ...common, type: "symlink", mode: 0o777, linkname: entry.target }, done);
      }
    });
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export interface Layer {
  readonly blob: Blob;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids). */
  readonly diffId: string;
  readonly uncompressedSize: number;
}

/** A layer: the entries' tar, gzipped (level 9; zlib writes no time, name or host into the header). */
export async function layerOf(entries: readonly Entry[], mtime: Date): Promise<Layer> {
  const tar = await tarOf(entries, mtime);
  const gz = await gzip(tar, { level: 9 });
  return { blob: blob(MEDIA_TYPE.layer, gz), diffId: `sha256:${sha256(tar)}`, uncompressedSize: tar.length };
}

export interface ImageConfig {
  readonly User: string;
  readonly Env: readonly string[];
  readonly Entrypoint: readonly string[];
  readonly Cmd: readonly string[];
  readonly WorkingDir: string;
  readonly Labels: Readonly<Record<string, string>>;
}

export interface PlatformImage {
  readonly platform: Platform;
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Layer[];
}

/** One platform's config and manifest over its layers. */
export function platformImage(
  platform: Platform,
  layers: readonly { layer: Layer; createdBy: string }[],
  config: ImageConfig,
  created: Date,
  annotations: Readonly<Record<string, string>>,
): PlatformImage {
  const configBlob = jsonBlob(MEDIA_TYPE.config, {
    created: created.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.layer.diffId) },
    history: layers.map((l) => ({ created: created.toISOString(), created_by: l.createdBy })),
  });
  const manifest = jsonBlob(
    MEDIA_TYPE.manifest,
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.manifest,
      config: configBlob.descriptor,
      layers: layers.map((l) => l.layer.blob.descriptor),
      annotations,
    },
    { platform },
  );
  return { platform, manifest, config: configBlob, layers: layers.map((l) => l.layer) };
}

export interface ImageIndex {
  readonly index: Blob;
  readonly images: readonly PlatformImage[];
}

export function imageIndex(
  images: readonly PlatformImage[],
  annotations: Readonly<Record<string, string>>,
): ImageIndex {
  const index = jsonBlob(MEDIA_TYPE.index, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.index,
    manifests: images.map((i) => i.manifest.descriptor),
    annotations,
  });
  return { index, images };
}

/** Every blob of the index, each once, in a fixed order. */
function blobsOf({ index, images }: ImageIndex): Blob[] {
  const all = new Map<string, Blob>();
  for (const b of [index, ...images.flatMap((i) => [i.manifest, i.config, ...i.layers.map((l) => l.blob)])]) {
    all.set(b.descriptor.digest, b);
  }
  return [...all.values()].sort((a, b) => (a.descriptor.digest < b.descriptor.digest ? -1 : 1));
}

/** The layout's index.json: the image index, named by `ref` (a tag) and `name` (the full reference). */
function layoutIndex(image: ImageIndex, ref: string, name: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.index,
      manifests: [
        {
          ...image.index.descriptor,
          annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": ref },
        },
      ],
    }),
  );
}

const OCI_LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

/** Writes an OCI image layout directory (replacing `dir`). */
export async function writeLayout(dir: string, image: ImageIndex, ref: string, name: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const b of blobsOf(image)) await writeFile(join(dir, "blobs", "sha256", b.descriptor.digest.slice(7)), b.data);
  await writeFile(join(dir, "oci-layout"), OCI_LAYOUT);
  await writeFile(join(dir, "index.json"), layoutIndex(image, ref, name));
}

/** The same layout as one tar file: what `podman load` and `skopeo copy oci-archive:` read (`docker load`: untested). */
export async function archiveOf(image: ImageIndex, ref: string, name: string, mtime: Date): Promise<Buffer> {
  const entries: Entry[] = [
    { path: "oci-layout", type: "file", mode: 0o644, data: OCI_LAYOUT },
    { path: "index.json", type: "file", mode: 0o644, data: layoutIndex(image, ref, name) },
    ...blobsOf(image).map((b): Entry => ({
      path: `blobs/sha256/${b.descriptor.digest.slice(7)}`,
      type: "file",
      mode: 0o644,
      data: b.data,
    })),
  ];
  return tarOf(entries, mtime);
}

/** Reads a layout's image index and its platform manifests back (for tests and tools). */
export async function readLayout(dir: string): Promise<{
  indexDigest: string;
  name: string | undefined;
  manifests: { platform: Platform; digest: string; manifest: { config: Descriptor; layers: Descriptor[] } }[];
}> {
  const read = async (digest: string) => readFile(join(dir, "blobs", "sha256", digest.replace(/^sha256:/, "")));
  const top = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const entry = top.manifests[0];
  if (!entry) throw new Error(`${dir}/index.json names no image`);
  const index = JSON.parse((await read(entry.digest)).toString()) as { manifests: Descriptor[] };
  const manifests = await Promise.all(
    index.manifests.map(async (d) => ({
      platform: d.platform ?? { architecture: "?", os: "?" },
      digest: d.digest,
      manifest: JSON.parse((await read(d.digest)).toString()) as { config: Descriptor; layers: Descriptor[] },
    })),
  );
  return { indexDigest: entry.digest, name: entry.annotations?.["io.containerd.image.name"], manifests };
}

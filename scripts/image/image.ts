// The operator's image, per architecture: two layers.
//   runtime: /nodejs/bin/node (the npm registry's Node.js at package.json's exact version), the shared libraries it
//            loads (found from its ELF headers in Debian's packages), CA certificates, /etc/passwd and /etc/group with
//            the non-root user, /tmp, and the licences of all of that.
//   app:     /app/dist/<component>/main.js (one bundle each), /app/<component> (brupop's `./agent` etc.: the same
//            entry point with its node flags, on a `#!` line; no shell needed), the project's and the bundled npm
//            packages' licences. Architecture-independent: both platforms share this layer's blob.
// The contract with the manifests (paths, node flags) comes from src/deploy/pod.ts.
import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { NON_ROOT_UID } from "../../src/deploy/security.ts";
import {
  APP_DIR,
  COMPONENT_NAMES,
  NODE_BINARY,
  NODE_FLAGS,
  brupopExecutable,
  entryPoint,
  type ComponentName,
} from "../../src/deploy/pod.ts";
import { bundle, type Bundle, type BundledPackage } from "./bundle.ts";
import { EM_AARCH64, EM_X86_64, elfFacts } from "./elf.ts";
import { ARCH, ROOT, debFiles, type Arch, type InputsLock, type NodeRuntime } from "./inputs.ts";
import { layerOf, platformImage, type Entry, type Layer, type PlatformImage } from "./oci.ts";

const rel = (absolute: string) => absolute.replace(/^\/+/, "");
const file = (path: string, data: Buffer | string, mode = 0o644): Entry => ({
  path: rel(path),
  type: "file",
  mode,
  data: Buffer.isBuffer(data) ? data : Buffer.from(data),
});

export const PROJECT = "bottlerocket-update-operator";
export const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const MACHINE: Record<Arch, number> = { amd64: EM_X86_64, arm64: EM_AARCH64 };

// ---- app layer ----

export interface AppContents {
  readonly bundles: Readonly<Record<ComponentName, Bundle>>;
  readonly packages: readonly BundledPackage[];
}

export async function bundleComponents(): Promise<AppContents> {
  const entries = await Promise.all(
    COMPONENT_NAMES.map(
      async (c) => [c, await bundle(`src/${c}/main.ts`, { target: "node24", format: "esm", split: true })] as const,
    ),
  );
  const bundles = Object.fromEntries(entries) as Record<ComponentName, Bundle>;
  const all = new Map<string, BundledPackage>();
  for (const b of Object.values(bundles)) for (const p of b.packages) all.set(`${p.name}@${p.version}`, p);
  return { bundles, packages: [...all.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

/** brupop's `./agent`: a module that loads the entry point, run by the runtime with the component's flags. */
export function brupopLauncher(component: ComponentName): string {
  const flags = NODE_FLAGS[component];
  if (flags.length > 1)
    throw new Error(`${component}: a #! line carries one node flag at most, not ${flags.join(" ")}`);
  const target = posix.relative(APP_DIR, entryPoint(component));
  return `#!${[NODE_BINARY, ...flags].join(" ")}\nimport "./${target}";\n`;
}

export async function appEntries(app: AppContents): Promise<Entry[]> {
  const entries: Entry[] = [
    // The entry points are ES modules, and so are the extensionless launchers beside them.
    file(`${APP_DIR}/package.json`, `${JSON.stringify({ type: "module" })}\n`),
    ...COMPONENT_NAMES.flatMap((c) => [
      file(entryPoint(c), app.bundles[c].code),
      ...[...app.bundles[c].chunks].map(([name, code]) => file(posix.join(posix.dirname(entryPoint(c)), name), code)),
      file(brupopExecutable(c), brupopLauncher(c), 0o755),
    ]),
    file(`/licenses/${PROJECT}/LICENSE`, await readFile(join(ROOT, "LICENSE"))),
    file(`/licenses/${PROJECT}/NOTICE`, await readFile(join(ROOT, "NOTICE"))),
  ];
  for (const p of app.packages) {
    const dir = `/licenses/npm/${p.name}@${p.version}`;
    if (p.licenseFiles.size === 0) {
      entries.push(
        file(
          `${dir}/LICENSE-FROM-PACKAGE-JSON`,
          `${p.name}@${p.version} ships no licence file; its package.json says: ${p.license}\n`,
        ),
      );
    }
    for (const [name, data] of p.licenseFiles) entries.push(file(`${dir}/${name}`, data));
  }
  return entries;
}

// ---- runtime layer ----

export interface DebianPart {
  readonly name: string;
  readonly version: string;
  readonly arch: Arch | "all";
  readonly sha256: string;
  readonly copyright: Buffer;
}

export interface RuntimeContents {
  readonly entries: Entry[];
  readonly debian: readonly DebianPart[];
}

type PackagedFiles = Map<string, { mode: number; data?: Buffer; symlink?: string; owner: string }>;

/** The files of `arch`'s runtime: node, its shared libraries (closure over DT_NEEDED), certificates, users. */
export async function runtimeEntries(
  arch: Arch,
  node: NodeRuntime,
  lock: InputsLock,
  debs: ReadonlyMap<string, { file: string }>,
): Promise<RuntimeContents> {
  const debPath = (name: string, a: Arch | "all") => {
    const d = debs.get(`${name}:${a}`);
    if (!d) throw new Error(`no .deb for ${name}:${a}`);
    return d.file;
  };
  const triplet = ARCH[arch].triplet;
  const libDirs = [`lib/${triplet}`, `usr/lib/${triplet}`, "lib", "lib64"];
  const isLib = (p: string) => libDirs.some((d) => p.startsWith(`${d}/`) && !p.slice(d.length + 1).includes("/"));
  const copyrightOf = (name: string) => (p: string) => p === `usr/share/doc/${name}/copyright`;

  // Every shared object of the packages, by path, and each package's copyright file.
  const libraries: PackagedFiles = new Map();
  const copyright = new Map<string, Buffer>();
  for (const { name } of lock.debian[arch]) {
    const files = await debFiles(debPath(name, arch), (p) => isLib(p) || copyrightOf(name)(p));
    for (const [p, f] of files) {
      if (p.startsWith("usr/share/doc/")) {
        if (f.data) copyright.set(name, f.data);
      } else libraries.set(p, { ...f, owner: name });
    }
  }
  const entries: Entry[] = [file(NODE_BINARY, node.binary, 0o755), file("/licenses/node/LICENSE", node.license)];
  const facts = elfFacts(node.binary);
  if (facts.machine !== MACHINE[arch]) throw new Error(`node for ${arch} has ELF machine ${facts.machine}`);
  const added = new Set<string>();
  const resolve = (path: string): string => {
    // Follow symlinks inside the packages' files, adding each link and its target.
    const p = rel(path);
    const f = libraries.get(p);
    if (!f) throw new Error(`${arch}: ${path} is in none of ${lock.debian[arch].map((d) => d.name).join(", ")}`);
    if (!added.has(p)) {
      added.add(p);
      if (f.symlink !== undefined) {
        entries.push({ path: p, type: "symlink", target: f.symlink });
        return resolve(f.symlink.startsWith("/") ? f.symlink : posix.join(posix.dirname(p), f.symlink));
      }
      entries.push({ path: p, type: "file", mode: f.mode & 0o777, data: f.data ?? Buffer.alloc(0) });
      const lib = elfFacts(f.data ?? Buffer.alloc(0));
      if (lib.machine !== MACHINE[arch]) throw new Error(`${p} has ELF machine ${lib.machine}, not ${arch}'s`);
      for (const soname of lib.needed) resolveSoname(soname);
    } else if (f.symlink !== undefined) {
      return resolve(f.symlink.startsWith("/") ? f.symlink : posix.join(posix.dirname(p), f.symlink));
    }
    return p;
  };
  // The loader's search path: Debian's multiarch directories are built into its default list.
  const resolveSoname = (soname: string) => {
    const found = [`lib/${triplet}`, `usr/lib/${triplet}`].map((d) => `${d}/${soname}`).find((p) => libraries.has(p));
    if (!found) throw new Error(`${arch}: no package provides ${soname}`);
    resolve(found);
  };
  if (facts.interpreter) resolve(facts.interpreter);
  for (const soname of facts.needed) resolveSoname(soname);

  // CA certificates: what update-ca-certificates would concatenate, in its order (file name).
  const [caDeb] = lock.debian.all.filter((d) => d.name === "ca-certificates");
  if (!caDeb) throw new Error("inputs.lock.json pins no ca-certificates");
  const ca = await debFiles(
    debPath("ca-certificates", "all"),
    (p) => (p.startsWith("usr/share/ca-certificates/") && p.endsWith(".crt")) || copyrightOf("ca-certificates")(p),
  );
  const pems = [...ca].filter(([p]) => p.endsWith(".crt")).sort(([a], [b]) => (a < b ? -1 : 1));
  entries.push(file(CA_BUNDLE, Buffer.concat(pems.map(([, f]) => f.data ?? Buffer.alloc(0)))));
  const caCopyright = ca.get("usr/share/doc/ca-certificates/copyright")?.data;
  if (caCopyright) copyright.set("ca-certificates", caCopyright);

  // Users: root, and the non-root user the pods run as (distroless' "nonroot").
  entries.push(
    file(
      "/etc/passwd",
      `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NON_ROOT_UID}:${NON_ROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n`,
    ),
    file("/etc/group", `root:x:0:\nnonroot:x:${NON_ROOT_UID}:\n`),
    { path: "tmp", type: "dir", mode: 0o1777 },
    { path: "home/nonroot", type: "dir", mode: 0o700, uid: NON_ROOT_UID, gid: NON_ROOT_UID },
    // Mount points a container runtime fills; present so a read-only root needs no directory made at start.
    { path: "proc", type: "dir", mode: 0o555 },
    { path: "dev", type: "dir", mode: 0o755 },
    { path: "sys", type: "dir", mode: 0o555 },
  );

  // Licences of the Debian packages in the image (libgcc-s1 and libstdc++6 document theirs in gcc-12-base).
  const inImage = [...new Set(["ca-certificates", ...[...added].map((p) => libraries.get(p)?.owner ?? "?")])];
  const debian: DebianPart[] = [];
  for (const name of inImage.sort()) {
    const arch2 = name === "ca-certificates" ? "all" : arch;
    const pinned = lock.debian[arch2].find((d) => d.name === name);
    const text = copyright.get(name) ?? copyright.get("gcc-12-base");
    if (!pinned || !text) throw new Error(`${arch}: no pin or copyright for ${name}`);
    entries.push(file(`/licenses/debian/${name}/copyright`, text));
    debian.push({ name, version: pinned.version, arch: arch2, sha256: pinned.sha256, copyright: text });
  }
  return { entries, debian };
}

// ---- config ----

export interface ImageMeta {
  readonly version: string;
  readonly revision: string;
  readonly created: Date;
  readonly source?: string;
}

export function platformImageOf(
  arch: Arch,
  runtime: Layer,
  app: Layer,
  meta: ImageMeta,
  annotations: Readonly<Record<string, string>>,
): PlatformImage {
  const variant = ARCH[arch].variant;
  return platformImage(
    { architecture: arch, os: "linux", ...(variant ? { variant } : {}) },
    [
      { layer: runtime, createdBy: "scripts/image: Node.js runtime, shared libraries, CA certificates, users" },
      { layer: app, createdBy: "scripts/image: the operator's entry points and licences" },
    ],
    {
      User: `${NON_ROOT_UID}:${NON_ROOT_UID}`,
      Env: ["PATH=/nodejs/bin", `SSL_CERT_FILE=${CA_BUNDLE}`],
      Entrypoint: [NODE_BINARY],
      Cmd: [entryPoint("controller")],
      WorkingDir: APP_DIR,
      Labels: annotations,
    },
    meta.created,
    annotations,
  );
}

export { layerOf };

// The operator's image as `npm run image` builds it (dist/image; built here when missing or stale). Its layout and
// contents are read from the OCI layout; the amd64 image is unpacked and its three entry points are started from
// it as the manifests start them (the manifests' command and args over the image's entrypoint, their env and user,
// a read-only root, no container engine: sim/container), and as brupop's manifests do (`command: ./agent`). The
// arm64 image is checked with binutils' readelf and run under qemu's user-mode emulation.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationV1Api, CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import {
  TLS_DIR,
  COMPONENT_NAMES,
  NODE_BINARY,
  NODE_FLAGS,
  brupopExecutable,
  containerCommand,
  type ComponentName,
} from "../../src/deploy/pod.ts";
import { NON_ROOT_UID } from "../../src/deploy/security.ts";
import { createCertificateAuthority } from "../../src/pki/certificates.ts";
import { buildImage, SIZE_GOAL_BYTES, type BuildReport } from "../../scripts/image/build.ts";
import { unpackImage, type UnpackedImage } from "../../sim/container/image.ts";
import { containerArgv, containerProcess, type ContainerSpec, type Volume } from "../../sim/container/run.ts";
import { installOperatorCrds } from "../../sim/stand-ins/status-agents.ts";
import { builtImage, manifestContainers, podEnv, podUser, type ManifestContainer } from "../support/image.ts";
import { freePort } from "../../sim/control-plane/ports.ts";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** A component's whole command line, as the manifests give it. */
const argvOf = (c: ComponentName) => {
  const { command, args } = containerCommand(c);
  return [...command, ...args];
};

let t: TestCluster;
let layout: string;
let report: BuildReport;
let tmp: string;
let amd64: UnpackedImage;
let arm64: UnpackedImage;
let manifests: Record<ComponentName, ManifestContainer>;
const started: ChildProcess[] = [];

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  ({ layout, report } = await builtImage());
  tmp = mkdtempSync(join(tmpdir(), "brupop-image-"));
  chmodSync(tmp, 0o755);
  [amd64, arm64] = await Promise.all([
    unpackImage(layout, "amd64", join(tmp, "amd64")),
    unpackImage(layout, "arm64", join(tmp, "arm64")),
  ]);
  // cert-manager mode: the API server reads its TLS files from the mounted Secret, as brupop's does.
  manifests = manifestContainers({ tls: "cert-manager" });
}, 600_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  await t.cleanup();
});

// ---- helpers ----

function blobSize(digest: string): number {
  return statSync(join(layout, "blobs", "sha256", digest.replace(/^sha256:/, ""))).size;
}

/** All files of a rootfs, relative, with their type. */
function walk(root: string, dir = ""): { path: string; kind: "file" | "dir" | "symlink" }[] {
  const out: { path: string; kind: "file" | "dir" | "symlink" }[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isSymbolicLink()) out.push({ path, kind: "symlink" });
    else if (e.isDirectory()) out.push({ path, kind: "dir" }, ...walk(root, path));
    else out.push({ path, kind: "file" });
  }
  return out;
}

const isElf = (file: string) => {
  const head = Buffer.alloc(4);
  const data = readFileSync(file);
  data.copy(head, 0, 0, 4);
  return head.toString("latin1") === "\x7fELF";
};

/** GET `url`; over HTTPS trusting `ca`, and checking the certificate names `servername` when given. */
function statusOf(url: string, ca?: string, servername?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const done = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = url.startsWith("https:")
      ? httpsGet(url, { ca, ...(servername === undefined ? {} : { servername }) }, done)
      : httpGet(url, done);
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

interface Started {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

/** A directory a container's user can write, as the kubelet makes an emptyDir or a termination-log file. */
let volumes = 0;
function volumeDir(name: string, uid: number): string {
  const dir = join(tmp, "volumes", `${name}-${volumes++}`);
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, uid);
  return dir;
}

/**
 * Starts `component`'s manifest container from the amd64 image: its command and args (or `override`), its env as the
 * kubelet resolves it plus `env`, its user, a termination-log file at /dev/termination-log, and `volumes`.
 */
function startContainer(
  component: ComponentName,
  options: {
    env?: Record<string, string>;
    volumes?: Volume[];
    override?: Pick<ContainerSpec, "command" | "args">;
    bareEnv?: boolean;
    /** The pod's name (POD_NAME, a controller's identity in the Lease). */
    pod?: string;
  } = {},
): Started & { terminationLog: string } {
  const m = manifests[component];
  const user = podUser(m) ?? { uid: NON_ROOT_UID, gid: NON_ROOT_UID };
  const logDir = volumeDir(`termination-${component}`, user.uid);
  const terminationLog = join(logDir, "termination-log");
  writeFileSync(terminationLog, "");
  chownSync(terminationLog, user.uid, user.gid);
  const pod = options.pod ?? `${component}-image-test`;
  const env = options.bareEnv ? {} : podEnv(m, pod, t.namespace, "image-test-node");
  const spec: ContainerSpec = {
    ...(options.override ?? {
      ...(m.container.command ? { command: m.container.command } : {}),
      ...(m.container.args ? { args: m.container.args } : {}),
    }),
    env: { ...env, ...options.env },
    user,
    readOnlyRootFilesystem: m.container.securityContext?.readOnlyRootFilesystem ?? false,
    volumes: [{ host: terminationLog, path: "/dev/termination-log" }, ...(options.volumes ?? [])],
  };
  const p = containerProcess(amd64, spec);
  const child = spawn(p.command, p.args, { env: p.env, stdio: ["ignore", "pipe", "pipe"] });
  started.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited, terminationLog };
}

// ---- the build ----

describe("the image build (npm run image)", () => {
  it("is an OCI image index for linux/amd64 and linux/arm64, each within the size goal compressed", async () => {
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(index.manifests[0]?.digest).toBe(report.indexDigest);
    const images = JSON.parse(readFileSync(join(layout, "blobs", "sha256", report.indexDigest.slice(7)), "utf8")) as {
      mediaType: string;
      manifests: { digest: string; platform: { os: string; architecture: string } }[];
    };
    expect(images.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(images.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort()).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
    for (const m of images.manifests) {
      const manifest = JSON.parse(readFileSync(join(layout, "blobs", "sha256", m.digest.slice(7)), "utf8")) as {
        config: { digest: string };
        layers: { digest: string; size: number }[];
      };
      const compressed =
        blobSize(m.digest) +
        blobSize(manifest.config.digest) +
        manifest.layers.reduce((n, l) => n + blobSize(l.digest), 0);
      console.log(`linux/${m.platform.architecture}: ${(compressed / MiB).toFixed(1)} MiB compressed`);
      expect(compressed).toBeLessThanOrEqual(SIZE_GOAL_BYTES);
      for (const l of manifest.layers) expect(blobSize(l.digest)).toBe(l.size);
    }
    // The archive holds the same layout (what podman load / skopeo copy oci-archive: read).
    const { stdout } = await run("tar", ["-tf", join(layout, "..", report.archive)], { maxBuffer: 1 << 20 });
    expect(stdout.split("\n")).toEqual(
      expect.arrayContaining(["index.json", "oci-layout", `blobs/sha256/${report.indexDigest.slice(7)}`]),
    );
  });

  it("is reproducible: built again from the same inputs, the amd64 image has the same digest", async () => {
    const again = await buildImage({
      arches: ["amd64"],
      out: join(tmp, "again"),
      reference: report.reference,
      log: () => undefined,
    });
    expect(again.platforms.amd64?.manifestDigest).toBe(report.platforms.amd64?.manifestDigest);
    expect(again.platforms.amd64?.layers).toEqual(report.platforms.amd64?.layers);
  }, 300_000);
});

describe("the image's contents", () => {
  it("runs as the non-root user by default, and holds no shell", () => {
    expect(amd64.config.User).toBe(`${NON_ROOT_UID}:${NON_ROOT_UID}`);
    expect(readFileSync(join(amd64.rootfs, "etc", "passwd"), "utf8")).toMatch(
      new RegExp(`^nonroot:x:${NON_ROOT_UID}:${NON_ROOT_UID}:`, "m"),
    );
    for (const image of [amd64, arm64]) {
      const names = walk(image.rootfs).map((f) => f.path.split("/").at(-1));
      expect(names.filter((n) => ["sh", "bash", "dash", "busybox", "ash", "zsh"].includes(n ?? ""))).toEqual([]);
      expect(existsSync(join(image.rootfs, "bin"))).toBe(false);
    }
  });

  it("runs the project's exact Node.js (package.json's pin, which the tests run on too)", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
      devDependencies: { node: string };
    };
    expect(process.version).toBe(`v${pkg.devDependencies.node}`);
    const p = startContainer("controller", {
      bareEnv: true,
      override: { command: [NODE_BINARY, "-p", "process.version"] },
    });
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output().trim()).toBe(`v${pkg.devDependencies.node}`);
  });

  it("carries the licence of everything inside, and an SBOM beside it that lists it", () => {
    const licenses = join(amd64.rootfs, "licenses");
    expect(existsSync(join(licenses, "bottlerocket-update-operator", "LICENSE"))).toBe(true);
    expect(readFileSync(join(licenses, "node", "LICENSE"), "utf8")).toMatch(/Node\.js is licensed for use as follows/);
    const lock = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string; integrity?: string; dev?: boolean }>;
    };
    for (const arch of ["amd64", "arm64"] as const) {
      const sbom = JSON.parse(readFileSync(join(layout, "..", `sbom-${arch}.cdx.json`), "utf8")) as {
        bomFormat: string;
        metadata: { component: { hashes: { content: string }[] } };
        components: { name: string; version: string; purl: string; hashes: { alg: string; content: string }[] }[];
      };
      expect(sbom.bomFormat).toBe("CycloneDX");
      expect(`sha256:${sbom.metadata.component.hashes[0]?.content ?? ""}`).toBe(report.platforms[arch]?.manifestDigest);
      const npm = sbom.components.filter(
        (c) => c.purl.startsWith("pkg:npm/") && !c.purl.startsWith("pkg:npm/node-linux-"),
      );
      const debs = sbom.components.filter((c) => c.purl.startsWith("pkg:deb/"));
      expect(npm.length).toBeGreaterThan(20);
      expect(debs.map((d) => d.name).sort()).toEqual(["ca-certificates", "libc6", "libgcc-s1", "libstdc++6"]);
      for (const d of debs) expect(existsSync(join(licenses, "debian", d.name, "copyright")), d.name).toBe(true);
      for (const c of npm) {
        // Each is a production dependency in package-lock.json at that version and tarball hash, with its licence here.
        const entries = Object.entries(lock.packages).filter(
          ([path, p]) => path.endsWith(`node_modules/${c.name}`) && p.version === c.version,
        );
        expect(entries.length, `${c.name}@${c.version} in package-lock.json`).toBeGreaterThan(0);
        expect(
          entries.some(([, p]) => p.dev !== true),
          `${c.name} is a development dependency`,
        ).toBe(true);
        const sha512 = c.hashes.find((h) => h.alg === "SHA-512")?.content;
        expect(
          entries.some(([, p]) => p.integrity === `sha512-${Buffer.from(sha512 ?? "", "hex").toString("base64")}`),
        ).toBe(true);
        expect(readdirSync(join(licenses, "npm", `${c.name}@${c.version}`)).length, c.name).toBeGreaterThan(0);
      }
    }
  });

  it("matches the manifests: each container's command is the image's node, its args name files of the image, with brupop's executables beside them", () => {
    for (const c of COMPONENT_NAMES) {
      // The manifests spell out the command (over a Helm-made brupop installation, an apply would otherwise keep
      // brupop's ./agent): it must be the image's own entrypoint.
      expect(manifests[c].container.command, c).toEqual(amd64.config.Entrypoint);
      const argv = containerArgv(amd64.config, manifests[c].container);
      expect(argv, c).toEqual(argvOf(c));
      expect(isElf(join(amd64.rootfs, argv[0] ?? "")), `${argv[0] ?? ""} is an executable`).toBe(true);
      for (const path of argv.filter((a) => a.startsWith("/")))
        expect(existsSync(join(amd64.rootfs, path)), path).toBe(true);
      const launcher = join(amd64.rootfs, brupopExecutable(c));
      expect(statSync(launcher).mode & 0o111, `${c} is executable`).toBe(0o111);
      expect(readFileSync(launcher, "utf8").split("\n")[0]).toBe(`#!${[NODE_BINARY, ...NODE_FLAGS[c]].join(" ")}`);
      expect(brupopExecutable(c)).toBe(join(amd64.config.WorkingDir ?? "/", c));
    }
  });
});

// ---- the amd64 image, run ----

const missing: Record<ComponentName, RegExp[]> = {
  agent: [/invalid agent configuration/, /MY_NODE_NAME is required/, /APISERVER_SERVICE_PORT is required/],
  apiserver: [/invalid configuration/, /APISERVER_INTERNAL_PORT is required/],
  controller: [/invalid controller configuration/, /MY_NODE_NAME is required/],
};

describe("the amd64 image's entry points, started as containers", () => {
  it.each(COMPONENT_NAMES)("%s: without its configuration exits 1 naming what is missing", async (c) => {
    const p = startContainer(c, { bareEnv: true });
    const code = await p.exited;
    const output = p.output();
    expect(output).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)|SyntaxError|Dynamic require/);
    expect(code, output).toBe(1);
    for (const m of missing[c]) expect(output).toMatch(m);
    // The agent and the API server leave the reason where `kubectl describe pod` shows it.
    if (c !== "controller")
      for (const m of missing[c].slice(1)) expect(readFileSync(p.terminationLog, "utf8")).toMatch(m);
  });

  it.each(COMPONENT_NAMES)(
    "%s: brupop's `command: ./<component>` starts it, with or without this project's args",
    async (c) => {
      for (const override of [
        { command: [`./${c}`] },
        { command: [`./${c}`], args: manifests[c].container.args ?? [] },
      ]) {
        const p = startContainer(c, { bareEnv: true, override });
        const code = await p.exited;
        expect(code, `${JSON.stringify(override)}: ${p.output()}`).toBe(1);
        for (const m of missing[c]) expect(p.output()).toMatch(m);
      }
    },
  );

  it("agent: configured, with no API server, serves /livez (not ready) and stops with 0 on SIGTERM", async () => {
    const healthPort = await freePort();
    const p = startContainer("agent", {
      env: {
        APISERVER_SERVICE_PORT: String(await freePort()),
        KUBE_API_URL: `https://127.0.0.1:${await freePort()}`,
        AGENT_HEALTH_PORT: String(healthPort),
      },
    });
    const live = await eventually("agent /livez", async () =>
      statusOf(`http://127.0.0.1:${healthPort}/livez`).catch(() => undefined),
    );
    expect(live.status, p.output()).toBe(200);
    expect((await statusOf(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(503);
    expect(p.output()).toMatch(/agent started/);
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toMatch(/agent stopped/);
  });

  it("apiserver: with its TLS Secret mounted, serves /livez over HTTPS and /metrics, and stops on SIGTERM", async () => {
    const tls = volumeDir("tls", 0);
    const ca = await createCertificateAuthority("image-test-ca");
    const leaf = await ca.issue({ commonName: "brupop-apiserver", ipAddresses: ["127.0.0.1"], usages: ["server"] });
    writeFileSync(join(tls, "ca.crt"), ca.certPem);
    writeFileSync(join(tls, "tls.crt"), leaf.certPem);
    writeFileSync(join(tls, "tls.key"), leaf.keyPem, { mode: 0o644 }); // a Secret volume's files, readable by the pod
    const port = await freePort();
    const metricsPort = await freePort();
    const p = startContainer("apiserver", {
      env: {
        APISERVER_INTERNAL_PORT: String(port),
        APISERVER_METRICS_PORT: String(metricsPort),
        APISERVER_BIND_ADDRESS: "127.0.0.1",
      },
      volumes: [{ host: tls, path: TLS_DIR, readOnly: true }],
    });
    const live = await eventually("API server /livez", async () =>
      statusOf(`https://127.0.0.1:${port}/livez`, ca.certPem).catch(() => undefined),
    );
    expect(live.status, p.output()).toBe(200);
    const metrics = await statusOf(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^# HELP /m);
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output()).toBe(0);
  });

  it("controller: in-cluster on the real control plane, leader and standby become ready; each stops with 0 on SIGTERM, the leader releasing its lease", async () => {
    await installOperatorCrds(t.kc);
    const secrets = await serviceAccountVolume("controller");
    const server = new URL(t.info.server);
    const controller = async (pod?: string) => {
      const port = await freePort();
      const p = startContainer("controller", {
        // podEnv names the pod controller-image-test unless told: POD_NAME, the identity in the Lease.
        ...(pod ? { pod } : {}),
        env: {
          KUBERNETES_SERVICE_HOST: server.hostname,
          KUBERNETES_SERVICE_PORT: server.port,
          METRICS_PORT: String(port),
        },
        volumes: [{ host: secrets, path: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
      });
      const ready = await eventually(
        "controller /readyz",
        async () => {
          const r = await statusOf(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
          return r?.status === 200 ? r : undefined;
        },
        60_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${p.output()}`);
      });
      expect(ready.status).toBe(200);
      expect((await statusOf(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
      expect(p.output()).toMatch(/caches synced/);
      return p;
    };
    const p = await controller();
    // The Lease the manifest names holds this pod as leader; SIGTERM gives it up.
    const env = podEnv(manifests.controller, "controller-image-test", t.namespace, "image-test-node");
    const lease = { name: env.LEADER_ELECTION_LEASE_NAME ?? "", namespace: t.namespace };
    const coordination = t.kc.makeApiClient(CoordinationV1Api);
    await eventually(
      "the controller leading",
      async () => {
        const l = await coordination.readNamespacedLease(lease).catch(() => undefined);
        return l?.spec?.holderIdentity === env.POD_NAME && /leading as/.test(p.output()) ? l : undefined;
      },
      60_000,
    );
    // A standby (ready, the Lease held by the other) stops as cleanly as the leader.
    const standby = await controller("controller-image-test-standby");
    expect((await coordination.readNamespacedLease(lease)).spec?.holderIdentity).toBe(env.POD_NAME);
    standby.child.kill("SIGTERM");
    expect(await standby.exited, standby.output()).toBe(0);
    expect(standby.output()).not.toMatch(/leading as/);
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toMatch(/releasing the lease/);
    expect((await coordination.readNamespacedLease(lease)).spec?.holderIdentity).toBe("");
  });

  it("apiserver: in-cluster with its built-in CA, makes its certificate (code the image loads only for that) and serves with it", async () => {
    await installOperatorCrds(t.kc);
    const secrets = await serviceAccountVolume("apiserver");
    const server = new URL(t.info.server);
    const port = await freePort();
    const p = startContainer("apiserver", {
      env: {
        KUBERNETES_SERVICE_HOST: server.hostname,
        KUBERNETES_SERVICE_PORT: server.port,
        APISERVER_TLS_MODE: "builtin",
        APISERVER_INTERNAL_PORT: String(port),
        APISERVER_METRICS_PORT: String(await freePort()),
        APISERVER_BIND_ADDRESS: "127.0.0.1",
      },
      volumes: [{ host: secrets, path: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
    });
    const core = t.kc.makeApiClient(CoreV1Api);
    const caSecret = await eventually(
      "the CA Secret the API server made",
      async () => {
        const secret = await core.readNamespacedSecret({ name: "brupop-apiserver-ca", namespace: t.namespace });
        return secret.data?.["ca.crt"] === undefined ? undefined : secret;
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${p.output()}`);
    });
    const caPem = Buffer.from(caSecret.data?.["ca.crt"] ?? "", "base64").toString("utf8");
    const live = await eventually("API server /livez with its own certificate", async () =>
      // Its certificate names its Service, as the agents and kube-apiserver reach it.
      statusOf(`https://127.0.0.1:${port}/livez`, caPem, `brupop-apiserver.${t.namespace}.svc`).catch(() => undefined),
    );
    expect(live.status, p.output()).toBe(200);
    expect(p.output()).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find module/);
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output()).toBe(0);
  });
});

/**
 * A service account of the test's namespace bound to cluster-admin (each component's own RBAC is tested with the
 * manifests), and the directory of the files the kubelet mounts for it.
 */
async function serviceAccountVolume(component: ComponentName): Promise<string> {
  const core = t.kc.makeApiClient(CoreV1Api);
  const sa = `image-test-${component}`;
  await core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: sa } } });
  await t.kc.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: `${t.namespace}-image-${component}` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: t.namespace }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: t.namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const secrets = volumeDir(`serviceaccount-${component}`, 0);
  writeFileSync(join(secrets, "token"), token.status?.token ?? "");
  writeFileSync(join(secrets, "ca.crt"), t.info.caPem);
  writeFileSync(join(secrets, "namespace"), t.namespace);
  return secrets;
}

// ---- the arm64 image ----

describe("the arm64 image", () => {
  it("holds AArch64 executables and libraries only, each library a file of the image", async () => {
    const elves = walk(arm64.rootfs).filter((f) => f.kind === "file" && isElf(join(arm64.rootfs, f.path)));
    expect(elves.map((f) => f.path)).toContain(NODE_BINARY.slice(1));
    const libDirs = ["lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu"];
    for (const f of elves) {
      const { stdout } = await run("readelf", ["-h", "-d", "-l", "-W", join(arm64.rootfs, f.path)], {
        maxBuffer: 16 << 20,
      });
      expect(stdout, f.path).toMatch(/Machine:\s+AArch64/);
      for (const [, lib] of stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
        expect(
          libDirs.some((d) => existsSync(join(arm64.rootfs, d, lib ?? ""))),
          `${f.path} needs ${lib ?? ""}`,
        ).toBe(true);
      }
      const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(stdout)?.[1];
      if (interpreter) expect(existsSync(join(arm64.rootfs, interpreter)), interpreter).toBe(true);
    }
  });

  it("runs: its node starts the agent's entry point under qemu-aarch64 (exit 1 naming the missing settings)", async () => {
    const qemu = await run("sh", ["-c", "command -v qemu-aarch64"]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    expect(qemu, "qemu-aarch64 (Debian's qemu-user, which .ci/run installs)").not.toBe("");
    const node = join(arm64.rootfs, NODE_BINARY.slice(1));
    const version = await run(qemu, ["-L", arm64.rootfs, node, "-p", "process.version + ' ' + process.arch"]);
    expect(version.stdout.trim()).toBe(`${process.version} arm64`);
    const agent = await run(
      qemu,
      [
        "-L",
        arm64.rootfs,
        node,
        ...containerCommand("agent").args.map((a) => (a.startsWith("/") ? join(arm64.rootfs, a) : a)),
      ],
      { env: {} },
    ).then(
      () => ({ code: 0, out: "" }),
      (err: unknown) => {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout + e.stderr };
      },
    );
    expect(agent.code, agent.out).toBe(1);
    for (const m of missing.agent) expect(agent.out).toMatch(m);
  });
});

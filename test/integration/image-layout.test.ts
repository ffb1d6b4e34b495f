// The container image's contents, without a Docker engine: the Dockerfile's stages are reproduced on this machine and
// the result is started as the manifests start it. Build stage: the Dockerfile's COPY sources less what .dockerignore
// leaves out, copied to a temporary /src with the repository's node_modules, then the Dockerfile's own tsc command
// (so a source needing a file outside the build context fails here too). Prod-deps stage: the Dockerfile's own `npm ci` command, offline from the npm cache that the project's
// `npm ci` filled, in a directory holding only package.json and package-lock.json. Runtime stage: node_modules and
// dist side by side with package.json, outside the repository (so no module can resolve to the repository's dev
// dependencies or to src/). Each entry point is then started with the node flags from src/deploy and
// NODE_ENV=production: with an empty environment it exits 1 naming what is missing; with a little configuration and no
// cluster the agent and the API server serve their probes and stop cleanly on SIGTERM.
// Not covered here: pulling the base images and `docker build` itself (distroless' node is the same major, 24).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { get as httpsGet } from "node:https";
import { get as httpGet } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorObjects } from "../../src/deploy/manifest.ts";
import { resolveOptions } from "../../src/deploy/options.ts";
import { APP_DIR, NODE_BINARY } from "../../src/deploy/pod.ts";
import { createCertificateAuthority } from "../../src/pki/certificates.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const COMPONENTS = ["agent", "apiserver", "controller"] as const;
type Component = (typeof COMPONENTS)[number];

// ---- the Dockerfile, read simply: stages by FROM, instructions with line continuations joined ----

interface Stage {
  readonly name: string;
  readonly instructions: { op: string; args: string }[];
}

function dockerfileStages(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) {
    const [op = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (op.toUpperCase() === "FROM") {
      stages.push({ name: /\sAS\s+(\S+)$/i.exec(line)?.[1] ?? String(stages.length), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly dest: string;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.op === "COPY")
    .map(({ args }) => {
      const words = args.split(/\s+/);
      const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
      const paths = words.filter((w) => !w.startsWith("--"));
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? "" };
    });
}

function stageNamed(stages: Stage[], name: string): Stage {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new Error(`the Dockerfile has no stage ${name}`);
  return stage;
}

/** The words of the stage's first RUN command matching `pattern` (up to a `&&`). */
function runCommand(stage: Stage, pattern: RegExp): string[] {
  const run = stage.instructions.find((i) => i.op === "RUN" && pattern.test(i.args));
  if (!run) throw new Error(`stage ${stage.name} has no RUN matching ${String(pattern)}`);
  return (run.args.split("&&")[0] ?? "").trim().split(/\s+/);
}

const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
const stages = dockerfileStages(dockerfile);
const runtime = stages.at(-1) as Stage;

/** .dockerignore's patterns in order (`!` re-includes; the last match decides, a match on a directory covers it). */
const ignorePatterns = readFileSync(join(root, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => {
    const include = l.startsWith("!");
    const glob = (include ? l.slice(1) : l).replace(/\/+$/, "");
    const source = glob
      .split("/")
      .map((part) => (part === "**" ? ".*" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")))
      .join("/")
      .replace(/\.\*\//g, "(?:.*/)?");
    return { include, re: new RegExp(`^${source}$`) };
  });

function ignored(path: string): boolean {
  const prefixes = path.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let result = false;
  for (const { include, re } of ignorePatterns) if (prefixes.some((p) => re.test(p))) result = !include;
  return result;
}

/** Copies `source` (relative to the repository) into `to` as `docker build` sends it: without ignored files. */
function copyContext(source: string, to: string): void {
  const from = join(root, source);
  const files = statSync(from).isDirectory()
    ? readdirSync(from, { recursive: true, encoding: "utf8" }).map((f) => join(source, f))
    : [source];
  for (const file of files) {
    if (ignored(file) || statSync(join(root, file)).isDirectory()) continue;
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(root, file), join(to, file));
  }
}

// ---- how the manifests start each component ----

function manifestArgs(): Record<Component, string[]> {
  const options = resolveOptions();
  const found: Partial<Record<Component, string[]>> = {};
  for (const object of operatorObjects(options) as {
    kind?: string;
    spec?: { template?: { spec?: { containers?: { image?: string; command?: string[]; args?: string[] }[] } } };
  }[]) {
    for (const container of object.spec?.template?.spec?.containers ?? []) {
      if (container.image !== options.image) continue;
      // The manifests name the image's node (its ENTRYPOINT) as the command, and give node's arguments; here the
      // test's node stands in for it.
      expect(container.command, `${object.kind} runs something other than the image's node`).toEqual([NODE_BINARY]);
      const args = container.args ?? [];
      const component = /\/dist\/([a-z]+)\/main\.js$/.exec(args.at(-1) ?? "")?.[1] as Component | undefined;
      if (component && COMPONENTS.includes(component)) found[component] = args;
    }
  }
  for (const c of COMPONENTS) if (!found[c]) throw new Error(`no manifest container starts ${c}`);
  return found as Record<Component, string[]>;
}

// ---- processes ----

/** npm's CLI, run by this Node (24): the npm that `npm run` uses, else the one on PATH. */
function npmCli(): string {
  const fromNpmRun = process.env.npm_execpath;
  if (fromNpmRun && /npm-cli\.js$/.test(fromNpmRun)) return fromNpmRun;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "npm");
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  throw new Error("npm not found");
}

/** The environment without the settings `npm run` exports for its scripts (they describe the repository). */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("npm_") && k !== "npm_config_cache" && k !== "npm_config_registry") continue;
    env[k] = v;
  }
  env.PATH = [dirname(process.execPath), env.PATH ?? ""].join(delimiter);
  return env;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

function statusOf(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const done = (res: import("node:http").IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = url.startsWith("https:") ? httpsGet(url, { ca }, done) : httpGet(url, done);
    req.on("error", reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  });
}

async function eventually<T>(what: string, attempt: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

// ---- the stages, reproduced ----

let tmp: string;
let app: string;
let args: Record<Component, string[]>;
const started: ChildProcess[] = [];

/** Node's arguments as the manifest gives them, the image's /app mapped to the reproduced layout. */
const nodeArgs = (c: Component): string[] =>
  args[c].map((a) => (a.startsWith(`${APP_DIR}/`) ? app + a.slice(APP_DIR.length) : a));

/** A production environment with only `extra` set (no KUBECONFIG, no HOME with a kubeconfig, no cluster). */
function bareEnv(c: Component, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: "production",
    PATH: "/usr/bin:/bin",
    HOME: tmp,
    TERMINATION_LOG: join(tmp, `termination-log-${c}`),
    ...extra,
  };
}

function start(c: Component, env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, nodeArgs(c), { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
  started.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

beforeAll(async () => {
  args = manifestArgs();
  tmp = mkdtempSync(join(tmpdir(), "brupop-image-"));
  app = join(tmp, "app");
  // Build stage: its build context (the COPY sources, less what .dockerignore leaves out) in /src's stead, with the
  // repository's full node_modules (the stage's `npm ci` installs the same), then its own tsc command, run by this Node.
  const build = join(tmp, "src");
  const buildStage = stageNamed(stages, "build");
  for (const copy of copies(buildStage).filter((c) => c.from === undefined)) {
    for (const source of copy.sources) copyContext(source, build);
  }
  symlinkSync(join(root, "node_modules"), join(build, "node_modules"), "dir");
  const tsc = runCommand(buildStage, /typescript\/bin\/tsc/);
  expect(tsc[0]).toBe("node");
  const compiled = run(process.execPath, tsc.slice(1), { cwd: build, timeout: 60_000, killSignal: "SIGKILL" }).catch(
    (err: unknown) => {
      throw new Error(`build stage (${tsc.join(" ")}): ${String(err)}`, { cause: err });
    },
  );
  // Prod-deps stage: its npm ci command, offline (the cache the project's own `npm ci` filled), in /app's stead.
  const npmCi = runCommand(stageNamed(stages, "prod-deps"), /npm ci/);
  expect(npmCi.slice(0, 2)).toEqual(["npm", "ci"]);
  expect(npmCi).toContain("--omit=dev");
  mkdirSync(app);
  for (const file of ["package.json", "package-lock.json"])
    writeFileSync(join(app, file), readFileSync(join(root, file)));
  const installed = run(process.execPath, [npmCli(), ...npmCi.slice(1), "--offline"], {
    cwd: app,
    env: npmEnv(),
    timeout: 60_000,
    killSignal: "SIGKILL",
  }).catch((err: unknown) => {
    throw new Error(`prod-deps stage (${npmCi.join(" ")} --offline): ${String(err)}`, { cause: err });
  });
  await Promise.all([compiled, installed]);
  // Runtime stage: /app/node_modules, /app/dist, /app/package.json.
  renameSync(join(build, "dist"), join(app, "dist"));
}, 120_000);

afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the Dockerfile", () => {
  it("copies sources that exist", () => {
    for (const stage of stages) {
      for (const copy of copies(stage).filter((c) => c.from === undefined)) {
        for (const source of copy.sources) {
          expect(existsSync(join(root, source)), `${stage.name}: COPY ${source}`).toBe(true);
          expect(ignored(source), `${stage.name}: COPY ${source} is left out by .dockerignore`).toBe(false);
        }
      }
    }
  });

  it("sends a build context without tests and node_modules (.dockerignore, as read here)", () => {
    expect(ignored("src/agent/main.ts")).toBe(false);
    expect(ignored("tsconfig.build.json")).toBe(false);
    expect(ignored("src/agent/agent.test.ts")).toBe(true);
    expect(ignored("node_modules/typescript/package.json")).toBe(true);
    expect(ignored("test/integration/image-layout.test.ts")).toBe(true);
    expect(existsSync(join(tmp, "src", "src", "agent", "main.ts"))).toBe(true);
    expect(existsSync(join(tmp, "src", "src", "agent", "agent.test.ts"))).toBe(false);
  });

  it("runs the runtime stage as a non-root user, in the manifests' working directory", () => {
    const user = runtime.instructions.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    const [uid = "", gid] = (user ?? "").split(":");
    expect(uid).not.toMatch(/^(0|root)$/);
    expect(gid ?? "").not.toMatch(/^(0|root)$/);
    expect(runtime.instructions.find((i) => i.op === "WORKDIR")?.args).toBe(APP_DIR);
  });

  it("gives the runtime stage only the production node_modules and the compiled dist from the other stages", () => {
    const fromStages = copies(runtime).filter((c) => c.from !== undefined);
    const prodDepsDir = stageNamed(stages, "prod-deps").instructions.find((i) => i.op === "WORKDIR")?.args;
    const buildDir = stageNamed(stages, "build").instructions.find((i) => i.op === "WORKDIR")?.args;
    expect(fromStages.map(({ from, sources }) => ({ from, sources }))).toEqual([
      { from: "prod-deps", sources: [`${prodDepsDir}/node_modules`] },
      { from: "build", sources: [`${buildDir}/dist`] },
    ]);
    // From the build context, package.json alone ("type": "module" for dist/'s .js files).
    expect(
      copies(runtime)
        .filter((c) => c.from === undefined)
        .flatMap((c) => c.sources),
    ).toEqual(["package.json"]);
  });
});

describe("the reproduced runtime layout", () => {
  it("is /app's: node_modules, dist and package.json", () => {
    expect(readdirSync(app).sort()).toEqual(["dist", "node_modules", "package-lock.json", "package.json"]);
    for (const c of COMPONENTS) expect(existsSync(join(app, "dist", c, "main.js")), c).toBe(true);
  });

  it("holds no development dependency and no TypeScript", () => {
    const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const dev = Object.entries(lock.packages).filter(([path, p]) => path !== "" && p.dev === true);
    expect(dev.length).toBeGreaterThan(0);
    expect(dev.map(([path]) => path).filter((path) => existsSync(join(app, path)))).toEqual([]);
    expect(existsSync(join(app, "node_modules", "typescript"))).toBe(false);

    const files = readdirSync(join(app, "dist"), { recursive: true, encoding: "utf8" });
    expect(files.filter((f) => f.endsWith(".ts"))).toEqual([]);
    const tsImports = files
      .filter((f) => f.endsWith(".js"))
      .filter((f) =>
        /(?:from\s*|import\s*\(\s*)["']\.{1,2}\/[^"']*\.ts["']/.test(readFileSync(join(app, "dist", f), "utf8")),
      );
    expect(tsImports).toEqual([]);
  });
});

describe("each entry point, started as the manifest starts it", () => {
  it("takes the node flags from the manifests (the agent runs --jitless)", () => {
    expect(args.agent.slice(0, -1)).toContain("--jitless");
    for (const c of COMPONENTS) expect(args[c].at(-1)).toBe(`${APP_DIR}/dist/${c}/main.js`);
  });

  const missing: Record<Component, RegExp[]> = {
    agent: [/invalid agent configuration/, /MY_NODE_NAME is required/, /APISERVER_SERVICE_PORT is required/],
    apiserver: [/invalid configuration/, /APISERVER_INTERNAL_PORT is required/],
    controller: [/invalid controller configuration/, /MY_NODE_NAME is required/],
  };

  it.each(COMPONENTS)("%s: without its configuration exits 1 naming what is missing", async (c) => {
    const p = start(c, bareEnv(c));
    const code = await p.exited;
    const output = p.output();
    expect(output).not.toMatch(
      /ERR_MODULE_NOT_FOUND|Cannot find (module|package)|SyntaxError|ERR_UNKNOWN_FILE_EXTENSION/,
    );
    expect(code, output).toBe(1);
    for (const m of missing[c]) expect(output).toMatch(m);
    // The agent and the API server also leave the reason where `kubectl describe pod` shows it.
    if (c !== "controller") {
      const log = readFileSync(join(tmp, `termination-log-${c}`), "utf8");
      for (const m of missing[c].slice(1)) expect(log).toMatch(m);
    }
  });

  it("agent: configured but with no cluster, serves /livez (not ready) and stops with 0 on SIGTERM", async () => {
    const healthPort = await freePort();
    const p = start(
      "agent",
      bareEnv("agent", {
        MY_NODE_NAME: "image-test-node",
        APISERVER_SERVICE_PORT: String(await freePort()),
        KUBE_API_URL: `https://127.0.0.1:${await freePort()}`,
        AGENT_HEALTH_PORT: String(healthPort),
      }),
    );
    const live = await eventually("agent /livez", () => statusOf(`http://127.0.0.1:${healthPort}/livez`));
    expect(live.status).toBe(200);
    expect((await statusOf(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(503);
    expect(p.output()).toMatch(/agent started/);
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toMatch(/agent stopped/);
  });

  it("apiserver: with TLS files and no cluster, serves /livez over HTTPS and /metrics, and stops on SIGTERM", async () => {
    const tls = join(tmp, "tls");
    mkdirSync(tls);
    const ca = await createCertificateAuthority("image-test-ca");
    const leaf = await ca.issue({ commonName: "brupop-apiserver", ipAddresses: ["127.0.0.1"], usages: ["server"] });
    writeFileSync(join(tls, "ca.crt"), ca.certPem);
    writeFileSync(join(tls, "tls.crt"), leaf.certPem);
    writeFileSync(join(tls, "tls.key"), leaf.keyPem);
    const port = await freePort();
    const metricsPort = await freePort();
    const p = start(
      "apiserver",
      bareEnv("apiserver", {
        APISERVER_INTERNAL_PORT: String(port),
        APISERVER_METRICS_PORT: String(metricsPort),
        APISERVER_BIND_ADDRESS: "127.0.0.1",
        APISERVER_TLS_MODE: "files",
        APISERVER_TLS_DIR: tls,
        POD_NAMESPACE: "brupop-image-test",
      }),
    );
    const live = await eventually("API server /livez", () => statusOf(`https://127.0.0.1:${port}/livez`, ca.certPem));
    expect(live.status, p.output()).toBe(200);
    expect(p.output()).toMatch(/API server listening/);
    const metrics = await statusOf(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^# HELP /m);
    p.child.kill("SIGTERM");
    const code = await p.exited;
    expect(code, p.output()).toBe(0);
    expect(p.output()).toMatch(/shutting down/);
  });
});

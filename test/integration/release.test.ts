// The release workflow's project steps (.github/workflows/release.yml), run here with the workflow's own commands
// against an OCI registry on loopback (Debian's docker-registry, the CNCF distribution registry): `npm run
// release:artifacts` (scripts/release/artifacts.ts) assembles the release files, `npm run release:push`
// (scripts/release/push.ts) pushes the multi-arch image and the chart. The registry is then read back by other
// clients: skopeo pulls the index (same digest, both platforms), helm pulls the chart and renders the pinned image,
// sha256sum checks SHA256SUMS. Not run here: cosign's keyless signing (it needs the CI's OIDC identity).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helmBinary } from "../../scripts/release/artifacts.ts";
import { builtImage } from "../support/image.ts";
import { freePort } from "../../sim/control-plane/ports.ts";
import { eventually } from "../support/cluster.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
/** `npm run <script> -- args` from the checkout, as the workflow runs it; its stdout. */
const npmRun = async (script: string, args: string[]): Promise<string> =>
  (await run("npm", ["run", "--silent", script, "--", ...args], { cwd: root, maxBuffer: 16 << 20 })).stdout;
let tmp: string;
let registry: ChildProcess | undefined;
let host: string;
let out: string;
let digest: string;

beforeAll(async () => {
  // The index digest of the image npm run image built: what every release file and the registry must name.
  digest = (await builtImage()).report.indexDigest;
  tmp = mkdtempSync(join(tmpdir(), "brupop-release-"));
  host = `127.0.0.1:${await freePort()}`;
  const config = join(tmp, "registry.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${join(tmp, "storage")} }, delete: { enabled: true } }\nhttp: { addr: "${host}" }\n`,
  );
  registry = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  await eventually("the registry on loopback", async () => {
    const r = await fetch(`http://${host}/v2/`).catch(() => undefined);
    return r?.ok ? r : undefined;
  });
  out = join(tmp, "release");
}, 600_000);

afterAll(() => {
  registry?.kill("SIGTERM");
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the release steps", () => {
  it("artifacts: manifest and chart pinned to the image's digest, image archive, SBOMs, CLI, SHA256SUMS", async () => {
    const image = `${host}/brupop/bottlerocket-update-operator:v0.0.0-test`;
    const printed = await npmRun("release:artifacts", ["--image", image, "--out", out]);
    expect(readFileSync(join(out, "image-digest"), "utf8").trim()).toBe(digest);
    expect(printed.split("\n")[0]).toBe(`${image}@${digest}`);
    const files = readFileSync(join(out, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("  ")[1]);
    expect(files).toEqual(
      expect.arrayContaining([
        "bottlerocket-update-operator.yaml",
        "bottlerocket-update-operator.oci.tar",
        "sbom-image-linux-amd64.cdx.json",
        "sbom-image-linux-arm64.cdx.json",
        "brupop-linux-amd64",
        "brupop-linux-arm64",
        "brupop-THIRD-PARTY-NOTICES",
      ]),
    );
    expect(files.some((f) => /^brupop-cli-npm-.*\.tgz$/.test(f ?? ""))).toBe(true);
    expect(files.some((f) => /^bottlerocket-update-operator-\d.*\.tgz$/.test(f ?? ""))).toBe(true);
    expect(files.some((f) => /^bottlerocket-shadow-\d.*\.tgz$/.test(f ?? ""))).toBe(true);
    const { stdout } = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out });
    expect(
      stdout
        .trim()
        .split("\n")
        .every((l) => l.endsWith(": OK")),
    ).toBe(true);
    const manifest = readFileSync(join(out, "bottlerocket-update-operator.yaml"), "utf8");
    const images = new Set([...manifest.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]));
    expect([...images]).toEqual([`${image}@${digest}`]);
  }, 600_000);

  it("push: the registry serves the built index (same digest, both platforms) and both charts", async () => {
    const image = `${host}/brupop/bottlerocket-update-operator:v0.0.0-test`;
    const printed = await npmRun("release:push", [
      "--image",
      image,
      "--chart",
      `oci://${host}/charts`,
      "--plain-http",
      "--release",
      out,
    ]);
    expect(printed.split("\n")[0]).toBe(`${image}@${digest}`);
    // Read back by skopeo as a pull would: the index, then each platform's manifest.
    const { stdout: raw } = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${image}`]);
    expect(`sha256:${createHash("sha256").update(raw).digest("hex")}`).toBe(digest);
    const index = JSON.parse(raw) as { manifests: { platform: { architecture: string } }[] };
    expect(index.manifests.map((m) => m.platform.architecture).sort()).toEqual(["amd64", "arm64"]);
    for (const arch of ["amd64", "arm64"]) {
      const { stdout } = await run("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        arch,
        `docker://${image}`,
      ]);
      const info = JSON.parse(stdout) as { Architecture: string; Layers: string[] };
      expect(info.Architecture).toBe(arch);
      expect(info.Layers).toHaveLength(2);
    }
    // The charts, pulled and rendered: the operator's pods run the pushed image, pinned; the CRDs' chart holds them.
    const helm = await helmBinary();
    mkdirSync(join(tmp, "pulled"));
    const pulled = async (chart: string): Promise<string> => {
      const version =
        /^version: (\S+)$/m.exec(readFileSync(join(root, "deploy/charts", chart, "Chart.yaml"), "utf8"))?.[1] ?? "";
      await run(helm, [
        "pull",
        `oci://${host}/charts/${chart}`,
        "--version",
        version,
        "--plain-http",
        "--destination",
        join(tmp, "pulled"),
      ]);
      const { stdout } = await run(helm, ["template", "r", join(tmp, "pulled", `${chart}-${version}.tgz`)], {
        maxBuffer: 16 << 20,
      });
      return stdout;
    };
    const rendered = await pulled("bottlerocket-update-operator");
    expect(new Set([...rendered.matchAll(/^\s+image: "?([^"\s]+)"?$/gm)].map((m) => m[1]))).toEqual(
      new Set([`${image}@${digest}`]),
    );
    const crds = await pulled("bottlerocket-shadow");
    expect(crds).toMatch(/^kind: CustomResourceDefinition$/m);
    expect(crds).toMatch(/^\s+name: bottlerocketshadows\.brupop\.bottlerocket\.aws$/m);
  }, 300_000);
});

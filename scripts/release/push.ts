// npm run release:push -- --image <registry/repository:tag> [--chart oci://<registry>/<path>] [--plain-http]
//   [--release DIR]
// Pushes what npm run image built (dist/image/oci: the multi-arch index, digests unchanged) to a registry with skopeo,
// and the chart packages of scripts/release/artifacts.ts (the operator's and the CRDs', dist/release/) with helm, then
// reads the pushed index back and checks its digest. Credentials: `skopeo login` and `helm registry login` beforehand.
// The release workflow runs it against ghcr.io; test/integration/release.test.ts against a registry on loopback.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CRD_CHART, OPERATOR_CHART } from "../../src/deploy/helm-chart.ts";
import { DEFAULT_OUT } from "../image/build.ts";
import { readLayout } from "../image/oci.ts";
import { RELEASE_OUT, helmBinary } from "./artifacts.ts";

const run = promisify(execFile);

export interface PushOptions {
  readonly image: string;
  readonly chart?: string;
  readonly plainHttp?: boolean;
  readonly layout?: string;
  readonly release?: string;
}

export async function push(o: PushOptions): Promise<{ digest: string; charts?: string }> {
  const layout = o.layout ?? join(DEFAULT_OUT, "oci");
  const { indexDigest } = await readLayout(layout);
  const tls = o.plainHttp ? ["--dest-tls-verify=false"] : [];
  // --all: the index and both platforms' images; --preserve-digests: refuse to push anything but these bytes.
  await run("skopeo", ["copy", "--all", "--preserve-digests", ...tls, `oci:${layout}`, `docker://${o.image}`], {
    maxBuffer: 16 << 20,
  });
  const { stdout: raw } = await run(
    "skopeo",
    ["inspect", "--raw", ...(o.plainHttp ? ["--tls-verify=false"] : []), `docker://${o.image}`],
    { maxBuffer: 16 << 20 },
  );
  const pushed = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  if (pushed !== indexDigest) throw new Error(`${o.image} is ${pushed} in the registry, not the built ${indexDigest}`);
  if (!o.chart) return { digest: pushed };
  const release = o.release ?? RELEASE_OUT;
  const files = await readdir(release);
  const printed: string[] = [];
  for (const chart of [CRD_CHART, OPERATOR_CHART]) {
    // <chart>-<semver>.tgz: the version starts with a digit, so bottlerocket-update-operator-x never matches another.
    const chartPackage = files.find((f) => f.startsWith(`${chart}-`) && /^\d/.test(f.slice(chart.length + 1)));
    if (!chartPackage) throw new Error(`no ${chart} chart package in ${release} (run npm run release:artifacts)`);
    const { stdout, stderr } = await run(await helmBinary(), [
      "push",
      join(release, chartPackage),
      o.chart,
      ...(o.plainHttp ? ["--plain-http"] : []),
    ]);
    printed.push(`${stdout}${stderr}`.trim());
  }
  return { digest: pushed, charts: printed.join("\n") };
}

if (import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      image: { type: "string" },
      chart: { type: "string" },
      "plain-http": { type: "boolean", default: false },
      release: { type: "string", default: RELEASE_OUT },
    },
  });
  if (!values.image) {
    console.error(
      "usage: npm run release:push -- --image <registry/repository:tag> [--chart oci://...] [--plain-http] [--release DIR]",
    );
    process.exit(2);
  }
  push({
    image: values.image,
    ...(values.chart ? { chart: values.chart } : {}),
    plainHttp: values["plain-http"],
    release: values.release,
  }).then(
    (r) => console.log(`${values.image ?? ""}@${r.digest}${r.charts ? `\n${r.charts}` : ""}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}

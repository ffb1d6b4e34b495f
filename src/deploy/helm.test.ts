// The Helm chart renders the same objects as the TypeScript builders: `helm lint` passes, and `helm template` with
// default values, and with every optional part switched on, equals the generated manifest (minus the Namespace,
// which Helm users create themselves). Needs the helm binary: `scripts/testenv/provision-helm` builds it once
// (about 90 s) when it is missing, so these tests never silently skip.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CHART_DIR } from "./files.ts";
import { operatorObjects } from "./manifest.ts";
import type { ManifestObject } from "./object.ts";
import { resolveOptions, type DeployOptionsInput } from "./options.ts";

const root = join(import.meta.dirname, "..", "..");
const chart = join(root, CHART_DIR);
const provision = spawnSync(join(root, "scripts/testenv/provision-helm"), [], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
if (provision.status !== 0)
  throw new Error(`could not provision helm (scripts/testenv/provision-helm exited ${provision.status ?? "?"})`);
const helm = provision.stdout.trim().split("\n").at(-1) ?? "helm";

function render(values: Record<string, unknown> = {}): ManifestObject[] {
  const args = ["template", "brupop", chart, "--namespace", "brupop-bottlerocket-aws"];
  const text = execFileSync(helm, [...args, "--values", "-"], {
    input: JSON.stringify(values),
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"], // helm's error goes into the thrown error, not the test log
  });
  const docs = parseAllDocuments(text, { version: "1.1" });
  expect(docs.flatMap((d) => d.errors)).toEqual([]);
  return docs.map((d) => d.toJS() as ManifestObject | null).filter((o): o is ManifestObject => o !== null);
}

const id = (o: ManifestObject) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const byId = (objects: readonly ManifestObject[]) =>
  Object.fromEntries(objects.map((o) => [id(o), JSON.parse(JSON.stringify(o)) as unknown]));

const CASES: [string, Record<string, unknown>, DeployOptionsInput][] = [
  ["default values", {}, {}],
  [
    "every optional part",
    {
      image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bottlerocket-update-operator:v9.9.9",
      image_pull_secrets: [{ name: "regcred" }],
      tls: { mode: "cert-manager" },
      max_concurrent_updates: "unlimited",
      scheduler_cron_expression: "0 0 9-17 * * Mon-Fri *",
      update_window_start: "9:0:0",
      update_window_stop: "17:0:0",
      exclude_from_lb_wait_time_in_sec: "30",
      auto_label_nodes: true,
      cluster_domain: "corp.example",
      podLabels: { team: "platform", "brupop.bottlerocket.aws/component": "ignored" },
      replicas: { controller: 3, apiserver: 5 },
      placement: { agent: { tolerations: [{ operator: "Exists" }] }, apiserver: { nodeSelector: { pool: "system" } } },
      resources: { agent: { requests: { cpu: "1m", memory: "64Mi" }, limits: { cpu: "200m", memory: "192Mi" } } },
      prometheus: {
        controller: { serviceMonitor: { enabled: true } },
        apiserver: { serviceMonitor: { enabled: true } },
      },
    },
    {
      image: { regional: { accountId: "123456789012", region: "eu-west-1" }, tag: "v9.9.9" },
      imagePullSecrets: ["regcred"],
      tls: "cert-manager",
      maxConcurrentUpdates: "unlimited",
      schedulerCronExpression: "0 0 9-17 * * Mon-Fri *",
      updateWindow: { start: "9:0:0", stop: "17:0:0" },
      excludeFromLbWaitTimeInSec: 30,
      autoLabelNodes: true,
      clusterDomain: "corp.example",
      podLabels: { team: "platform", "brupop.bottlerocket.aws/component": "ignored" },
      replicas: { controller: 3, apiserver: 5 },
      placement: {
        agent: { tolerations: [{ operator: "Exists" }] },
        apiserver: { nodeSelector: { pool: "system" } },
      },
      resources: { agent: { requests: { cpu: "1m", memory: "64Mi" }, limits: { cpu: "200m", memory: "192Mi" } } },
      serviceMonitor: true,
    },
  ],
];

describe("the Helm chart", () => {
  it("passes helm lint (strict)", () => {
    const lint = spawnSync(helm, ["lint", "--strict", chart], { encoding: "utf8" });
    expect(lint.status, lint.stdout + lint.stderr).toBe(0);
  });

  it.each(CASES)("renders the manifest's objects with %s", (_, values, input) => {
    const expected = byId(operatorObjects(resolveOptions(input), { includeNamespace: false }));
    const rendered = byId(render(values));
    expect(Object.keys(rendered).sort()).toEqual(Object.keys(expected).sort());
    for (const key of Object.keys(expected)) expect(rendered[key], key).toEqual(expected[key]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["a zero budget", { max_concurrent_updates: "0" }, /max_concurrent_updates/],
    ["an unknown TLS mode", { tls: { mode: "none" } }, /mode/],
    ["a pull secret given as a bare string", { image_pull_secrets: ["regcred"] }, /image_pull_secrets/],
  ])("refuses %s (values.schema.json)", (_, values, message) => {
    expect(() => render(values)).toThrow(message);
  });
});

// The Helm charts render the same objects as the TypeScript builders: `helm lint` passes, and `helm template` with
// default values, and with every optional part switched on, equals the builders' objects (the operator chart: all but
// the Namespace and the CRDs; the CRD chart: the CRDs, which Helm keeps). brupop 1.4's own values files render, with
// what they ask for. Needs the helm binary: `scripts/testenv/provision-helm` builds it once (about 90 s) when it is
// missing, so these tests never silently skip.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import type { V1DaemonSet, V1Deployment, V1EnvVar } from "@kubernetes/client-node";
import { BRUPOP, brupopFile, readBrupopFile } from "../../test/support/brupop-reference.ts";
import { crd, policyCrd } from "./cluster-objects.ts";
import { CHART_DIR, CRD_CHART_DIR } from "./files.ts";
import { CHART_VERSION } from "./helm-chart.ts";
import { imageReference } from "./image.ts";
import { operatorObjects } from "./manifest.ts";
import type { ManifestObject } from "./object.ts";
import { resolveOptions, type DeployOptionsInput } from "./options.ts";
import { compareSemver, parseSemver } from "../api/semver.ts";

const root = join(import.meta.dirname, "..", "..");
const operatorChart = join(root, CHART_DIR);
const crdChart = join(root, CRD_CHART_DIR);
const provision = spawnSync(join(root, "scripts/testenv/provision-helm"), [], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
});
if (provision.status !== 0)
  throw new Error(`could not provision helm (scripts/testenv/provision-helm exited ${provision.status ?? "?"})`);
const helm = provision.stdout.trim().split("\n").at(-1) ?? "helm";

function render(chart: string, values: Record<string, unknown> | string = {}): ManifestObject[] {
  const args = ["template", "brupop", chart, "--namespace", "brupop-bottlerocket-aws"];
  const text = execFileSync(helm, [...args, "--values", typeof values === "string" ? values : "-"], {
    input: typeof values === "string" ? "" : JSON.stringify(values),
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
const kept = (o: object): ManifestObject => {
  const m = o as ManifestObject;
  return {
    ...m,
    metadata: { ...m.metadata, annotations: { ...m.metadata.annotations, "helm.sh/resource-policy": "keep" } },
  };
};

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
      apiserver_internal_port: "9443",
      apiserver_service_port: 8443,
      logging: { formatter: "pretty", ansi_enabled: "true", agent: { tracing_filter: "warn,agent=debug" } },
      podLabels: { team: "platform", "brupop.bottlerocket.aws/component": "ignored" },
      replicas: { controller: 3, apiserver: 5 },
      placement: {
        agent: { tolerations: [{ operator: "Exists" }], priorityClassName: "system-node-critical" },
        apiserver: { nodeSelector: { pool: "system" }, topologySpreadConstraints: [{ maxSkew: 1 }] },
        controller: { podAntiAffinity: null, podAffinity: { required: "x" } }, // null deletes a default in Helm
      },
      resources: { agent: { resources: { requests: { cpu: "1m", memory: "64Mi" }, limits: { memory: "192Mi" } } } },
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
      apiserverInternalPort: 9443,
      apiserverServicePort: 8443,
      logging: { formatter: "pretty", ansiEnabled: true, tracingFilter: { agent: "warn,agent=debug" } },
      podLabels: { team: "platform", "brupop.bottlerocket.aws/component": "ignored" },
      replicas: { controller: 3, apiserver: 5 },
      placement: {
        agent: { tolerations: [{ operator: "Exists" }], priorityClassName: "system-node-critical" },
        apiserver: { nodeSelector: { pool: "system" }, topologySpreadConstraints: [{ maxSkew: 1 }] as never },
        controller: { podAntiAffinity: {}, podAffinity: { required: "x" } as never },
      },
      // Helm merges values into the defaults: the cpu limit stays.
      resources: { agent: { requests: { cpu: "1m", memory: "64Mi" }, limits: { cpu: "100m", memory: "192Mi" } } },
      serviceMonitor: true,
    },
  ],
  [
    "brupop's pull-secret string and its never-rendered window",
    { image_pull_secrets: '- name: "brupop"', update_window_start: "0:0:0", update_window_stop: "0:0:0" },
    { imagePullSecrets: ["brupop"] },
  ],
];

describe("the operator chart", () => {
  it("passes helm lint (strict), as does the CRD chart", () => {
    for (const chart of [operatorChart, crdChart]) {
      const lint = spawnSync(helm, ["lint", "--strict", chart], { encoding: "utf8" });
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
    }
  });

  it.each(CASES)("renders the manifest's objects but the Namespace and the CRDs, with %s", (_, values, input) => {
    const options = resolveOptions(input);
    const expected = byId(operatorObjects(options, { includeNamespace: false, includeCrds: false }));
    const rendered = byId(render(operatorChart, values));
    expect(Object.keys(rendered).sort()).toEqual(Object.keys(expected).sort());
    for (const key of Object.keys(expected)) expect(rendered[key], key).toEqual(expected[key]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["a zero budget", { max_concurrent_updates: "0" }, /max_concurrent_updates/],
    ["an unknown TLS mode", { tls: { mode: "none" } }, /mode/],
    ["a pull secret list of bare strings", { image_pull_secrets: ["regcred"] }, /image_pull_secrets/],
    ["an unknown key", { max_concurrent_update: "2" }, /max_concurrent_update/],
    ["an unknown log format", { logging: { formatter: "colourful" } }, /formatter/],
  ])("refuses %s (values.schema.json)", (_, values, message) => {
    expect(() => render(operatorChart, values)).toThrow(message);
  });
});

describe("brupop 1.4's values file, given to `helm upgrade` as it is", () => {
  const objects = render(operatorChart, brupopFile(BRUPOP.operatorChart.values));
  const brupopValues = parse(readBrupopFile(BRUPOP.operatorChart.values)) as {
    resources: Record<string, { resources: unknown }>;
    placement: { apiserver: { podAntiAffinity: unknown } };
  };
  const workload = (name: string) => {
    const found = objects.find((o) => (o.kind === "Deployment" || o.kind === "DaemonSet") && o.metadata.name === name);
    if (!found) throw new Error(`no workload ${name}`);
    return found as unknown as V1Deployment | V1DaemonSet;
  };
  const container = (name: string) => {
    const c = workload(name).spec?.template.spec?.containers[0];
    if (!c) throw new Error(`no container in ${name}`);
    return c;
  };
  const envOf = (name: string) =>
    Object.fromEntries((container(name).env ?? []).map((e: V1EnvVar) => [e.name, e.value]));
  const names = ["brupop-agent", "brupop-apiserver", "brupop-controller-deployment"];

  it("runs our image, not brupop's (which it names), with our entry points", () => {
    for (const name of names) {
      expect(container(name).image, name).toBe(imageReference({}));
      expect(container(name).command, name).not.toContain(`./${name}`);
    }
    expect(container("brupop-agent").command).toEqual(["/nodejs/bin/node"]);
  });

  it("keeps brupop's namespace, resources, API server anti-affinity and logging settings", () => {
    for (const o of objects) {
      if (o.metadata.namespace !== undefined) expect(o.metadata.namespace, id(o)).toBe("brupop-bottlerocket-aws");
    }
    const keys = {
      "brupop-agent": "agent",
      "brupop-apiserver": "apiserver",
      "brupop-controller-deployment": "controller",
    };
    for (const [name, key] of Object.entries(keys)) {
      expect(container(name).resources, name).toEqual(brupopValues.resources[key]?.resources);
      expect(envOf(name), name).toMatchObject({
        LOGGING_FORMATTER: "pretty",
        LOGGING_ANSI_ENABLED: "true",
        TRACING_FILTER_DIRECTIVE: "info",
      });
    }
    expect(workload("brupop-apiserver").spec?.template.spec?.affinity?.podAntiAffinity).toEqual(
      brupopValues.placement.apiserver.podAntiAffinity,
    );
    expect(envOf("brupop-controller-deployment")).toMatchObject({
      MAX_CONCURRENT_UPDATE: "1",
      SCHEDULER_CRON_EXPRESSION: "* * * * * * *",
    });
    // brupop never rendered its "0:0:0" window; neither do we (it would allow updates only from 00:00 to 00:59).
    expect(envOf("brupop-controller-deployment")).not.toHaveProperty("UPDATE_WINDOW_START");
    expect(workload("brupop-controller-deployment").spec?.template.spec?.priorityClassName).toBe(
      "brupop-controller-high-priority",
    );
  });

  it("uses built-in TLS (no cert-manager objects) and leaves the CRDs to the CRD chart", () => {
    expect(objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/"))).toEqual([]);
    expect(objects.filter((o) => o.kind === "CustomResourceDefinition")).toEqual([]);
  });
});

describe("the CRD chart", () => {
  it.each<[string, Record<string, unknown>, DeployOptionsInput]>([
    ["default values", {}, {}],
    [
      "cert-manager and another namespace and port",
      { tls: { mode: "cert-manager" }, namespace: "updates", apiserver_service_port: "8443" },
      { tls: "cert-manager", namespace: "updates", apiserverServicePort: 8443 },
    ],
  ])("renders the manifest's CRDs, kept by Helm, with %s", (_, values, input) => {
    const options = resolveOptions(input);
    expect(byId(render(crdChart, values))).toEqual(byId([kept(crd(options)), kept(policyCrd())]));
  });

  it("takes brupop's CRD chart values file", () => {
    const [shadows] = render(crdChart, brupopFile(BRUPOP.crdChart.values));
    expect(shadows).toEqual(JSON.parse(JSON.stringify(kept(crd(resolveOptions({}))))));
  });

  it("uses the release's namespace when the value is empty", () => {
    const [shadows] = render(crdChart, { namespace: "" });
    const service = (shadows?.spec as { conversion: { webhook: { clientConfig: { service: { namespace: string } } } } })
      .conversion.webhook.clientConfig.service;
    expect(service.namespace).toBe("brupop-bottlerocket-aws"); // helm template --namespace above
  });
});

describe("chart versions", () => {
  it("are above brupop's, so that Helm and its users read a switch as an upgrade", () => {
    const version = (file: string) => (parse(readBrupopFile(file)) as { version: string }).version;
    for (const brupop of [version(BRUPOP.operatorChart.chart), version(BRUPOP.crdChart.chart)]) {
      const ours = parseSemver(CHART_VERSION);
      const theirs = parseSemver(brupop);
      if (!ours || !theirs) throw new Error("unparsable chart version");
      expect(compareSemver(ours, theirs), `${CHART_VERSION} > ${brupop}`).toBeGreaterThan(0);
    }
  });
});

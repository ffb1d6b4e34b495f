// Switching in place from brupop 1.4, and back, by the commands docs/migrating-from-brupop.md gives, on a real control
// plane of its own per install path (the switch replaces CRDs, cluster roles and the operator namespace, which other
// test files share on the run's control plane). Each path starts from brupop's objects as that path leaves them (its
// one-file manifest applied client-side as brupop documents; or its two Helm releases), with the Secrets cert-manager
// made for brupop and BottlerocketShadows that brupop's agents wrote, on simulated nodes where kwok runs the pods.
//
// After the switch, observed on the cluster: every command exits 0; no workload keeps brupop's `./agent`,
// `./apiserver`, `./controller`; the workloads roll out, and brupop's controller pod and ours never exist at once;
// brupop's API server, still running, may write shadow status as it does (SubjectAccessReview: patch); our API server,
// run as one of the new pods with the pod's own environment and ServiceAccount, starts with built-in TLS over
// brupop's cert-manager Secrets and serves a certificate that brupop's agents (and ours) trust; no shadow is lost.
// Then back to brupop by its own commands, with the same checks the other way round.
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  type V1Container,
  type V1Pod,
  type V1Secret,
} from "@kubernetes/client-node";
import { API_GROUP, CRD_NAME, OPERATOR_NAMESPACE, PLURAL, VERSION_V2, brsName } from "../../src/api/index.ts";
import { CHART_DIR, CRD_CHART_DIR, MANIFEST_PATH } from "../../src/deploy/files.ts";
import { SupervisedInformer } from "../../src/kube/informer.ts";
import { startControlPlane, type ControlPlane } from "../../sim/control-plane/control-plane.ts";
import { freePort } from "../../sim/control-plane/ports.ts";
import { startProcess, type ManagedProcess } from "../../sim/control-plane/processes.ts";
import { createBottlerocketNodes } from "../../sim/cluster/nodes.ts";
import { resolveEnv } from "../../sim/cluster/pod-runner.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";
import { BRUPOP, brupopFile } from "../support/brupop-reference.ts";
import {
  brupopStandInCharts,
  createCertManagerSecrets,
  helmFor,
  installBrupopHelm,
  installBrupopManifest,
  installCertManagerCrds,
  kubectlFor,
  type Command,
  type StandInCharts,
} from "../support/brupop-install.ts";
import type { CertManagerMaterial } from "../support/cert-manager.ts";
import { eventually } from "../support/cluster.ts";

const root = join(import.meta.dirname, "..", "..");
const ours = { manifest: join(root, MANIFEST_PATH), crdChart: join(root, CRD_CHART_DIR), chart: join(root, CHART_DIR) };
const ns = OPERATOR_NAMESPACE;
const WORKLOADS = ["daemonset/brupop-agent", "deployment/brupop-apiserver", "deployment/brupop-controller-deployment"];
const BRUPOP_COMMANDS = ["./agent", "./apiserver", "./controller"];
const LABEL = "brupop.bottlerocket.aws/component";
// provision-helm prints the binary's path (building it once when missing).
const helmBinary =
  execFileSync(join(root, "scripts/testenv/provision-helm"), [], { encoding: "utf8" }).trim().split("\n").at(-1) ??
  "helm";

interface Cluster {
  readonly cp: ControlPlane;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly kubectl: Command;
  readonly helm: Command;
  readonly dir: string;
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

/** A control plane of its own, cert-manager's CRDs (stand-ins), three Bottlerocket nodes. */
async function startCluster(name: string): Promise<Cluster> {
  const cp = await startControlPlane({ binDir: inject("controlPlane").binDir });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const dir = await mkdtemp(join(cp.dir, `${name}-`));
  const kubectl = kubectlFor(cp.binDir, cp.kubeconfigPath);
  await installCertManagerCrds(kubectl, dir);
  const nodes = ["bottlerocket-1", "bottlerocket-2", "bottlerocket-3"];
  await createBottlerocketNodes(core, nodes, { podCidrs: true }); // pod IPs: pods become Service endpoints
  return {
    cp,
    kc,
    core,
    custom: kc.makeApiClient(CustomObjectsApi),
    kubectl,
    helm: helmFor(helmBinary, cp.kubeconfigPath, join(dir, "helm")),
    dir,
    nodes,
    stop: () => cp.stop(),
  };
}

/** The shadows brupop's API server created for its agents, as they left them: Idle, and one mid-update. */
async function createBrupopShadows(c: Cluster): Promise<void> {
  await c.kubectl("wait", "--for=condition=Established", "--timeout=60s", `crd/${CRD_NAME}`);
  for (const [i, node] of c.nodes.entries()) {
    const uid = (await c.core.readNode({ name: node })).metadata?.uid ?? "";
    const updating = i === 0;
    const ref = { group: API_GROUP, version: VERSION_V2, namespace: ns, plural: PLURAL };
    await eventually("shadow created", () =>
      c.custom.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: `${API_GROUP}/${VERSION_V2}`,
          kind: "BottlerocketShadow",
          metadata: { name: brsName(node), ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid }] },
          spec: updating ? { state: "StagedAndPerformedUpdate", version: "1.26.0" } : { state: "Idle" },
        },
      }),
    );
    await c.custom.patchNamespacedCustomObjectStatus({
      ...ref,
      name: brsName(node),
      body: [
        {
          op: "add",
          path: "/status",
          value: {
            current_version: "1.25.0",
            target_version: "1.26.0",
            current_state: updating ? "StagedAndPerformedUpdate" : "Idle",
            crash_count: 0,
          },
        },
      ],
    });
  }
}

type Shadow = { metadata: { name: string; uid: string }; status?: Record<string, unknown> };

/** The shadows by name, with uid and status; read again while a CRD just applied is re-initialising (429). */
async function shadows(c: Cluster): Promise<Record<string, { uid: string; status: unknown }>> {
  const list = await eventually("the shadows listed", async () => {
    const ref = { group: API_GROUP, version: VERSION_V2, namespace: ns, plural: PLURAL };
    return (await c.custom.listNamespacedCustomObject(ref)) as { items: Shadow[] };
  });
  return Object.fromEntries(list.items.map((s) => [s.metadata.name, { uid: s.metadata.uid, status: s.status }]));
}

/** The first container of each workload. */
async function containers(c: Cluster): Promise<Record<string, V1Container>> {
  const out: Record<string, V1Container> = {};
  for (const w of WORKLOADS) {
    const { stdout } = await c.kubectl("get", w, "-n", ns, "-o", "json");
    const container = (JSON.parse(stdout) as { spec: { template: { spec: { containers: V1Container[] } } } }).spec
      .template.spec.containers[0];
    if (container) out[w] = container;
  }
  return out;
}

async function rolledOut(c: Cluster): Promise<void> {
  for (const w of WORKLOADS) await c.kubectl("rollout", "status", w, "-n", ns, "--timeout=120s");
}

/** Whether the ServiceAccount may do that (SubjectAccessReview, with the groups its tokens carry). */
async function allowed(
  c: Cluster,
  sa: string,
  verb: string,
  resource: string,
  options: { group?: string; subresource?: string; namespace?: string } = {},
): Promise<boolean> {
  const review = await c.kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${ns}:${sa}`,
        groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
        resourceAttributes: { verb, resource, group: options.group ?? "", ...options },
      },
    },
  });
  return review.status?.allowed === true;
}

/** What brupop's API server and agents do (docs/design/brupop-compatibility.md), each still allowed while they run. */
async function brupopMayRun(c: Cluster): Promise<string[]> {
  const brs = { group: API_GROUP, namespace: ns };
  const checks: [string, string, string, Parameters<typeof allowed>[4]][] = [
    ["brupop-apiserver-service-account", "patch", PLURAL, { ...brs, subresource: "status" }],
    ["brupop-apiserver-service-account", "create", PLURAL, brs],
    ["brupop-apiserver-service-account", "get", PLURAL, brs],
    ["brupop-apiserver-service-account", "watch", "pods", { namespace: ns }],
    ["brupop-apiserver-service-account", "patch", "nodes", {}],
    ["brupop-apiserver-service-account", "create", "pods", { subresource: "eviction", namespace: "default" }],
    ["brupop-apiserver-service-account", "create", "tokenreviews", { group: "authentication.k8s.io" }],
    ["brupop-agent-service-account", "watch", PLURAL, brs],
    ["brupop-agent-service-account", "watch", "nodes", {}],
  ];
  const denied: string[] = [];
  for (const [sa, verb, resource, options] of checks) {
    if (!(await allowed(c, sa, verb, resource, options)))
      denied.push(`${sa} ${verb} ${resource} ${JSON.stringify(options)}`);
  }
  return denied;
}

/**
 * Watches the controller Deployment's pods through a switch: true if brupop's controller pod (`./controller`) and
 * one of ours ever existed at the same time (terminating ones count: a terminating process may still act).
 */
function watchControllers(c: Cluster): { overlapped: () => boolean; stop: () => Promise<void> } {
  let overlap = false;
  const informer: SupervisedInformer<V1Pod> = new SupervisedInformer<V1Pod>({
    name: "controller pods",
    client: kubeClientOf(c.kc),
    path: `/api/v1/namespaces/${ns}/pods`,
    labelSelector: `${LABEL}=brupop-controller`,
    onChange: () => {
      const pods = informer.list(ns).filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");
      const brupops = pods.filter((p) => p.spec?.containers[0]?.command?.[0] === "./controller").length;
      if (brupops > 0 && brupops < pods.length) overlap = true;
    },
  });
  const started = informer.start();
  return {
    overlapped: () => overlap,
    stop: async () => {
      await started;
      await informer.stop();
    },
  };
}

const decode = (s: V1Secret | undefined, key: string) => Buffer.from(s?.data?.[key] ?? "", "base64").toString("utf8");

interface RunningApiServer {
  readonly proc: ManagedProcess;
  readonly port: number;
}

/**
 * Our API server, run as a new pod of the API server Deployment would run it: the pod's environment (built-in TLS,
 * brupop's logging variables), its ServiceAccount's token bound to the pod; only its ports are moved to loopback.
 */
async function runOurApiServer(c: Cluster): Promise<RunningApiServer> {
  const pod = await eventually("a running API server pod of ours", async () => {
    const pods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL}=apiserver` });
    return pods.items.find(
      (p) =>
        p.status?.phase === "Running" &&
        !p.metadata?.deletionTimestamp &&
        p.spec?.containers[0]?.command?.[0] !== "./apiserver",
    );
  });
  const container = pod.spec?.containers[0];
  if (!container) throw new Error("no container");
  const dir = join(c.dir, `apiserver-${pod.metadata?.name ?? ""}`);
  await mkdir(dir, { recursive: true });
  const token = await requestPodToken(c.core, {
    namespace: ns,
    serviceAccount: pod.spec?.serviceAccountName ?? "",
    pod: { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
    audiences: [],
  });
  const kubeconfig = join(dir, "kubeconfig");
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: c.cp.server, "certificate-authority-data": b64(c.cp.caPem) } }],
      users: [{ name: "pod", user: { token } }],
      contexts: [{ name: "pod", context: { cluster: "c", user: "pod", namespace: ns } }],
      "current-context": "pod",
    }),
  );
  const [port, metricsPort] = [await freePort(), await freePort()];
  const proc = startProcess("apiserver", process.execPath, [join(root, "src/apiserver/main.ts")], {
    logFile: join(dir, "container.log"),
    pidFile: join(dir, "pids"),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      ...resolveEnv(pod, container),
      KUBECONFIG: kubeconfig,
      TERMINATION_LOG: join(dir, "termination-log"),
      APISERVER_BIND_ADDRESS: "127.0.0.1",
      APISERVER_INTERNAL_PORT: String(port),
      APISERVER_METRICS_PORT: String(metricsPort),
    },
  });
  return { proc, port };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** GET /livez over TLS, trusting only `ca`, checking the name agents use; the status and the served certificate. */
function livez(port: number, ca: string): Promise<{ status: number; cert: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/livez", ca, servername: `brupop-apiserver.${ns}.svc`, timeout: 5_000 },
      (res) => {
        const peer = res.socket as unknown as { getPeerX509Certificate(): X509Certificate | undefined };
        const cert = peer.getPeerX509Certificate();
        res.resume();
        res.on("end", () => (cert ? resolve({ status: res.statusCode ?? 0, cert }) : reject(new Error("no cert"))));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.end();
  });
}

/**
 * Our API server starts with built-in TLS over brupop's cert-manager Secrets: it adopts brupop's CA, serves brupop's
 * serving certificate (valid for the Service's names), and writes none of brupop's Secrets.
 */
async function expectOurApiServerServesTls(c: Cluster, material: CertManagerMaterial): Promise<void> {
  const before = await secretVersions(c);
  const server = await runOurApiServer(c);
  try {
    // What brupop's agents trust (the agents' Secret's ca.crt), and ours mount the same key.
    const agentsTrust = decode(
      await c.core.readNamespacedSecret({ name: "brupop-apiserver-client-certificate", namespace: ns }),
      "ca.crt",
    );
    expect(new X509Certificate(agentsTrust).fingerprint256).toBe(new X509Certificate(material.caPem).fingerprint256);
    const answer = await eventually(
      "our API server answering over TLS",
      async () => {
        if (!server.proc.running()) throw new Error(`our API server exited: ${await server.proc.exited}`);
        return livez(server.port, agentsTrust);
      },
      60_000,
    );
    expect(answer.status).toBe(200);
    const brupopServing = decode(material.secrets.serving, "tls.crt");
    expect(answer.cert.fingerprint256).toBe(new X509Certificate(brupopServing).fingerprint256);
    const ca = await c.core.readNamespacedSecret({ name: "brupop-apiserver-ca", namespace: ns });
    expect(new X509Certificate(decode(ca, "tls.crt")).fingerprint256).toBe(
      new X509Certificate(material.caPem).fingerprint256,
    );
    // brupop's three Secrets are as cert-manager left them.
    expect(await secretVersions(c)).toEqual(before);
    expect(server.proc.running()).toBe(true);
  } finally {
    await server.proc.stop(5_000);
  }
}

async function secretVersions(c: Cluster): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const name of ["brupop-root-ca-secret", "brupop-apiserver-certificate", "brupop-apiserver-client-certificate"]) {
    const s = await c.core.readNamespacedSecret({ name, namespace: ns });
    out[name] = `${s.type ?? ""} ${s.metadata?.resourceVersion ?? ""}`;
  }
  return out;
}

/** The apiserver Service's endpoints: pod name -> ports, from its EndpointSlices. */
async function endpoints(c: Cluster): Promise<Record<string, number[]>> {
  const slices = await c.kc
    .makeApiClient(DiscoveryV1Api)
    .listNamespacedEndpointSlice({ namespace: ns, labelSelector: "kubernetes.io/service-name=brupop-apiserver" });
  const out: Record<string, number[]> = {};
  for (const slice of slices.items) {
    const ports = (slice.ports ?? []).flatMap((p) => (p.port === undefined ? [] : [p.port]));
    for (const e of slice.endpoints ?? []) {
      const pod = e.targetRef?.name;
      if (pod) out[pod] = [...(out[pod] ?? []), ...ports].sort();
    }
  }
  return out;
}

function expectBrupopsCommands(all: Record<string, V1Container>): void {
  expect(Object.values(all).map((x) => x.command?.[0])).toEqual(BRUPOP_COMMANDS);
  // Nothing of ours left over in brupop's pod templates.
  for (const [w, container] of Object.entries(all)) {
    expect(container.args, w).toBeUndefined();
    expect(container.startupProbe, w).toBeUndefined();
  }
}

function expectNoBrupopCommand(all: Record<string, V1Container>): void {
  expect(Object.keys(all)).toHaveLength(3);
  for (const [w, container] of Object.entries(all)) {
    expect(BRUPOP_COMMANDS, w).not.toContain(container.command?.[0]);
    expect(container.args?.at(-1), w).toMatch(/\/dist\/(agent|apiserver|controller)\/main\.js$/);
    // One mount per path (brupop's `/var/run/secrets/tokens/` and ours are the same directory).
    const paths = (container.volumeMounts ?? []).map((m) => m.mountPath.replace(/\/$/, ""));
    expect(new Set(paths).size, w).toBe(paths.length);
  }
}

/** A whole switch: install, switch, checks, back, checks. */
function switchPath(
  title: string,
  install: (c: Cluster, charts: StandInCharts) => Promise<void>,
  switchTo: (c: Cluster, charts: StandInCharts) => Promise<void>,
  back: ((c: Cluster, charts: StandInCharts) => Promise<void>) | undefined,
  extra: { probeEndpoints?: boolean } = {},
) {
  describe(title, () => {
    let c: Cluster;
    let charts: StandInCharts;
    let material: CertManagerMaterial;
    let before: Awaited<ReturnType<typeof shadows>>;
    let watcher: ReturnType<typeof watchControllers> | undefined;
    let brupopApiServerPods: string[] = [];

    beforeAll(async () => {
      c = await startCluster(
        title
          .replace(/[^a-z]+/gi, "-")
          .toLowerCase()
          .slice(0, 20),
      );
      charts = await brupopStandInCharts(join(c.dir, "charts"));
      await install(c, charts);
      material = await createCertManagerSecrets(c.kc, ns);
      await createBrupopShadows(c);
      await rolledOut(c);
      expect(Object.values(await containers(c)).map((x) => x.command?.[0])).toEqual(BRUPOP_COMMANDS);
      before = await shadows(c);
      expect(Object.keys(before)).toHaveLength(3);
      brupopApiServerPods = (
        await c.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL}=apiserver` })
      ).items.map((p) => p.metadata?.name ?? "");
      // Frozen while brupop's API server pods are the Service's only endpoints (resumed after the switch).
      if (extra.probeEndpoints) await c.kubectl("rollout", "pause", "deployment/brupop-apiserver", "-n", ns);
      watcher = watchControllers(c);
      await switchTo(c, charts);
    }, 300_000);

    afterAll(async () => {
      await watcher?.stop().catch(() => undefined);
      await (c as Cluster | undefined)?.stop(); // unset when the control plane did not start
    });

    if (extra.probeEndpoints) {
      it("keeps brupop's API server pods endpoints of the Service, on their port, while they still serve", async () => {
        try {
          await eventually("brupop's pods still endpoints with port 8443", async () => {
            const now = await endpoints(c);
            return brupopApiServerPods.every((p) => now[p]?.includes(8443)) ? true : undefined;
          });
        } finally {
          await c.kubectl("rollout", "resume", "deployment/brupop-apiserver", "-n", ns);
        }
      });
    }

    it("replaces every brupop command, rolls out, and never runs brupop's controller and ours at once", async () => {
      await rolledOut(c);
      expectNoBrupopCommand(await containers(c));
      expect(watcher?.overlapped()).toBe(false);
    }, 180_000);

    it("still lets brupop's API server and agents do what they do", async () => {
      expect(await brupopMayRun(c)).toEqual([]);
    });

    it("starts our API server with built-in TLS over brupop's cert-manager Secrets, trusted by brupop's agents", async () => {
      await expectOurApiServerServesTls(c, material);
    }, 120_000);

    it("loses no shadow", async () => {
      expect(await shadows(c)).toEqual(before);
    });

    if (back) {
      it("switches back to brupop by brupop's own commands, losing no shadow", async () => {
        await back(c, charts);
        await rolledOut(c);
        expectBrupopsCommands(await containers(c));
        expect(await brupopMayRun(c)).toEqual([]);
        expect(await shadows(c)).toEqual(before);
      }, 180_000);
    }
  });
}

const DELETE_CERT_MANAGER_OBJECTS = [
  [
    "delete",
    "-n",
    ns,
    "certificate",
    "brupop-selfsigned-ca",
    "brupop-apiserver-certificate",
    "brupop-apiserver-client-certificate",
  ],
  ["delete", "-n", ns, "issuer", "selfsigned-issuer", "brupop-root-certificate-issuer"],
];
const DELETE_OUR_LEFTOVERS = [
  "delete",
  "-n",
  ns,
  "role,rolebinding,poddisruptionbudget",
  "-l",
  "app.kubernetes.io/part-of=brupop",
];

/** After a switch with kubectl: brupop's cert-manager objects retired, as the migration guide says. */
async function retireCertManagerObjects(c: Cluster): Promise<void> {
  for (const args of DELETE_CERT_MANAGER_OBJECTS) await c.kubectl(...args);
}

/** Back with kubectl: brupop's file, then what brupop does not know. */
async function backByManifest(c: Cluster): Promise<void> {
  await c.kubectl("apply", "-f", brupopFile(BRUPOP.manifest));
  await c.kubectl(...DELETE_OUR_LEFTOVERS);
  const { stdout } = await c.kubectl("get", "role,rolebinding,poddisruptionbudget", "-n", ns, "-o", "name");
  expect(stdout).toBe("");
}

switchPath(
  "from brupop's manifest, with brupop's command (kubectl apply -f)",
  (c) => installBrupopManifest(c.kubectl),
  async (c) => {
    const result = await c.kubectl("apply", "-f", ours.manifest);
    expect(result.stderr).not.toMatch(/error/i);
    await retireCertManagerObjects(c);
  },
  backByManifest,
);

switchPath(
  "from brupop's manifest, with our command (kubectl apply --server-side --force-conflicts -f)",
  (c) => installBrupopManifest(c.kubectl),
  async (c) => {
    const result = await c.kubectl("apply", "--server-side", "--force-conflicts", "-f", ours.manifest);
    expect(result.stderr).toBe("");
    await retireCertManagerObjects(c);
  },
  backByManifest,
  { probeEndpoints: true },
);

switchPath(
  "from brupop's two Helm releases (helm upgrade with brupop's values file)",
  (c, charts) => installBrupopHelm(c.kubectl, c.helm, charts),
  async (c, charts) => {
    await c.helm("upgrade", "brupop-crd", ours.crdChart);
    await c.helm("upgrade", "brupop-operator", ours.chart, "-f", charts.operatorValues);
    // Helm removed brupop's cert-manager objects with the release's old manifest; the CRDs are Helm-kept.
    const { stdout } = await c.kubectl(
      "get",
      "certificates.cert-manager.io,issuers.cert-manager.io",
      "-n",
      ns,
      "-o",
      "name",
    );
    expect(stdout).toBe("");
  },
  async (c, charts) => {
    await c.helm("upgrade", "brupop-crd", charts.crd);
    await c.helm("upgrade", "brupop-operator", charts.operator, "-f", charts.operatorValues);
    // Our Roles and PodDisruptionBudget went with the release; the policy CRD stays (helm.sh/resource-policy: keep).
    const { stdout } = await c.kubectl("get", "role,rolebinding,poddisruptionbudget", "-n", ns, "-o", "name");
    expect(stdout).toBe("");
    await c.kubectl("get", "crd", "bottlerocketupdatepolicies.brupop.bottlerocket.aws");
  },
);

switchPath(
  "from brupop's Helm releases, with our kubectl command",
  (c, charts) => installBrupopHelm(c.kubectl, c.helm, charts),
  async (c) => {
    const result = await c.kubectl("apply", "--server-side", "--force-conflicts", "-f", ours.manifest);
    expect(result.stderr).toBe("");
  },
  undefined,
);

describe("our charts on a cluster without brupop: install, and uninstall keeps the CRDs and every shadow", () => {
  let c: Cluster;

  beforeAll(async () => {
    c = await startCluster("our-charts");
  }, 120_000);

  afterAll(async () => {
    await (c as Cluster | undefined)?.stop();
  });

  it("installs both releases and rolls out", async () => {
    await c.helm("install", "brupop-crd", ours.crdChart, "--namespace", ns, "--create-namespace");
    await c.helm("install", "brupop-operator", ours.chart, "--namespace", ns);
    await rolledOut(c);
    expectNoBrupopCommand(await containers(c));
    await createBrupopShadows(c);
  }, 180_000);

  it("keeps the CRDs and the shadows when either release is uninstalled", async () => {
    const before = await shadows(c);
    expect(Object.keys(before)).toHaveLength(3);
    await c.helm("uninstall", "brupop-operator", "--namespace", ns);
    const { stdout: left } = await c.kubectl("get", "deployments,daemonsets", "-n", ns, "-o", "name");
    expect(left).toBe("");
    await c.helm("uninstall", "brupop-crd", "--namespace", ns);
    await c.kubectl("get", "crd", CRD_NAME, "bottlerocketupdatepolicies.brupop.bottlerocket.aws");
    expect(await shadows(c)).toEqual(before);
  }, 120_000);
});

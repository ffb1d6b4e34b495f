// The committed one-file manifest on a real control plane: `kubectl apply --server-side` accepts every object with
// no warning (strict field validation, admission), `kubectl get brs` shows brupop's columns, and each ServiceAccount
// can do exactly what its component needs (SubjectAccessReview table).
//
// The control plane is shared by the whole run, so this file is careful with what it leaves behind:
// - a ResourceQuota of 0 pods in the operator namespace, created before the apply, keeps the Deployments and the
//   DaemonSet from creating pods (they would land on other files' simulated nodes); it and the workloads are deleted
//   afterwards;
// - other files use the CRD at the same time, and any change to a live CRD's spec makes the API server rebuild its
//   handler, failing their in-flight requests with 503 (seen). So the literal command on the literal file runs as a
//   server-side dry run (all validation and admission, nothing stored); then the file is applied for real, except
//   that the CRD is only created when absent, never changed. The cluster-scoped objects stay (inert without the
//   workloads).
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthorizationV1Api, type V1ResourceAttributes } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { API_GROUP, CRD_NAME, OPERATOR_NAMESPACE, UPDATE_POLICY_CRD_NAME, brsName } from "../../src/api/index.ts";

const run = promisify(execFile);
const manifest = join(import.meta.dirname, "..", "..", "bottlerocket-update-operator.yaml");
const ns = OPERATOR_NAMESPACE;
const QUOTA = "manifests-test-no-pods";

let t: TestCluster;
let kubectl: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
let dryRun: { stdout: string; stderr: string };
let applied: { stdout: string; stderr: string };
let applyRest: () => Promise<{ stdout: string; stderr: string }>;
const brs = `brs-manifests-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  kubectl = (...args) => run(join(t.info.binDir, "kubectl"), ["--kubeconfig", t.info.kubeconfigPath, ...args]);
  // The namespace may already exist (another file, or an earlier apply); the quota must be in force before the apply.
  await kubectl("create", "namespace", ns).catch((err: unknown) => {
    if (!String((err as { stderr?: string }).stderr).includes("AlreadyExists")) throw err;
  });
  await kubectl("create", "quota", QUOTA, "--namespace", ns, "--hard=pods=0");
  await eventually("quota in force", async () => {
    const { stdout } = await kubectl("get", "quota", QUOTA, "-n", ns, "-o", "jsonpath={.status.hard.pods}");
    return stdout === "0" ? true : undefined;
  });
  dryRun = await kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", manifest);
  // The same file's documents, byte for byte, split into the CRD and the rest.
  const documents = (await readFile(manifest, "utf8")).split(/^---\n/m).slice(1);
  const isCrd = (doc: string) => /^kind: CustomResourceDefinition$/m.test(doc);
  const crdFile = join(t.info.dir, "manifests-test-crd.yaml");
  const restFile = join(t.info.dir, "manifests-test-rest.yaml");
  await writeFile(crdFile, documents.filter(isCrd).join("---\n"));
  await writeFile(restFile, documents.filter((d) => !isCrd(d)).join("---\n"));
  await kubectl("create", "-f", crdFile).catch((err: unknown) => {
    if (!String((err as { stderr?: string }).stderr).includes("AlreadyExists")) throw err;
  });
  applyRest = () => kubectl("apply", "--server-side", "--force-conflicts", "-f", restFile);
  applied = await applyRest();
});

afterAll(async () => {
  await Promise.allSettled([
    kubectl(
      "delete",
      "--namespace",
      ns,
      "--wait=false",
      "--ignore-not-found",
      "deployment/brupop-apiserver",
      "deployment/brupop-controller-deployment",
      "daemonset/brupop-agent",
      `bottlerocketshadow/${brs}`,
    ),
  ]);
  await kubectl("delete", "quota", QUOTA, "-n", ns, "--ignore-not-found").catch(() => undefined);
  await t.cleanup();
});

describe("kubectl apply --server-side -f bottlerocket-update-operator.yaml", () => {
  it("accepts every object of the file (server-side dry run), with no warnings", () => {
    expect(dryRun.stderr).toBe("");
    const lines = dryRun.stdout.trim().split("\n");
    expect(
      lines.every((l) => l.endsWith(" serverside-applied (server dry run)")),
      dryRun.stdout,
    ).toBe(true);
    for (const object of [
      "namespace/brupop-bottlerocket-aws",
      `customresourcedefinition.apiextensions.k8s.io/${CRD_NAME}`,
      `customresourcedefinition.apiextensions.k8s.io/${UPDATE_POLICY_CRD_NAME}`,
      "deployment.apps/brupop-controller-deployment",
      "deployment.apps/brupop-apiserver",
      "daemonset.apps/brupop-agent",
      "poddisruptionbudget.policy/brupop-apiserver",
      "clusterrolebinding.rbac.authorization.k8s.io/brupop-apiserver-auth-delegator-role-binding",
    ]) {
      expect(lines).toContain(`${object} serverside-applied (server dry run)`);
    }
  });

  it("applies every other object for real, with no warnings, and again idempotently", async () => {
    expect(applied.stderr).toBe("");
    const crds = dryRun.stdout.split("\n").filter((l) => l.startsWith("customresourcedefinition.")).length;
    expect(crds).toBe(2); // the BottlerocketShadow and the fleet policy
    expect(applied.stdout.trim().split("\n")).toHaveLength(dryRun.stdout.trim().split("\n").length - crds);
    const again = await applyRest();
    expect(again.stderr).toBe("");
  });

  it("stores the workloads as written (no field dropped or defaulted away)", async () => {
    const { stdout } = await kubectl("get", "daemonset/brupop-agent", "-n", ns, "-o", "json");
    const ds = JSON.parse(stdout) as { spec: { template: { spec: { volumes: { projected?: unknown }[] } } } };
    expect(JSON.stringify(ds.spec.template.spec.volumes)).toContain('"audience":"brupop-apiserver"');
  });

  it("`kubectl get brs` prints brupop's columns", async () => {
    const shadow = {
      apiVersion: `${API_GROUP}/v2`,
      kind: "BottlerocketShadow",
      metadata: { name: brs, namespace: ns },
      spec: { state: "StagedAndPerformedUpdate", version: "1.26.0" },
    };
    const file = join(t.info.dir, `${brs}.json`);
    await writeFile(file, JSON.stringify(shadow));
    // The CRD may have just been (re)established by the apply; creating can fail for a moment.
    await eventually("brs created", () => kubectl("create", "-f", file));
    const { stdout } = await kubectl("get", "brs", "-n", ns);
    expect(stdout.split("\n")[0]).toMatch(/^NAME\s+STATE\s+VERSION\s+TARGET STATE\s+TARGET VERSION\s+CRASH COUNT\s*$/);
    expect(stdout).toMatch(new RegExp(`^${brs}\\s+StagedAndPerformedUpdate\\s+1\\.26\\.0`, "m"));
  });
});

// ---- RBAC: what each ServiceAccount may do, written from what each component needs (not from src/deploy/rbac.ts) ----

type Check = readonly [verb: string, resource: string, where?: { ns?: string; name?: string; group?: string }];
const core = (verb: string, resource: string, where: { ns?: string; name?: string } = {}): Check => [
  verb,
  resource,
  where,
];
const brsIn = (verb: string, where: { ns?: string; name?: string } = {}): Check => [
  verb,
  "bottlerocketshadows",
  { group: API_GROUP, ns, ...where },
];
const status = (verb: string): Check => [verb, "bottlerocketshadows/status", { group: API_GROUP, ns }];
const OTHER_NS = "kube-system";

const TABLE: Record<string, { allowed: Check[]; denied: Check[] }> = {
  "brupop-agent-service-account": {
    allowed: [
      core("get", "nodes"),
      core("watch", "nodes"),
      brsIn("get", { name: brsName("n1") }),
      brsIn("watch"),
      brsIn("list"),
    ],
    denied: [
      core("patch", "nodes"),
      core("update", "nodes"),
      brsIn("create"),
      brsIn("patch"),
      brsIn("delete"),
      status("update"),
      status("patch"),
      brsIn("get", { ns: OTHER_NS }),
      core("list", "pods"),
      core("create", "pods/eviction", { ns: OTHER_NS }),
      core("get", "secrets", { ns }),
      ["create", "tokenreviews", { group: "authentication.k8s.io" }],
    ],
  },
  "brupop-apiserver-service-account": {
    allowed: [
      ["create", "tokenreviews", { group: "authentication.k8s.io" }],
      ["create", "subjectaccessreviews", { group: "authorization.k8s.io" }],
      core("list", "pods", { ns: OTHER_NS }),
      core("watch", "pods", { ns }),
      core("create", "pods/eviction", { ns: OTHER_NS }),
      ["list", "poddisruptionbudgets", { group: "policy", ns: OTHER_NS }],
      core("get", "nodes"),
      core("watch", "nodes"),
      core("patch", "nodes"),
      brsIn("create"),
      brsIn("get"),
      status("update"),
      status("patch"), // brupop's API server's merge patch, while a switch still runs its replicas
      core("create", "secrets", { ns }),
      core("get", "secrets", { ns, name: "brupop-root-ca-secret" }), // brupop's CA, adopted (built-in TLS)
      core("get", "secrets", { ns, name: "brupop-apiserver-certificate" }),
      core("update", "secrets", { ns, name: "brupop-apiserver-client-certificate" }),
      core("get", "secrets", { ns, name: "brupop-apiserver-ca" }),
      ["get", "customresourcedefinitions", { group: "apiextensions.k8s.io", name: CRD_NAME }],
      ["patch", "customresourcedefinitions", { group: "apiextensions.k8s.io", name: CRD_NAME }],
    ],
    denied: [
      brsIn("delete"),
      brsIn("patch"),
      brsIn("list"),
      brsIn("create", { ns: OTHER_NS }),
      ["delete", "poddisruptionbudgets", { group: "policy", ns: OTHER_NS }],
      core("update", "nodes"),
      core("delete", "nodes"),
      core("delete", "pods", { ns: OTHER_NS }),
      core("patch", "pods", { ns }),
      core("list", "secrets", { ns }),
      core("get", "secrets", { ns, name: "someone-elses-secret" }),
      core("update", "secrets", { ns, name: "brupop-root-ca-secret" }),
      core("get", "secrets", { ns: OTHER_NS, name: "brupop-apiserver-certificate" }),
      ["patch", "customresourcedefinitions", { group: "apiextensions.k8s.io", name: "widgets.example.com" }],
      ["create", "customresourcedefinitions", { group: "apiextensions.k8s.io" }],
      ["create", "leases", { group: "coordination.k8s.io", ns }],
    ],
  },
  "brupop-controller-service-account": {
    allowed: [
      core("list", "nodes"),
      core("watch", "nodes"),
      core("patch", "nodes"), // uncordons a node a stuck drain left cordoned; auto-labelling
      brsIn("list"),
      brsIn("watch"),
      brsIn("patch"),
      brsIn("delete"),
      ["watch", "bottlerocketupdatepolicies", { group: API_GROUP, ns }],
      ["update", "bottlerocketupdatepolicies/status", { group: API_GROUP, ns }],
      ["create", "leases", { group: "coordination.k8s.io", ns }],
      ["get", "leases", { group: "coordination.k8s.io", ns, name: "brupop-controller-leader" }],
      ["update", "leases", { group: "coordination.k8s.io", ns, name: "brupop-controller-leader" }],
      // A standby watches its Lease by name (a metadata.name field selector is authorized as the named object).
      ["list", "leases", { group: "coordination.k8s.io", ns, name: "brupop-controller-leader" }],
      ["watch", "leases", { group: "coordination.k8s.io", ns, name: "brupop-controller-leader" }],
      core("create", "events", { ns: "default" }),
      core("create", "events", { ns }),
      // Uncordoning a stuck node its agent's drain cordoned (docs/design/state-machine.md).
      core("patch", "nodes"),
      core("create", "configmaps", { ns }),
      core("get", "configmaps", { ns, name: "brupop-controller-state" }),
      core("update", "configmaps", { ns, name: "brupop-controller-state" }),
      status("patch"), // the Stuck condition
      // Health gates read the pods on a node in MonitoringUpdate (docs/design/health-gates.md).
      core("list", "pods"),
      // A job gate's Job: created in the operator's namespace, read by name.
      ["create", "jobs", { group: "batch", ns }],
      ["get", "jobs", { group: "batch", ns, name: "brupop-gate-smoke-0123456789ab" }],
    ],
    denied: [
      core("update", "nodes"),
      core("delete", "nodes"),
      core("get", "configmaps", { ns, name: "someone-elses-config" }),
      core("update", "configmaps", { ns: OTHER_NS, name: "brupop-controller-state" }),
      status("update"), // the agents own brs status; the controller patches only its conditions
      core("watch", "pods"),
      core("get", "pods", { ns: OTHER_NS }),
      core("delete", "pods", { ns: OTHER_NS }),
      core("create", "pods/eviction", { ns: OTHER_NS }),
      core("get", "secrets", { ns }),
      brsIn("create"),
      brsIn("patch", { ns: OTHER_NS }),
      ["patch", "bottlerocketupdatepolicies", { group: API_GROUP, ns }],
      ["create", "events", { group: "events.k8s.io", ns }],
      ["update", "leases", { group: "coordination.k8s.io", ns, name: "someone-elses-lease" }],
      ["watch", "leases", { group: "coordination.k8s.io", ns }],
      ["list", "leases", { group: "coordination.k8s.io", ns, name: "someone-elses-lease" }],
      ["delete", "leases", { group: "coordination.k8s.io", ns, name: "brupop-controller-leader" }],
      ["create", "tokenreviews", { group: "authentication.k8s.io" }],
      core("delete", "events", { ns }),
      // Gate Jobs only where the operator runs; Kubernetes deletes them, the controller never does.
      ["create", "jobs", { group: "batch", ns: OTHER_NS }],
      ["delete", "jobs", { group: "batch", ns }],
      ["update", "jobs", { group: "batch", ns }],
      ["create", "cronjobs", { group: "batch", ns }],
      core("create", "pods", { ns }),
    ],
  },
};

async function allowed(sa: string, [verb, resource, where = {}]: Check): Promise<boolean> {
  const [plural, subresource] = resource.split("/");
  const attributes: V1ResourceAttributes = {
    verb,
    group: where.group ?? "",
    resource: plural,
    ...(subresource === undefined ? {} : { subresource }),
    ...(where.ns === undefined ? {} : { namespace: where.ns }),
    ...(where.name === undefined ? {} : { name: where.name }),
  };
  const review = await t.kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${ns}:${sa}`,
        // The groups a real token of this ServiceAccount carries, so group-wide grants count too.
        groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
        resourceAttributes: attributes,
      },
    },
  });
  return review.status?.allowed === true;
}

const describeCheck = ([verb, resource, where = {}]: Check) =>
  `${verb} ${resource}${where.name ? `/${where.name}` : ""}${where.ns ? ` in ${where.ns}` : " (cluster-wide)"}`;

describe("each ServiceAccount can do what its component needs, and no more", () => {
  beforeAll(async () => {
    // The RBAC authorizer's caches trail the apply by a moment.
    await eventually("RBAC in force", async () =>
      (await allowed("brupop-controller-service-account", brsIn("delete"))) ? true : undefined,
    );
  });

  it.each(Object.entries(TABLE))("%s", async (sa, { allowed: may, denied: mayNot }) => {
    const wrong: string[] = [];
    for (const check of may) if (!(await allowed(sa, check))) wrong.push(`should be allowed: ${describeCheck(check)}`);
    for (const check of mayNot) if (await allowed(sa, check)) wrong.push(`should be denied: ${describeCheck(check)}`);
    expect(wrong).toEqual([]);
  });
});

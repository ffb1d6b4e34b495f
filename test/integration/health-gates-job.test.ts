// The job health gate against the real control plane (docs/design/health-gates.md#the-job-gate): the controller's
// reader (src/controller/gate-observer.ts → gate-jobs.ts), with the rights the controller's Role ships with, creates
// the Job; kube-controller-manager's Job controller runs it, and the gate's verdict (src/core/health-gates.ts) is
// compared with what happened to the Job and its pod.
//
// Who plays the kubelet: on a simulated node kwok makes a Job's pod Running, then Succeeded (its pod-complete stage),
// so a passing check is the real sequence end to end. A failing check has no kwok stage: there the node has no
// kubelet at all (a Node kwok does not manage), and the test reports the pod Failed as a kubelet would (the status
// subresource, a terminated container with its exit code and message); the Job controller decides the rest.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BatchV1Api,
  CustomObjectsApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { installOperatorCrds } from "../../sim/stand-ins/status-agents.ts";
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { API_GROUP, API_VERSION_V2, KIND, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import { controllerRules } from "../../src/deploy/rbac.ts";
import { GateObserver } from "../../src/controller/gate-observer.ts";
import { evaluateGates, parseHealthGates, type GateVerdict, type HealthGates } from "../../src/core/health-gates.ts";
import type { KubeClient } from "../../src/kube/client.ts";

let t: TestCluster;
/** The controller's client: its shipped rules, bound in this namespace. */
let controller: KubeClient;

/** A Role with the controller's rules (cluster-wide ones too, here for this namespace), bound to `user`. */
async function bindControllerRules(user: string, keep: (rule: { apiGroups?: string[] }) => boolean): Promise<void> {
  const rbac = t.kc.makeApiClient(RbacAuthorizationV1Api);
  const { cluster, namespaced } = controllerRules();
  const rules = [...namespaced, ...cluster].filter(keep).map((rule) => ({ ...rule }));
  await rbac.createNamespacedRole({ namespace: t.namespace, body: { metadata: { name: user }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace: t.namespace,
    body: {
      metadata: { name: user },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: user },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  });
}

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await installOperatorCrds(t.kc);
  await bindControllerRules("gate-controller", () => true);
  controller = kubeClientOf(await t.identity("gate-controller"));
  // The RBAC authorizer's caches trail the binding by a moment: a 404 (not a 403) for a Job that is not there.
  await eventually("the controller's rules in force", async () => {
    try {
      await controller.get(`/apis/batch/v1/namespaces/${t.namespace}/jobs/none`);
    } catch (error) {
      return (error as { code?: number }).code === 404 ? true : undefined;
    }
    return undefined;
  });
});
/** Nodes without kubelet this file made (t.cleanup deletes only those of createNodes). */
const bareNodes: string[] = [];
afterAll(async () => {
  await Promise.allSettled(bareNodes.map((name) => t.core.deleteNode({ name })));
  await t.cleanup();
});

const batch = () => t.kc.makeApiClient(BatchV1Api);

/** The node's shadow (a gate Job's owner), as the API server stores it. */
async function createShadow(node: string): Promise<{ name: string; uid: string }> {
  const created = (await t.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: API_GROUP,
    version: VERSION_V2,
    namespace: t.namespace,
    plural: PLURAL,
    body: {
      apiVersion: API_VERSION_V2,
      kind: KIND,
      metadata: { name: brsName(node) },
      spec: { state: "MonitoringUpdate", version: "1.26.0", state_transition_timestamp: new Date().toISOString() },
    },
  })) as { metadata: { name: string; uid: string } };
  return { name: created.metadata.name, uid: created.metadata.uid };
}

/** A Node no kubelet looks after: its pods stay Pending until the test reports them. */
async function createNodeWithoutKubelet(name: string): Promise<void> {
  await t.core.createNode({ body: { metadata: { name, labels: { ...t.nodeSelector } } } });
  bareNodes.push(name);
}

function jobGate(timeout = "10m", backoffLimit = 0): HealthGates {
  const errors: string[] = [];
  const gates = parseHealthGates(
    {
      builtIn: false,
      gates: [{ name: "smoke", timeout, job: { image: "check:1", command: ["/check"], backoffLimit } }],
    },
    "healthGates",
    errors,
  );
  expect(errors).toEqual([]);
  return gates;
}

interface Attempt {
  node: string;
  shadow: { name: string; uid: string };
  /** spec.state_transition_timestamp of MonitoringUpdate. */
  attempt: string;
}

/** The controller's reading of the gates for `a`, and their verdict now. */
async function verdict(gates: HealthGates, a: Attempt, client: KubeClient = controller): Promise<GateVerdict> {
  const since = new Date(a.attempt);
  const now = new Date();
  const observed = await new GateObserver(client, t.namespace).observe(
    gates,
    { nodeName: a.node, node: undefined, version: "1.26.0", shadow: a.shadow, attempt: a.attempt, since, now },
    new AbortController().signal,
  );
  return evaluateGates(gates, observed, { since, updateStartedAt: null, now });
}

/** The gate Jobs of this namespace for `node`, as the API server holds them. */
async function jobsOn(node: string): Promise<V1Job[]> {
  const list = await batch().listNamespacedJob({
    namespace: t.namespace,
    labelSelector: `brupop.bottlerocket.aws/gate-node=${node}`,
  });
  return list.items;
}

async function podsOf(job: string): Promise<V1Pod[]> {
  return (await t.core.listNamespacedPod({ namespace: t.namespace, labelSelector: `job-name=${job}` })).items;
}

describe("a job gate", () => {
  it("runs one pod on the node; the Job completes and the gate passes", async () => {
    const [node = ""] = await t.createNodes(1);
    const a = { node, shadow: await createShadow(node), attempt: new Date().toISOString() };
    const gates = jobGate("10m");

    const first = await verdict(gates, a);
    expect(first.kind).toBe("waiting");
    const [job, ...others] = await jobsOn(node);
    expect(others).toEqual([]);
    const name = job?.metadata?.name ?? "";
    expect(name).toMatch(/^brupop-gate-smoke-[0-9a-f]{12}$/);
    // What the Job is, as stored: on the node, bounded by the gate, owned by the shadow, cleaned up after.
    expect(job?.spec?.template.spec?.nodeName).toBe(node);
    expect(job?.spec?.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(job?.spec?.activeDeadlineSeconds).toBeLessThanOrEqual(600);
    expect(job?.spec?.ttlSecondsAfterFinished).toBe(3600);
    expect(job?.metadata?.ownerReferences).toMatchObject([{ kind: KIND, name: a.shadow.name, uid: a.shadow.uid }]);

    const passed = await eventually(
      "the gate passes",
      async () => {
        const v = await verdict(gates, a);
        return v.kind === "passed" ? v : undefined;
      },
      60_000,
    );
    expect(passed.results).toEqual([
      { gate: "smoke", state: "passed", message: `Job ${t.namespace}/${name} completed` },
    ]);
    // What happened: the Job controller says Complete, after its pod ran to the end on that node.
    const stored = await batch().readNamespacedJob({ name, namespace: t.namespace });
    expect(stored.status?.conditions?.find((c) => c.type === "Complete")?.status).toBe("True");
    const pods = await podsOf(name);
    expect(pods.map((p) => [p.spec?.nodeName, p.status?.phase])).toEqual([[node, "Succeeded"]]);
    // Looking again finds the same Job: nothing new is created.
    expect((await verdict(gates, a)).kind).toBe("passed");
    expect((await jobsOn(node)).map((j) => j.metadata?.name)).toEqual([name]);
  });

  it("fails the update as soon as the Job failed, with the Job's reason and the pod's", async () => {
    const node = t.nodeName(10);
    await createNodeWithoutKubelet(node);
    const a = { node, shadow: await createShadow(node), attempt: new Date().toISOString() };
    const gates = jobGate("10m");

    expect((await verdict(gates, a)).kind).toBe("waiting");
    const name = (await jobsOn(node))[0]?.metadata?.name ?? "";
    const pod = await eventually("the Job's pod", async () => (await podsOf(name))[0], 30_000);
    expect(pod.spec?.nodeName).toBe(node);
    expect(pod.status?.phase).toBe("Pending");
    await reportFailed(pod, 3, "disk check failed: /dev/xvdb read-only");

    const failed = await eventually(
      "the gate fails",
      async () => {
        const v = await verdict(gates, a);
        return v.kind === "failed" ? v : undefined;
      },
      60_000,
    );
    expect(failed.gate).toBe("smoke");
    expect(failed.reason).toBe(
      `Job ${t.namespace}/${name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit; ` +
        "pod: Error (exit code 3): disk check failed: /dev/xvdb read-only",
    );
    // Well before the gate's 10 minutes: a failed Job is final.
    expect(Date.now() - new Date(a.attempt).getTime()).toBeLessThan(600_000);
    // What happened: the Job controller decided the Job failed (FailureTarget, on which the gate already acts), and
    // says Failed once it has seen its pods end, a moment later.
    await eventually(
      "the Job controller says Failed",
      async () => {
        const stored = await batch().readNamespacedJob({ name, namespace: t.namespace });
        return stored.status?.conditions?.find((c) => c.type === "Failed")?.status === "True" ? true : undefined;
      },
      30_000,
    );
  });

  it("is one Job per attempt, however many controllers look; a new attempt gets its own", async () => {
    const node = t.nodeName(11);
    await createNodeWithoutKubelet(node);
    const shadow = await createShadow(node);
    const attempt = new Date().toISOString();
    const gates = jobGate("10m");

    // Two controllers at once (a leader and a stale one, a restart mid-reconcile), then once more.
    const other = kubeClientOf(await t.identity("gate-controller"));
    const both = await Promise.all([
      verdict(gates, { node, shadow, attempt }),
      verdict(gates, { node, shadow, attempt }, other),
    ]);
    expect(both.map((v) => v.kind)).toEqual(["waiting", "waiting"]);
    // Both name the same Job; the one that met the other's create reads it a moment later, perhaps running by then.
    const [mine, theirs] = both.map((v) => /^Job (\S+) /.exec(v.results[0]?.message ?? "")?.[1]);
    expect(mine?.startsWith(`${t.namespace}/brupop-gate-`)).toBe(true);
    expect(theirs).toBe(mine);
    await verdict(gates, { node, shadow, attempt });
    const jobs = await jobsOn(node);
    expect(jobs).toHaveLength(1);
    expect((await podsOf(jobs[0]?.metadata?.name ?? "")).length).toBe(1);

    const next = new Date(Date.parse(attempt) + 1000).toISOString();
    await verdict(gates, { node, shadow, attempt: next });
    expect(await jobsOn(node)).toHaveLength(2);
  });

  it("goes with the node's shadow", async () => {
    const node = t.nodeName(12);
    await createNodeWithoutKubelet(node);
    const shadow = await createShadow(node);
    await verdict(jobGate(), { node, shadow, attempt: new Date().toISOString() });
    expect(await jobsOn(node)).toHaveLength(1);
    await t.kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject({
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
      name: shadow.name,
    });
    await eventually(
      "the garbage collector deletes the Job",
      async () => ((await jobsOn(node)).length === 0 ? true : undefined),
      // The garbage collector starts watching a new custom resource within its 30 s discovery resync.
      90_000,
    );
  });

  it("without the controller's rule for Jobs, waits saying so (and fails at its timeout)", async () => {
    await bindControllerRules("gate-controller-without-jobs", (rule) => !rule.apiGroups?.includes("batch"));
    const client = kubeClientOf(await t.identity("gate-controller-without-jobs"));
    const node = t.nodeName(13);
    const a = { node, shadow: await createShadow(node), attempt: new Date().toISOString() };
    const v = await eventually("the rules in force", async () => {
      const result = await verdict(jobGate(), a, client);
      return /forbidden/.test(result.results[0]?.message ?? "") ? result : undefined;
    });
    expect(v.kind).toBe("waiting");
    expect(v.results[0]?.message).toMatch(/^the Job: jobs\.batch .* is forbidden/);
    expect(await jobsOn(node)).toEqual([]);
  });
});

/** What a kubelet reports for a pod whose only container exited with `exitCode`, writing `message`. */
async function reportFailed(pod: V1Pod, exitCode: number, message: string): Promise<void> {
  const now = new Date();
  const container = pod.spec?.containers[0];
  await t.core.patchNamespacedPodStatus(
    {
      name: pod.metadata?.name ?? "",
      namespace: t.namespace,
      body: {
        status: {
          phase: "Failed",
          containerStatuses: [
            {
              name: container?.name ?? "gate",
              image: container?.image ?? "",
              imageID: "",
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode, reason: "Error", message, startedAt: now, finishedAt: now } },
            },
          ],
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
}

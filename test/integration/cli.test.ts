// The `brupop` command against the real test control plane, run as a user runs it (bin/brupop, and bin/kubectl-brupop
// through kubectl): status and explain on shadows with statuses, pause/resume of the fleet (policy resource, created
// when absent) and of one node (annotation), unquarantine, label --all-bottlerocket, errors; and the controller's
// automatic labelling loop. Every command is narrowed to this file's nodes with -l (the other files' nodes share the
// control plane), as a controller with MANAGED_NODE_SELECTOR would be.
import { execFile, spawn } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Node } from "@kubernetes/client-node";
import { parse } from "yaml";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { installOperatorCrds } from "../../sim/stand-ins/status-agents.ts";
import { setOsImage } from "../../sim/cluster/nodes.ts";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import type { BottlerocketShadowStatus } from "../../src/api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy } from "../../src/api/update-policy.ts";
import { UPDATE_POLICY_NAME, UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../../src/api/update-policy-names.ts";
import { startAutoLabeller } from "../../src/controller/auto-label.ts";
import { EventRecorder } from "../../src/controller/events.ts";
import type { StatusView } from "../../src/cli/status-view.ts";
import { ANNOTATIONS } from "../../src/core/model.ts";

const root = join(import.meta.dirname, "..", "..");
const LABEL = "bottlerocket.aws/updater-interface-version";
const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let t: TestCluster;
let custom: CustomObjectsApi;
let selector: string;
let n: string[];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runFile(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, [...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** `brupop <args> --kubeconfig … -n <this file's namespace>` (no -n for `label`: nodes have no namespace). */
function brupop(...args: string[]): Promise<Run> {
  const namespace = args[0] === "label" ? [] : ["-n", t.namespace];
  return runFile(join(root, "bin", "brupop"), [...args, "--kubeconfig", t.info.kubeconfigPath, ...namespace]);
}

async function statusJson(): Promise<StatusView> {
  const run = await brupop("status", "-o", "json", "-l", selector);
  expect(run.stderr).toBe("");
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as StatusView;
}

const reasonOf = (view: StatusView, node: string) => view.nodes.find((x) => x.node === node)?.reason.code;

async function createShadow(node: string, spec: object, status: Partial<BottlerocketShadowStatus>): Promise<void> {
  const owner = await t.core.readNode({ name: node });
  const api = { group: API_GROUP, version: VERSION_V2, namespace: t.namespace, plural: PLURAL };
  await custom.createNamespacedCustomObject({
    ...api,
    body: {
      apiVersion: `${API_GROUP}/${VERSION_V2}`,
      kind: "BottlerocketShadow",
      metadata: {
        name: brsName(node),
        ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: owner.metadata?.uid ?? "" }],
      },
      spec: { state: "Idle", version: null, state_transition_timestamp: null, ...spec },
    },
  });
  const full: BottlerocketShadowStatus = {
    current_version: "1.25.0",
    target_version: "1.26.0",
    current_state: "Idle",
    crash_count: 0,
    state_transition_failure_timestamp: null,
    ...status,
  };
  await custom.patchNamespacedCustomObjectStatus({ ...api, name: brsName(node), body: { status: full } }, MERGE);
}

async function readPolicy(): Promise<BottlerocketUpdatePolicy> {
  return (await custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: UPDATE_POLICY_VERSION,
    namespace: t.namespace,
    plural: UPDATE_POLICY_PLURAL,
    name: UPDATE_POLICY_NAME,
  })) as BottlerocketUpdatePolicy;
}

const node = (name: string): Promise<V1Node> => t.core.readNode({ name });
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  selector = Object.entries(t.nodeSelector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  // Creates the CRDs only when absent: another file may rely on the live ones, which are never modified.
  await installOperatorCrds(t.kc);
  await eventually("BottlerocketShadows served", () =>
    custom.listNamespacedCustomObject({
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
    }),
  );
  // n0 updating; n1 wants 1.26.0 (budget full); n2 failed 5 times (quarantined); n3 labelled, no agent.
  n = await t.createNodes(4);
  const [n0 = "", n1 = "", n2 = ""] = n;
  await createShadow(
    n0,
    { state: "StagedAndPerformedUpdate", version: "1.26.0", state_transition_timestamp: minutesAgo(1) },
    {},
  );
  await createShadow(n1, {}, {});
  await createShadow(n2, {}, { crash_count: 5, state_transition_failure_timestamp: minutesAgo(1) });
  await t.core.createNamespacedEvent({
    namespace: t.namespace,
    body: {
      metadata: { generateName: `${brsName(n2)}.` },
      involvedObject: { kind: "BottlerocketShadow", name: brsName(n2), namespace: t.namespace },
      reason: "UpdateFailed",
      message: "agent failed while moving to StagedAndPerformedUpdate (crash count 5); back to Idle",
      type: "Warning",
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      source: { component: "brupop-controller" },
    },
  });
});
afterAll(() => t.cleanup());

describe("brupop status", () => {
  it("prints the fleet summary and why each node waits", async () => {
    const run = await brupop("status", "-l", selector);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("Fleet     4 managed nodes, 1 updating, budget 1");
    expect(run.stdout).toContain("Paused    no");
    expect(run.stdout).toContain("Blocked   1 agent-missing, 1 budget-full, 1 quarantined");
    expect(run.stdout).toContain(`note: controller Deployment not found in ${t.namespace}`);
    const row = (i: number) => run.stdout.split("\n").find((line) => line.startsWith(`${n[i] ?? ""} `)) ?? "";
    expect(row(0)).toMatch(/Idle → StagedAndPerformedUpdate\s+1\.25\.0\s+1\.26\.0\s+0\s+in-progress$/);
    expect(row(1)).toMatch(/budget-full \(1\/1\)$/);
    expect(row(2)).toMatch(/5\s+quarantined \(5 failures\)$/);
    expect(row(3)).toMatch(/agent-missing$/);
    expect(run.stdout).not.toContain("\u001b["); // not a terminal: no colours
  });

  it("prints the same as JSON and YAML", async () => {
    const view = await statusJson();
    expect(view).toMatchObject({ namespace: t.namespace, managedNodes: 4, updating: 1, paused: false, budget: "1" });
    expect(n.map((name) => reasonOf(view, name))).toEqual([
      "in-progress",
      "budget-full",
      "quarantined",
      "agent-missing",
    ]);
    const yaml = await brupop("status", "-o", "yaml", "-l", selector);
    expect(parse(yaml.stdout)).toMatchObject({ managedNodes: 4, blocked: { "budget-full": 1, quarantined: 1 } });
  });

  it("--watch prints a new document when a node changes, and stops on SIGINT", async () => {
    const child = spawn(
      join(root, "bin", "brupop"),
      ["status", "--watch", "-o", "json", "-l", selector, "--kubeconfig", t.info.kubeconfigPath, "-n", t.namespace],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const documents: StatusView[] = [];
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") documents.push(JSON.parse(line) as StatusView);
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const name = n[1] ?? "";
    try {
      await eventually("first document", async () => (documents.length > 0 ? true : undefined));
      expect(reasonOf(documents[0] as StatusView, name)).toBe("budget-full");
      await t.core.patchNode(
        { name, body: { metadata: { annotations: { "brupop.bottlerocket.aws/paused": "true" } } } },
        MERGE,
      );
      await eventually("redrawn after the annotation", async () =>
        documents.some((d) => reasonOf(d, name) === "opted-out") ? true : undefined,
      );
    } finally {
      await t.core.patchNode(
        { name, body: { metadata: { annotations: { "brupop.bottlerocket.aws/paused": null } } } },
        MERGE,
      );
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  });

  it("runs as a kubectl plugin", async () => {
    const PATH = `${join(root, "bin")}:${t.info.binDir}:${process.env.PATH ?? ""}`;
    const run = await runFile(
      join(t.info.binDir, "kubectl"),
      ["brupop", "status", "-o", "json", "-l", selector, "--kubeconfig", t.info.kubeconfigPath, "-n", t.namespace],
      { ...process.env, PATH },
    );
    expect(run.stderr).toBe("");
    expect((JSON.parse(run.stdout) as StatusView).managedNodes).toBe(4);
  });
});

describe("brupop explain", () => {
  it("explains a quarantined node with its Events, and unquarantine releases it into backoff", async () => {
    const name = n[2] ?? "";
    const before = await brupop("explain", name, "-l", selector);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain(`Node ${name}: quarantined after 5 failures`);
    expect(before.stdout).toContain(`acknowledge and retry: brupop unquarantine ${name} -n ${t.namespace}`);
    expect(before.stdout).toMatch(/Failures:\s+5 crashes/);
    expect(before.stdout).toMatch(/UpdateFailed on shadow: agent failed while moving to StagedAndPerformedUpdate/);

    const release = await brupop("unquarantine", name);
    expect(release.code).toBe(0);
    expect(release.stdout).toContain("acknowledged 5 failures");
    const shadow = (await custom.getNamespacedCustomObject({
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
      name: brsName(name),
    })) as { metadata: { annotations?: Record<string, string> } };
    expect(shadow.metadata.annotations?.["brupop.bottlerocket.aws/acknowledged-failures"]).toBe("5");

    const after = await brupop("explain", name, "-l", selector);
    expect(after.stdout).toMatch(new RegExp(`Node ${name}: backing off after 5 failures until \\S+ \\(in 3[12]m\\)`));
    expect((await brupop("unquarantine", name)).stdout).toContain("already acknowledged");
  });

  it("explains a full budget, naming the node that holds it", async () => {
    const run = await brupop("explain", n[1] ?? "", "-l", selector);
    expect(run.stdout).toContain(`the update budget is full: 1 of 1 node updating (${n[0] ?? ""})`);
  });

  it("says when no agent pod runs on a labelled node", async () => {
    const run = await brupop("explain", n[3] ?? "", "-o", "json", "-l", selector);
    const doc = JSON.parse(run.stdout) as { reason: { code: string }; why: string; details: Record<string, string> };
    expect(doc.reason.code).toBe("agent-missing");
    expect(doc.why).toMatch(/no agent pod on this node/);
    expect(doc.details["Agent pod"]).toBe("none on this node");
  });

  it("fails clearly for an unknown node", async () => {
    const run = await brupop("explain", "no-such-node");
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `brupop explain: node no-such-node not found, and there is no BottlerocketShadow for it in ${t.namespace}\n`,
    );
  });
});

describe("brupop pause and resume", () => {
  it("pauses the fleet by creating the policy resource, and resumes it", async () => {
    await expect(readPolicy()).rejects.toMatchObject({ code: 404 });
    const pause = await brupop("pause");
    expect(pause.code).toBe(0);
    expect(pause.stdout).toContain("updates paused for the fleet");
    expect(pause.stdout).toContain("created");
    expect((await readPolicy()).spec?.paused).toBe(true);
    expect((await readPolicy()).metadata.annotations?.[ANNOTATIONS.resumeRequested]).toBeUndefined();
    const paused = await statusJson();
    expect(paused.paused).toBe(true);
    expect(reasonOf(paused, n[1] ?? "")).toBe("paused");
    expect((await brupop("explain", n[1] ?? "", "-l", selector)).stdout).toContain(
      "updates are paused for the whole fleet (policy resource field spec.paused)",
    );

    const resume = await brupop("resume");
    expect(resume.stdout).toContain("updates resumed for the fleet");
    expect(resume.stdout).not.toContain("created");
    const resumed = await readPolicy();
    expect(resumed.spec?.paused).toBe(false);
    // The request that also lifts an automatic halt: a new value each time (the time of the request).
    const requested = resumed.metadata.annotations?.[ANNOTATIONS.resumeRequested] ?? "";
    expect(Date.now() - Date.parse(requested)).toBeLessThan(60_000);
    expect(reasonOf(await statusJson(), n[1] ?? "")).toBe("budget-full");
  });

  it("pauses and resumes one node with its annotation", async () => {
    const name = n[1] ?? "";
    const pause = await brupop("pause", "--node", name);
    expect(pause.code).toBe(0);
    expect((await node(name)).metadata?.annotations?.["brupop.bottlerocket.aws/paused"]).toBe("true");
    expect(reasonOf(await statusJson(), name)).toBe("opted-out");
    const explain = await brupop("explain", name, "-l", selector);
    expect(explain.stdout).toContain(`paused by annotation brupop.bottlerocket.aws/paused on node ${name}`);
    expect(explain.stdout).toContain(`kubectl annotate node ${name} brupop.bottlerocket.aws/paused-`);

    await brupop("resume", "--node", name);
    expect((await node(name)).metadata?.annotations?.["brupop.bottlerocket.aws/paused"]).toBeUndefined();
    expect(reasonOf(await statusJson(), name)).toBe("budget-full");
  });

  it("fails clearly for an unknown node", async () => {
    const run = await brupop("pause", "--node", "no-such-node");
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("brupop pause: node no-such-node not found\n");
  });
});

describe("brupop label --all-bottlerocket", () => {
  it("labels unlabelled Bottlerocket nodes, except opted-out and other operating systems", async () => {
    const [plainNode = "", optedOut = "", other = ""] = await t.createNodes(3, { from: 10, managed: false });
    await t.core.patchNode(
      { name: optedOut, body: { metadata: { annotations: { "brupop.bottlerocket.aws/auto-label": "false" } } } },
      MERGE,
    );
    await setOsImage(t.core, other, "Amazon Linux 2023");

    const dry = await brupop("label", "--all-bottlerocket", "--dry-run", "-l", selector);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(`${plainNode}\\s+Bottlerocket OS 1\\.25\\.0 \\(aws-k8s-1\\.35\\)\\s+would label`),
    );
    expect(dry.stdout).toContain("would label 1 of 7 nodes");
    expect((await node(plainNode)).metadata?.labels?.[LABEL]).toBeUndefined();

    const run = await brupop("label", "--all-bottlerocket", "-l", selector);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`${optedOut}\\s+.*skipped: opted out with annotation brupop\\.bottlerocket\\.aws/auto-label=false`),
    );
    expect(run.stdout).toMatch(new RegExp(`${other}\\s+Amazon Linux 2023\\s+skipped: not a Bottlerocket node`));
    expect(run.stdout).toContain("labelled 1 of 7 nodes");
    expect((await node(plainNode)).metadata?.labels?.[LABEL]).toBe("2.0.0");
    expect((await node(optedOut)).metadata?.labels?.[LABEL]).toBeUndefined();
    expect((await node(other)).metadata?.labels?.[LABEL]).toBeUndefined();
    // Now managed, without an agent.
    expect(reasonOf(await statusJson(), plainNode)).toBe("agent-missing");
  });

  it("requires --all-bottlerocket", async () => {
    const run = await brupop("label");
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/--all-bottlerocket/);
  });
});

describe("errors and help", () => {
  it("names a context that is not in the kubeconfig", async () => {
    const run = await brupop("status", "--context", "nope");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^brupop status: context "nope" is not in the kubeconfig \(contexts: /);
  });

  it("says when the API server cannot be reached, and what to check", async () => {
    // A port nothing listens on: taken from the OS, then released.
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((done) => probe.close(done));
    const { writeFile, mkdtemp } = await import("node:fs/promises");
    const dir = await mkdtemp(join((await import("node:os")).tmpdir(), "brupop-cli-"));
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: c, cluster: {server: 'https://127.0.0.1:${port}'}}]`,
        "users: [{name: u, user: {token: x}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
      ].join("\n"),
    );
    const run = await runFile(join(root, "bin", "brupop"), ["status", "--kubeconfig", kubeconfig]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `brupop status: reading Deployment brupop-controller-deployment: cannot reach the Kubernetes API server at ` +
        `https://127.0.0.1:${port}: connection refused: is the cluster running? If it is, check the server and ` +
        `context of your kubeconfig (kubectl config view --minify)\n`,
    );
  });

  it("says when there is no kubeconfig at all, instead of the client library's TLS complaint", async () => {
    const { mkdtemp } = await import("node:fs/promises");
    const home = await mkdtemp(join((await import("node:os")).tmpdir(), "brupop-home-"));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: "" };
    const run = await runFile(join(root, "bin", "brupop"), ["status"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "brupop status: no kubeconfig found: KUBECONFIG is not set, ~/.kube/config does not exist and this is not a " +
        "pod; point at your cluster with --kubeconfig FILE or KUBECONFIG=FILE\n",
    );
  });

  it("fails, with a hint, on a namespace without the operator", async () => {
    for (const command of [["status"], ["explain", n[0] ?? ""]]) {
      const run = await runFile(join(root, "bin", "brupop"), [
        ...command,
        "--kubeconfig",
        t.info.kubeconfigPath,
        "-n",
        "no-operator-here",
      ]);
      expect(run.code, command[0]).toBe(1);
      expect(run.stderr, command[0]).toMatch(
        new RegExp(
          `^brupop ${command[0] ?? ""}: no operator in namespace no-operator-here \\(no Deployment ` +
            "brupop-controller-deployment, no BottlerocketShadows\\); (the operator runs in |no namespace has it)",
        ),
      );
    }
  });

  it("has --help on every new command", async () => {
    for (const command of ["status", "explain", "pause", "resume", "label", "unquarantine"]) {
      const run = await runFile(join(root, "bin", "brupop"), [command, "--help"]);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toMatch(/--kubeconfig <path>/);
    }
  });
});

describe("automatic labelling (controller loop)", () => {
  it("labels Bottlerocket nodes in its selection as they appear, with an Event, and respects the opt-out", async () => {
    const [existing = "", optedOut = "", other = ""] = await t.createNodes(3, { from: 20, managed: false });
    await t.core.patchNode(
      { name: optedOut, body: { metadata: { annotations: { "brupop.bottlerocket.aws/auto-label": "false" } } } },
      MERGE,
    );
    await setOsImage(t.core, other, "Ubuntu 24.04 LTS");
    const logs: string[] = [];
    const events = new EventRecorder({ client: t.client, instance: "cli-test" });
    const labeller = startAutoLabeller({
      client: t.client,
      nodeSelector: selector,
      events,
      log: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`) },
    });
    try {
      await labeller.started;
      await eventually("existing node labelled", async () =>
        (await node(existing)).metadata?.labels?.[LABEL] === "2.0.0" ? true : undefined,
      );
      // A node that joins later is labelled from the watch, once its kubelet reports the OS image.
      const [late = ""] = await t.createNodes(1, { from: 23, managed: false });
      await eventually("late node labelled", async () =>
        (await node(late)).metadata?.labels?.[LABEL] === "2.0.0" ? true : undefined,
      );
      await events.flush();
      const recorded = await t.core.listNamespacedEvent({
        namespace: "default",
        fieldSelector: `involvedObject.name=${existing},reason=NodeLabelled`,
      });
      expect(recorded.items[0]?.message).toMatch(/AUTO_LABEL_NODES is on; opt out with annotation/);
      expect((await node(optedOut)).metadata?.labels?.[LABEL]).toBeUndefined();
      expect((await node(other)).metadata?.labels?.[LABEL]).toBeUndefined();
      expect(logs.filter((l) => l.startsWith("WARN"))).toEqual([]);
    } finally {
      await labeller.stop();
    }
  });
});

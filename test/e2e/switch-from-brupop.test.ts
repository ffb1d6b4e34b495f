// End to end: a cluster that runs brupop 1.4 (its one-file manifest applied as brupop documents, the Secrets
// cert-manager made for it, its pods Running on the nodes) is switched by a documented command, and the operator
// that results then rolls a new Bottlerocket version out to every node, with the invariants checked on every change.
// The switch itself (commands, RBAC, TLS, shadows, the way back) is tested on the control plane in
// test/integration/switch-from-brupop.test.ts; here: what the switch leaves runs a whole rollout.
import { describe, expect, it } from "vitest";
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { API_GROUP, OPERATOR_NAMESPACE, PLURAL, VERSION_V2, brsName } from "../../src/api/index.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import type { SimulatedHost } from "../../sim/host/simulated-host.ts";
import { createCertManagerSecrets, installBrupopManifest, installCertManagerCrds } from "../support/brupop-install.ts";
import {
  expectConverged,
  expectNoViolations,
  FROM,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
} from "./support.ts";

stopClustersAfterEach();

const ns = OPERATOR_NAMESPACE;
const WORKLOADS = ["daemonset/brupop-agent", "deployment/brupop-apiserver", "deployment/brupop-controller-deployment"];

describe("a rollout after switching from brupop's manifest", () => {
  it("updates every node, with the invariants held on every change", async () => {
    const running = await start({
      budget: 1,
      install: async ({ kubectl, manifestFile, dir, kc }) => {
        await installCertManagerCrds(kubectl, dir);
        await installBrupopManifest(kubectl);
        await createCertManagerSecrets(kc, ns);
        for (const w of WORKLOADS) await kubectl("rollout", "status", w, "-n", ns, "--timeout=120s");
        // The switch as brupop documents its own upgrades, onto the simulation's copy of our manifest. (Server-side,
        // the copy's conversion webhook, reached here by URL where the manifest names the Service, would sit next to
        // brupop's Service reference instead of replacing it; test/integration covers that command on the real file.)
        await kubectl("apply", "-f", manifestFile);
      },
    });
    const { cluster, observer } = running;
    const apps = cluster.kc.makeApiClient(AppsV1Api);
    const templates = [
      (await apps.readNamespacedDaemonSet({ name: "brupop-agent", namespace: ns })).spec?.template,
      (await apps.readNamespacedDeployment({ name: "brupop-apiserver", namespace: ns })).spec?.template,
      (await apps.readNamespacedDeployment({ name: "brupop-controller-deployment", namespace: ns })).spec?.template,
    ];
    for (const t of templates) expect(t?.spec?.containers[0]?.command?.[0]).not.toMatch(/^\.\//);

    cluster.publish(TO);
    await until("every node updated", 480_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    await expectConverged(running);
    await expectNoViolations(running);
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(2); // one reboot each
  }, 600_000);

  it("finishes an update brupop left in progress: staged, activated, cordoned, asked to reboot", async () => {
    const inProgress = "bottlerocket-1";
    const running = await start({
      budget: 1,
      install: async ({ kubectl, manifestFile, dir, kc, hosts }) => {
        await installCertManagerCrds(kubectl, dir);
        await installBrupopManifest(kubectl);
        await createCertManagerSecrets(kc, ns);
        for (const w of WORKLOADS) await kubectl("rollout", "status", w, "-n", ns, "--timeout=120s");
        const host = hosts.get(inProgress);
        if (host === undefined) throw new Error(`no host ${inProgress}`);
        await leaveUpdateInProgress(kc, host, inProgress);
        await kubectl("apply", "-f", manifestFile);
      },
    });
    const { cluster, observer } = running;
    // (The staged node may already be rebooting: its new agent takes the step as soon as it runs.)
    cluster.publish(TO);
    await until("every node updated", 480_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    await expectConverged(running);
    await expectNoViolations(running);
    for (const h of cluster.hosts.values()) expect(h.bootCount).toBe(2); // one reboot each, the staged node's too
  }, 600_000);
});

/**
 * What brupop 1.4 leaves on a node it is updating when its controller is replaced: the host has the new version
 * prepared and activated (StagedAndPerformedUpdate), the controller has asked for the reboot (spec
 * RebootedIntoUpdate), and brupop's agent has cordoned the node (no drain identity of ours on it).
 */
async function leaveUpdateInProgress(kc: KubeConfig, host: SimulatedHost, node: string): Promise<void> {
  host.publish(TO);
  for (const path of ["/actions/refresh-updates", "/actions/prepare-update", "/actions/activate-update"]) {
    await hostCommand(host, path);
  }
  const core = kc.makeApiClient(CoreV1Api);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  await core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, mergePatch);
  const uid = (await core.readNode({ name: node })).metadata?.uid ?? "";
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ref = { group: API_GROUP, version: VERSION_V2, namespace: ns, plural: PLURAL };
  await custom.createNamespacedCustomObject({
    ...ref,
    body: {
      apiVersion: `${API_GROUP}/${VERSION_V2}`,
      kind: "BottlerocketShadow",
      metadata: { name: brsName(node), ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid }] },
      spec: { state: "RebootedIntoUpdate", version: TO, state_transition_timestamp: formatTimestamp(new Date()) },
    },
  });
  await custom.patchNamespacedCustomObjectStatus(
    {
      ...ref,
      name: brsName(node),
      body: {
        status: {
          current_version: FROM,
          target_version: TO,
          current_state: "StagedAndPerformedUpdate",
          crash_count: 0,
        },
      },
    },
    mergePatch,
  );
}

/** Runs one host action as brupop's agent did (apiclient): start it, then wait for its result in the status. */
async function hostCommand(host: SimulatedHost, path: string): Promise<void> {
  const started = host.request("POST", path);
  if (started.kind !== "http" || started.status !== 204) throw new Error(`${path}: ${JSON.stringify(started)}`);
  await until(`${path} done`, 30_000, () => {
    const status = host.request("GET", "/updates/status");
    if (status.kind !== "http" || status.status !== 200) return false; // 423 while the command runs
    const command = (JSON.parse(status.body) as { most_recent_command: { cmd_status: string } | null })
      .most_recent_command;
    if (command?.cmd_status === "Failed") throw new Error(`${path} failed on the host`);
    return command?.cmd_status === "Success";
  });
}

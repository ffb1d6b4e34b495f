// End to end: a cluster that runs brupop 1.4 (its one-file manifest applied as brupop documents, the Secrets
// cert-manager made for it, its pods Running on the nodes) is switched by a documented command, and the operator
// that results then rolls a new Bottlerocket version out to every node, with the invariants checked on every change.
// The switch itself (commands, RBAC, TLS, shadows, the way back) is tested on the control plane in
// test/integration/switch-from-brupop.test.ts; here: what the switch leaves runs a whole rollout.
import { describe, expect, it } from "vitest";
import { AppsV1Api } from "@kubernetes/client-node";
import { OPERATOR_NAMESPACE } from "../../src/api/index.ts";
import { createCertManagerSecrets, installBrupopManifest, installCertManagerCrds } from "../support/brupop-install.ts";
import { expectConverged, expectNoViolations, start, stopClustersAfterEach, TO, until, updated } from "./support.ts";

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
});

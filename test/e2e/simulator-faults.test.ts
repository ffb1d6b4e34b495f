// The simulated cluster's own fault capabilities, used by `npm run chaos -- --faults all`: a chaos run that passes
// means something only if its faults really happen. A kubelet taken down leaves the Node NotReady (kwok no longer
// restores it) and the node's agent stopped; a node's network cut is a black hole until restored; a deleted node's
// host is off; a kubelet whose host hangs at boot comes back only with its host. Checked against the real control
// plane, one small cluster each.
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { request } from "node:https";
import { CoreV1Api } from "@kubernetes/client-node";
import { start, stopClustersAfterEach, TO, until } from "./support.ts";

stopClustersAfterEach();

/** GET `url` (TLS not verified): the status, or "timeout" when nothing answers within `ms`. */
function probe(url: string, ms: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${url}/livez`, { rejectUnauthorized: false, timeout: ms }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => {
      req.destroy();
      resolve("timeout");
    });
    req.on("error", (err) => resolve(err.message));
    req.end();
  });
}

describe("the simulated cluster's faults", () => {
  it("kubelet down and back, a network cut and its end, a node deleted", async () => {
    const running = await start({ nodes: 2, budget: 1, nodeLinks: true, workloads: false });
    const { cluster, observer } = running;
    const core = cluster.kc.makeApiClient(CoreV1Api);
    const ready = async (node: string) =>
      (await core.readNode({ name: node })).status?.conditions?.find((c) => c.type === "Ready")?.status;

    await cluster.setKubelet("bottlerocket-1", false);
    expect(await ready("bottlerocket-1")).toBe("False");
    await until("the agent of bottlerocket-1 stopped", 10_000, () => !cluster.runners.agent.podOn("bottlerocket-1"));
    // kwok plays this kubelet no more: nothing makes the node Ready again behind our back.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await ready("bottlerocket-1")).toBe("False");
    expect(cluster.runners.agent.podOn("bottlerocket-1")).toBeUndefined();
    await cluster.setKubelet("bottlerocket-1", true);
    await until(
      "bottlerocket-1 Ready again",
      30_000,
      () =>
        observer.node("bottlerocket-1")?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ===
        true,
    );
    await until("its agent running again", 30_000, () => cluster.runners.agent.podOn("bottlerocket-1") !== undefined);

    const link = cluster.links.get("bottlerocket-2");
    if (!link) throw new Error("no network link for bottlerocket-2");
    expect(await probe(link.kubeUrl, 5_000)).toBeTypeOf("number");
    expect(link.sourceAddress).toBe("127.1.0.2");
    link.cut();
    expect(await probe(link.kubeUrl, 1_500)).toBe("timeout");
    expect(await probe(link.serviceUrl, 1_500)).toBe("timeout");
    const held = probe(link.kubeUrl, 10_000);
    link.restore();
    expect(await held).toBeTypeOf("number");

    await cluster.deleteNode("bottlerocket-2");
    await until("bottlerocket-2 gone", 10_000, () => observer.node("bottlerocket-2") === undefined);
    expect(existsSync(cluster.hosts.get("bottlerocket-2")?.socketPath ?? "")).toBe(false); // its host is off
    await until("its agent stopped", 10_000, () => !cluster.runners.agent.podOn("bottlerocket-2"));
  }, 300_000);

  it("a kubelet brought back while its host hangs at boot stays down until the host is reset", async () => {
    const node = "bottlerocket-1";
    // Two nodes: the operator's own pods need somewhere to go when bottlerocket-1 drains.
    const running = await start({ nodes: 2, budget: 1, workloads: false, faults: { [node]: ["boot-hang"] } });
    const { cluster, observer } = running;
    const host = cluster.hosts.get(node);
    if (!host) throw new Error(`no host for ${node}`);
    const ready = () => observer.node(node)?.status?.conditions?.find((c) => c.type === "Ready")?.status;
    let hung = false;
    host.on("boot-failed", (e) => {
      if (e.mode === "hang") hung = true;
    });
    cluster.publish(TO);
    await until(`${node}'s boot hung`, 240_000, () => hung);

    // The chaos run's kubelet fault, on a host that never came back: its end must not make the Node Ready.
    await cluster.setKubelet(node, false);
    await until(`${node} NotReady`, 10_000, () => ready() === "False");
    await cluster.setKubelet(node, true);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(ready()).toBe("False");
    expect(host.apiUp).toBe(false);
    expect(cluster.runners.agent.podOn(node)).toBeUndefined();

    host.reset();
    await until(`${node} Ready once its host is up`, 60_000, () => ready() === "True");
    await until("its agent running again", 30_000, () => cluster.runners.agent.podOn(node) !== undefined);
  }, 300_000);
});

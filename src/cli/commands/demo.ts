// `brupop demo`: the operator updating a simulated cluster, live in the terminal.
// Until the operator's components are wired into the simulated cluster, it starts the cluster, shows the
// simulated Bottlerocket fleet, says what the rollout will show, and cleans up.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";

export function demoCommand(): Command {
  return new Command("demo")
    .description("start a simulated cluster of Bottlerocket nodes and show a rollout (ends by itself)")
    .addOption(
      new Option("--nodes <n>", "simulated Bottlerocket nodes").default(6).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError("expected 1..100");
        return n;
      }),
    )
    .option("--from <version>", "Bottlerocket version the nodes start on", "1.25.0")
    .action(async (opts) => {
      const { startControlPlane } = await import("../../sim/control-plane/control-plane.ts");
      const { createBottlerocketNodes } = await import("../../sim/cluster/nodes.ts");
      const { KubeConfig, CoreV1Api } = await import("@kubernetes/client-node");
      const started = Date.now();
      const cp = await startControlPlane({ log: (line) => console.log(`[cluster] ${line}`) });
      try {
        const kc = new KubeConfig();
        kc.loadFromFile(cp.kubeconfigPath);
        const core = kc.makeApiClient(CoreV1Api);
        const names = Array.from({ length: opts.nodes }, (_, i) => `bottlerocket-${i + 1}`);
        await createBottlerocketNodes(core, names, { osVersion: opts.from });
        const nodes = (await core.listNode({ labelSelector: "bottlerocket.aws/updater-interface-version=2.0.0" }))
          .items;
        console.log(`\nSimulated cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s (${cp.server}):`);
        console.log(`${"NODE".padEnd(20)}${"READY".padEnd(8)}OS IMAGE`);
        for (const node of nodes) {
          const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown";
          console.log(
            `${(node.metadata?.name ?? "").padEnd(20)}${ready.padEnd(8)}${node.status?.nodeInfo?.osImage ?? ""}`,
          );
        }
        console.log(
          [
            "",
            "What the demo will show once the operator's components run in the simulated cluster:",
            `  a newer Bottlerocket version is published to the ${opts.nodes} simulated hosts; the controller starts`,
            "  nodes within its budget; each agent stages the update, the API server cordons and drains the node",
            "  (PodDisruptionBudgets respected), the host reboots into the new version, the node is uncordoned;",
            "  a live table like `kubectl get brs -w`, the events, then a summary.",
            "",
            "Today it shows the simulated cluster itself: a real kube-apiserver with simulated Bottlerocket nodes.",
          ].join("\n"),
        );
      } finally {
        await cp.stop();
        console.log("cluster stopped and cleaned up");
      }
    });
}

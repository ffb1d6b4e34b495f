// The seam between @kubernetes/client-node's KubeConfig, which the simulator, the tests and the benchmarks use for
// their own calls, and the product's client (src/kube/client.ts), which the controller and the API server take. One
// client per KubeConfig, so a harness shares kept-alive connections as a component does.
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/kube/client.ts";
import { connectionFromKubeconfig } from "../../src/kube/kubeconfig.ts";

const clients = new WeakMap<KubeConfig, KubeClient>();

export function kubeClientOf(kc: KubeConfig): KubeClient {
  let client = clients.get(kc);
  if (client === undefined) {
    // exportConfig() is the kubeconfig as JSON (a YAML document), with the paths loadFromFile made absolute.
    client = new KubeClient(connectionFromKubeconfig(kc.exportConfig()));
    clients.set(kc, client);
  }
  return client;
}

// Per-test-file view of the shared control plane: a fresh namespace, its own simulated nodes, clients, and
// identities. Use in a file:  let t: TestCluster; beforeAll(async () => { t = await useCluster(import.meta.url); });
// afterAll(() => t.cleanup());
import type { KubeClient } from "../../src/kube/client.ts";
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { inject } from "vitest";
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig, CoreV1Api } from "@kubernetes/client-node";
import { loadCertificateAuthority } from "../../src/pki/certificates.ts";
import { kubeconfigYaml } from "../../sim/control-plane/kubeconfig.ts";
import { createBottlerocketNodes, type SimulatedNodeOptions } from "../../sim/cluster/nodes.ts";
import type { ControlPlaneInfo } from "./global-setup.ts";

/** Label on this file's nodes; select them with `nodeSelector` so pods never land on another file's nodes. */
export const nodeGroupLabel = "testenv.brupop.dev/group";

export interface TestCluster {
  readonly info: ControlPlaneInfo;
  /** Admin (system:masters) client configuration. */
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  /** The same admin access as the product's client (src/kube/client.ts), for the components under test. */
  readonly client: KubeClient;
  /** A fresh namespace for this file. */
  readonly namespace: string;
  /** `nodeSelector` matching this file's nodes. */
  readonly nodeSelector: Record<string, string>;
  /** The name of this file's i-th node (unique across the run). */
  nodeName(i: number): string;
  /** Creates simulated Bottlerocket nodes 0..n-1 (or `from`..`from+n-1`) and waits until they are Ready. */
  createNodes(n: number, options?: SimulatedNodeOptions & { from?: number }): Promise<string[]>;
  /** A client configuration authenticated as `user` in `groups` (client certificate), for RBAC tests. */
  identity(user: string, groups?: readonly string[]): Promise<KubeConfig>;
  /** Deletes the namespace and nodes of this file (without waiting for finalisation). */
  cleanup(): Promise<void>;
}

export async function useCluster(fileUrl: string): Promise<TestCluster> {
  const info = inject("controlPlane");
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const slug = basename(fileURLToPath(fileUrl))
    .replace(/\.test\.ts$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, 30)
    .replace(/-+$/, "");
  const id = `${slug}-${randomBytes(3).toString("hex")}`;
  const namespace = `t-${id}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await waitForDefaultServiceAccount(core, namespace);
  const nodes = new Set<string>();
  const nodeName = (i: number) => `${id}-n${i}`;
  const nodeSelector = { [nodeGroupLabel]: id };

  return {
    info,
    kc,
    core,
    client: kubeClientOf(kc),
    namespace,
    nodeSelector,
    nodeName,
    async createNodes(n, options = {}) {
      const names = Array.from({ length: n }, (_, i) => nodeName((options.from ?? 0) + i));
      await createBottlerocketNodes(core, names, { ...options, labels: { ...options.labels, ...nodeSelector } });
      names.forEach((name) => nodes.add(name));
      return names;
    },
    async identity(user, groups = []) {
      const [certPem, keyPem] = await Promise.all([
        readFile(join(info.dir, "pki", "ca.crt"), "utf8"),
        readFile(join(info.dir, "pki", "ca.key"), "utf8"),
      ]);
      const ca = await loadCertificateAuthority(certPem, keyPem);
      const cert = await ca.issue({ commonName: user, organizations: groups, usages: ["client"] });
      const config = new KubeConfig();
      config.loadFromString(
        kubeconfigYaml({
          server: info.server,
          caPem: info.caPem,
          identity: { user, groups, certPem: cert.certPem, keyPem: cert.keyPem },
          name: user,
        }),
      );
      return config;
    },
    async cleanup() {
      await Promise.allSettled([
        core.deleteNamespace({ name: namespace }),
        ...[...nodes].map((name) => core.deleteNode({ name })),
      ]);
    },
  };
}

/** Pods cannot be created (ServiceAccount admission) until the controller-manager made "default". */
async function waitForDefaultServiceAccount(core: CoreV1Api, namespace: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: "default", namespace });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`no default ServiceAccount in ${namespace} after 30 s`);
}

/** Polls `check` until it returns a value other than undefined, or fails with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ""}`,
  );
}

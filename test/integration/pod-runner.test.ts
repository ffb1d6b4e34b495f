// The simulated kubelet's process side: a real process per Running pod, with the pod's env and bound tokens.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { AuthenticationV1Api } from "@kubernetes/client-node";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useCluster, eventually, type TestCluster } from "../support/cluster.ts";
import { PodRunner } from "../../sim/cluster/pod-runner.ts";

let t: TestCluster;
let dir: string;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  dir = await mkdtemp(join(tmpdir(), "pod-runner-"));
});
afterAll(async () => {
  await t.cleanup();
  await rm(dir, { recursive: true, force: true });
});

// Writes what the "container" sees, then idles: env, its service-account token and the projected token.
const script = `
const fs = require("node:fs");
const out = { pid: process.pid, node: process.env.MY_NODE_NAME, greeting: process.env.GREETING,
  token: fs.readFileSync(process.env.SA_DIR + "/token", "utf8"),
  projected: fs.readFileSync(process.env.TOKENS_DIR + "/agent-token", "utf8") };
fs.writeFileSync(process.env.OUT, JSON.stringify(out));
setInterval(() => {}, 1000);
`;

describe("PodRunner", () => {
  it("runs a process per Running pod with the pod's env and pod-bound tokens, restarts it, stops it with the pod", async () => {
    const [node] = await t.createNodes(1);
    await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: "agent" } } });
    await t.core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: { name: "agent-x", labels: { app: "runner" } },
        spec: {
          nodeName: node,
          serviceAccountName: "agent",
          containers: [
            {
              name: "agent",
              image: "agent",
              env: [
                { name: "GREETING", value: "hello" },
                { name: "MY_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              ],
              volumeMounts: [{ name: "tokens", mountPath: "/var/run/secrets/tokens" }],
            },
          ],
          volumes: [
            {
              name: "tokens",
              projected: {
                sources: [
                  {
                    serviceAccountToken: { path: "agent-token", audience: "brupop-apiserver", expirationSeconds: 3600 },
                  },
                ],
              },
            },
          ],
        },
      },
    });
    const out = join(dir, "out.json");
    const runner = new PodRunner({
      kc: t.kc,
      namespace: t.namespace,
      labelSelector: "app=runner",
      caPem: t.info.caPem,
      dir,
      launch: (_pod, files) => ({
        command: process.execPath,
        args: ["-e", script],
        env: {
          OUT: out,
          SA_DIR: files.serviceAccountDir,
          TOKENS_DIR: files.mounts["/var/run/secrets/tokens"] ?? "",
        },
      }),
    });
    await runner.start();
    type Seen = { pid: number; node: string; greeting: string; token: string; projected: string };
    const first = await eventually(
      "process wrote its view",
      async () => JSON.parse(await readFile(out, "utf8")) as Seen,
    );
    expect(first.node).toBe(node);
    expect(first.greeting).toBe("hello");

    const auth = t.kc.makeApiClient(AuthenticationV1Api);
    const review = await auth.createTokenReview({
      body: { spec: { token: first.projected, audiences: ["brupop-apiserver"] } },
    });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.extra?.["authentication.kubernetes.io/pod-name"]).toEqual(["agent-x"]);
    const saReview = await auth.createTokenReview({ body: { spec: { token: first.token } } });
    expect(saReview.status?.user?.username).toBe(`system:serviceaccount:${t.namespace}:agent`);

    process.kill(first.pid, "SIGKILL");
    await rm(out);
    const second = await eventually("restarted", async () => JSON.parse(await readFile(out, "utf8")) as Seen);
    expect(second.pid).not.toBe(first.pid);

    await t.core.deleteNamespacedPod({ name: "agent-x", namespace: t.namespace });
    await eventually("process stopped with the pod", async () => {
      try {
        process.kill(second.pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    expect(runner.processes().size).toBe(0);
    await runner.stop();
  });
});

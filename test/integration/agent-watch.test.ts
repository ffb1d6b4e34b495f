// The agent's single-object watch (src/agent/kube-watch.ts) against the real kube-apiserver, authenticated as the
// agent is (a service-account token with the agent's RBAC), through a fault proxy whose log shows each list and
// watch the agent sent: list + watch by field selector, bookmarks moving the resume point, a watch that ends (server
// timeout, dropped connection) resumed without missing a change made in the gap, 410 Gone answered by a re-list, and
// a rejected token.
//
// 410 Gone on demand: the watch cache answers a resume from before its own start with 410 ("too old resource
// version"), and kube-apiserver rebuilds a custom resource's storage (and its watch cache) when the CRD changes, as
// the brs CRD does when the API server rotates the conversion webhook's caBundle. Compacting etcd does not do it: a
// resume still in the watch cache's window is served from the cache, compacted or not.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, RbacAuthorizationV1Api, Watch } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { proxyToApiServer } from "../support/fault-proxy.ts";
import type { FaultProxy, ProxiedRequest } from "../../sim/cluster/fault-proxy.ts";
import { DEFAULT_TIMING } from "../../src/agent/config.ts";
import { SingleObjectWatch } from "../../src/agent/kube-watch.ts";
import { parseNode } from "../../src/agent/observed.ts";
import { agentRules } from "../../src/deploy/rbac.ts";

let t: TestCluster;
let dir: string;
let tokenFile: string;
let token: string;
const AGENT = "agent";
const GROUP = `w${Math.random().toString(36).slice(2, 8)}.test.brupop.dev`;
const THINGS = "things";
const CRD = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" } as const;
const clusterRbacName = () => `agent-watch-${t.namespace}`;

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  dir = await mkdtemp(join(tmpdir(), "agent-watch-"));
  const custom = t.kc.makeApiClient(CustomObjectsApi);
  await custom.createClusterCustomObject({
    ...CRD,
    body: {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${THINGS}.${GROUP}` },
      spec: {
        group: GROUP,
        scope: "Namespaced",
        names: { plural: THINGS, singular: "thing", kind: "Thing" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
          },
        ],
      },
    },
  });
  // The agent's own rules for Nodes; the same read-only rule for this file's custom resource.
  const rbac = t.kc.makeApiClient(RbacAuthorizationV1Api);
  const subjects = [{ kind: "ServiceAccount", name: AGENT, namespace: t.namespace }];
  await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: AGENT } } });
  await rbac.createClusterRole({ body: { metadata: { name: clusterRbacName() }, rules: [...agentRules().cluster] } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: clusterRbacName() },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRbacName() },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace: t.namespace,
    body: {
      metadata: { name: AGENT },
      rules: [{ apiGroups: [GROUP], resources: [THINGS], verbs: ["get", "list", "watch"] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: t.namespace,
    body: {
      metadata: { name: AGENT },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: AGENT },
      subjects,
    },
  });
  const request = await t.core.createNamespacedServiceAccountToken({
    name: AGENT,
    namespace: t.namespace,
    body: { spec: { audiences: [t.info.issuer], expirationSeconds: 3600 } },
  });
  token = request.status?.token ?? "";
  tokenFile = join(dir, "token");
  await writeFile(tokenFile, token);
  await eventually("the Thing CRD is served", async () => {
    await custom.listNamespacedCustomObject({ group: GROUP, version: "v1", namespace: t.namespace, plural: THINGS });
    return true;
  });
});

afterAll(async () => {
  const rbac = t.kc.makeApiClient(RbacAuthorizationV1Api);
  await Promise.allSettled([
    rbac.deleteClusterRoleBinding({ name: clusterRbacName() }),
    rbac.deleteClusterRole({ name: clusterRbacName() }),
    t.kc.makeApiClient(CustomObjectsApi).deleteClusterCustomObject({ ...CRD, name: `${THINGS}.${GROUP}` }),
    rm(dir, { recursive: true, force: true }),
  ]);
  await t.cleanup();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Watched<T> {
  readonly watch: SingleObjectWatch<T>;
  readonly proxy: FaultProxy;
  readonly errors: string[];
  /** The agent's lists and watches, as the proxy saw them. */
  lists(): ProxiedRequest[];
  watches(): ProxiedRequest[];
}

/** Starts a watch as the agent does, through a fault proxy. */
async function watchAsAgent<T>(
  collectionPath: string,
  name: string,
  parse: (object: unknown) => T,
  timeoutSeconds?: number,
): Promise<Watched<T>> {
  const { proxy, caFile } = await proxyToApiServer(t);
  cleanups.push(() => proxy.stop());
  const errors: string[] = [];
  const watch = new SingleObjectWatch({
    kube: { url: proxy.url, tokenFile, caFile },
    collectionPath,
    name,
    parse,
    onError: (message) => errors.push(message),
    initialBackoffMs: 50,
    maxBackoffMs: 200,
    timeoutSeconds: timeoutSeconds ?? DEFAULT_TIMING.watchTimeoutSeconds,
  });
  watch.start();
  cleanups.push(() => watch.stop());
  const mine = (r: ProxiedRequest) => r.method === "GET" && r.url.startsWith(`${collectionPath}?`);
  return {
    watch,
    proxy,
    errors,
    lists: () => proxy.log.filter((r) => mine(r) && !r.url.includes("watch=1")),
    watches: () => proxy.log.filter((r) => mine(r) && r.url.includes("watch=1")),
  };
}

const resourceVersionOf = (r: ProxiedRequest | undefined) =>
  Number(new URL(r?.url ?? "/", "https://x").searchParams.get("resourceVersion"));
const cordon = (name: string) =>
  t.core.patchNode({ name, body: [{ op: "add", path: "/spec/unschedulable", value: true }] });

describe("SingleObjectWatch of a Node", () => {
  it("lists the Node by field selector, then watches from the list's resourceVersion and follows changes", async () => {
    const [node] = await t.createNodes(1, { from: 0 });
    const name = node ?? "";
    const w = await watchAsAgent("/api/v1/nodes", name, parseNode);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    const real = await t.core.readNode({ name });
    expect(w.watch.value).toEqual({ uid: real.metadata?.uid, unschedulable: false, excludedFromLb: false });
    expect(w.lists().map((r) => [r.url, r.status])).toEqual([
      [`/api/v1/nodes?fieldSelector=metadata.name%3D${name}`, 200],
    ]);
    expect(w.watches()[0]?.url).toMatch(
      new RegExp(
        `^/api/v1/nodes\\?fieldSelector=metadata.name%3D${name}&watch=1&allowWatchBookmarks=true` +
          `&resourceVersion=\\d+&timeoutSeconds=\\d+$`,
      ),
    );
    // Held for hours (12 to 24), so that an idle fleet's agents stay off the wire; randomised so they do not
    // re-open together.
    const timeout = Number(new URL(w.watches()[0]?.url ?? "", "https://x").searchParams.get("timeoutSeconds"));
    expect(timeout).toBeGreaterThanOrEqual(12 * 3600);
    expect(timeout).toBeLessThan(24 * 3600);
    expect(w.watches()[0]?.status).toBe(200);
    await cordon(name);
    await eventually("cordon seen", async () => (w.watch.value?.unschedulable === true ? true : undefined));
    expect(w.lists()).toHaveLength(1);
    expect(w.errors).toEqual([]);
    await w.watch.stop();
    await eventually("watch closed", async () =>
      w.watches().every((r) => r.closedAt !== undefined) ? true : undefined,
    );
  });

  it("resumes a watch that timed out from the server's bookmark, not from a new list", async () => {
    const [node, other] = await t.createNodes(2, { from: 1 });
    const name = node ?? "";
    const w = await watchAsAgent("/api/v1/nodes", name, parseNode, 4);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    // Another Node changes: the resourceVersion of Nodes moves on while the agent's own Node stays as it was.
    const changed = await t.core.patchNode({
      name: other ?? "",
      body: [{ op: "add", path: "/metadata/labels/touched", value: "yes" }],
    });
    const movedTo = Number(changed.metadata?.resourceVersion);
    await eventually("watch resumed", async () => (w.watches().length >= 2 ? true : undefined), 20_000);
    const own = await t.core.readNode({ name });
    expect(Number(own.metadata?.resourceVersion)).toBeLessThan(movedTo); // no event of its own Node carried it
    expect(resourceVersionOf(w.watches()[1])).toBeGreaterThanOrEqual(movedTo); // a bookmark did
    expect(w.lists()).toHaveLength(1);
    expect(w.errors).toEqual([]);
  });

  it("misses no change made between a watch that timed out and the next", async () => {
    const [node] = await t.createNodes(1, { from: 3 });
    const name = node ?? "";
    const w = await watchAsAgent("/api/v1/nodes", name, parseNode, 2);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    w.proxy.hold(); // the server ends the watch (timeout); the agent's next watch waits at the proxy
    await eventually("next watch held", async () => (w.watches().some((r) => r.fate === "held") ? true : undefined));
    const resumeFrom = resourceVersionOf(w.watches().find((r) => r.fate === "held"));
    const cordoned = await cordon(name);
    expect(Number(cordoned.metadata?.resourceVersion)).toBeGreaterThan(resumeFrom); // the change is in the gap
    expect(w.watch.value?.unschedulable).toBe(false);
    w.proxy.heal();
    await eventually("change seen", async () => (w.watch.value?.unschedulable === true ? true : undefined));
    expect(w.lists()).toHaveLength(1);
    expect(w.errors).toEqual([]);
  });

  it("resumes from the last resourceVersion after the connection drops, and sees the change made meanwhile", async () => {
    const [node] = await t.createNodes(1, { from: 4 });
    const name = node ?? "";
    const w = await watchAsAgent("/api/v1/nodes", name, parseNode);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    const listedAt = resourceVersionOf(w.watches()[0]);
    w.proxy.hold();
    w.proxy.cut(); // the stream breaks; the agent's next watch waits at the proxy
    await eventually("next watch held", async () => (w.watches().some((r) => r.fate === "held") ? true : undefined));
    expect(resourceVersionOf(w.watches()[1])).toBe(listedAt);
    await cordon(name);
    w.proxy.heal();
    await eventually("change seen", async () => (w.watch.value?.unschedulable === true ? true : undefined));
    expect(w.lists()).toHaveLength(1);
  });

  it("backs off while the token is refused, and recovers with the rotated token", async () => {
    const [node] = await t.createNodes(1, { from: 5 });
    const name = node ?? "";
    const w = await watchAsAgent("/api/v1/nodes", name, parseNode);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    await writeFile(tokenFile, "not-a-token\n");
    try {
      w.proxy.cut();
      await eventually("refused twice", async () =>
        w.lists().filter((r) => r.status === 401).length >= 2 ? true : undefined,
      );
      expect(w.errors.some((e) => e.includes("list answered 401"))).toBe(true);
    } finally {
      await writeFile(tokenFile, token); // rotated: read again on the next request
    }
    await eventually("watching again", async () =>
      w.watches().some((r) => r.status === 200 && r !== w.watches()[0]) ? true : undefined,
    );
    await cordon(name);
    await eventually("change seen", async () => (w.watch.value?.unschedulable === true ? true : undefined));
  });
});

describe("SingleObjectWatch of a custom resource", () => {
  const custom = () => t.kc.makeApiClient(CustomObjectsApi);
  const things = { group: GROUP, version: "v1", plural: THINGS };
  const parseThing = (object: unknown) => (object as { data?: unknown }).data;

  /** Creates Thing `name` (unless `data` is undefined) and watches it as the agent does, until the watch is open. */
  async function watchThing(name: string, data?: number): Promise<Watched<unknown>> {
    if (data !== undefined) {
      await custom().createNamespacedCustomObject({
        ...things,
        namespace: t.namespace,
        body: { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name }, data },
      });
    }
    const w = await watchAsAgent(`/apis/${GROUP}/v1/namespaces/${t.namespace}/${THINGS}`, name, parseThing);
    await eventually("watch open", async () => (w.watches().length === 1 ? true : undefined));
    return w;
  }

  /** Changes the CRD (a printer column named `column`), which makes kube-apiserver rebuild the resource's storage. */
  async function changeCrd(column: string): Promise<void> {
    const crd = (await custom().getClusterCustomObject({ ...CRD, name: `${THINGS}.${GROUP}` })) as {
      spec: { versions: Record<string, unknown>[] };
    };
    crd.spec.versions = crd.spec.versions.map((v) => ({
      ...v,
      additionalPrinterColumns: [{ name: column, type: "integer", jsonPath: ".data" }],
    }));
    await custom().replaceClusterCustomObject({ ...CRD, name: `${THINGS}.${GROUP}`, body: crd });
  }

  /** The first event the server sends to a watch from `resourceVersion` (as the admin). */
  async function firstEvent(name: string, resourceVersion: number): Promise<{ type: string; code?: number }> {
    const done = Promise.withResolvers<{ type: string; code?: number }>();
    const controller = await new Watch(t.kc).watch(
      `/apis/${GROUP}/v1/namespaces/${t.namespace}/${THINGS}`,
      { fieldSelector: `metadata.name=${name}`, resourceVersion: String(resourceVersion), timeoutSeconds: 2 },
      (type, object: { code?: number }) => done.resolve({ type, code: object.code }),
      (err: unknown) => done.reject(err ?? new Error("watch ended without an event")),
    );
    try {
      return await done.promise;
    } finally {
      controller.abort();
    }
  }

  it("sees the object appear and go (the agent starts before its brs exists)", async () => {
    const w = await watchThing("later");
    expect(w.watch.value).toBeNull();
    await custom().createNamespacedCustomObject({
      ...things,
      namespace: t.namespace,
      body: { apiVersion: `${GROUP}/v1`, kind: "Thing", metadata: { name: "later" }, data: 1 },
    });
    await eventually("created", async () => (w.watch.value === 1 ? true : undefined));
    await custom().deleteNamespacedCustomObject({ ...things, namespace: t.namespace, name: "later" });
    await eventually("deleted", async () => (w.watch.value === null ? true : undefined));
    expect(w.lists()).toHaveLength(1);
    expect(w.errors).toEqual([]);
  });

  it("re-lists after 410 Gone and delivers the latest object", async () => {
    const w = await watchThing("w", 1);
    expect(w.watch.value).toBe(1);
    w.proxy.hold();
    w.proxy.cut();
    await eventually("next watch held", async () => (w.watches().some((r) => r.fate === "held") ? true : undefined));
    const resumeFrom = resourceVersionOf(w.watches()[1]);

    await custom().patchNamespacedCustomObject({
      ...things,
      namespace: t.namespace,
      name: "w",
      body: [{ op: "replace", path: "/data", value: 2 }],
    });
    // A CRD change rebuilds the resource's storage: its new watch cache starts after the agent's resume point.
    await changeCrd("Data");
    await eventually("the server answers 410 Gone from the agent's resume point", async () => {
      const event = await firstEvent("w", resumeFrom);
      return event.type === "ERROR" && event.code === 410 ? true : undefined;
    });

    w.proxy.heal();
    await eventually("latest object seen", async () => (w.watch.value === 2 ? true : undefined));
    expect(w.watches()[1]?.status).toBe(200); // kube-apiserver says 410 inside the stream, as an ERROR event
    expect(w.lists()).toHaveLength(2); // listed again, which a broken stream alone does not cause
    expect(w.errors.filter((e) => !e.includes("socket hang up"))).toEqual([]); // only the cut was an error
    await eventually("watching again", async () =>
      w.watches().some((r) => r.status === 200 && resourceVersionOf(r) > resumeFrom) ? true : undefined,
    );
  });

  // The first requests to a rebuilt storage get 429 "storage is (re)initializing" (Retry-After: 1) until its watch
  // cache is ready. Whether the agent's request is among them is a race with kube-controller-manager's own
  // informers, which watch every resource: mostly it is (3 runs in 4 here); the stub test in
  // src/agent/kube-watch.test.ts covers the 429 path every time.
  it("rides out a CRD change that rebuilds the storage; a 429 meanwhile keeps the resume point", async () => {
    const w = await watchThing("v", 1);
    w.proxy.hold();
    await changeCrd("Data2"); // the old storage goes: its watch ends, and the agent's next watch waits at the proxy
    await eventually("next watch held", async () => (w.watches().some((r) => r.fate === "held") ? true : undefined));
    w.proxy.heal();
    await custom().patchNamespacedCustomObject({
      ...things,
      namespace: t.namespace,
      name: "v",
      body: [{ op: "replace", path: "/data", value: 2 }],
    });
    await eventually("latest object seen", async () => (w.watch.value === 2 ? true : undefined));
    const mine = w.proxy.log.filter((r) => r.url.startsWith(`/apis/${GROUP}/`));
    const refused = mine.filter((r) => r.status === 429);
    console.log(`storage rebuilt: the agent's requests were answered 429 ${refused.length} times`);
    // The same watch again, from the same resourceVersion (after Retry-After): no re-list. Only the randomised server
    // timeout may differ.
    const resumePoint = (url = "") => url.replace(/&timeoutSeconds=\d+/, "");
    for (const request of refused) {
      expect(resumePoint(mine[mine.indexOf(request) + 1]?.url)).toBe(resumePoint(request.url));
    }
    expect(w.errors).toEqual([]); // a 429 is the server's flow control, not an error
  });
});

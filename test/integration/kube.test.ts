// The src/kube building blocks against the real API server: a supervised informer (narrow selectors, recovery
// after errors) and Lease-based leader election (hand-over on release and after a holder dies; a leader cut off or
// slowed down gives up before anyone else can take over). Timings are measured in bench/leader-election.ts.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { CoordinationV1Api, RbacAuthorizationV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { useCluster, eventually, type TestCluster } from "../support/cluster.ts";
import { SupervisedInformer, type ChangeKind } from "../../src/kube/informer.ts";
import { acquireLeadership, microTime } from "../../src/kube/leader-election.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { connectionFromKubeconfig } from "../../src/kube/kubeconfig.ts";
import { apiMessage, isNotFound } from "../../src/kube/errors.ts";
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import type { FaultProxy } from "../../sim/cluster/fault-proxy.ts";
import { proxyToApiServer } from "../support/fault-proxy.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
});
afterAll(() => t.cleanup());

describe("KubeClient", () => {
  it("sends a component's API calls over a few kept-alive connections, not one each", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    try {
      const client = new KubeClient(connectionFromKubeconfig(kc.exportConfig()));
      const read = () => client.get(`/api/v1/namespaces/${t.namespace}`);
      const before = proxy.connections;
      for (let i = 0; i < 20; i++) await read();
      await Promise.all(Array.from({ length: 5 }, read));
      // The 20 sequential calls share one connection; the 5 concurrent ones open at most one each.
      expect(proxy.connections - before).toBeLessThanOrEqual(6);
      client.close();
    } finally {
      await proxy.stop();
    }
  });

  it("bounds its connections in a burst, and a watch never waits for one", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    const client = new KubeClient(connectionFromKubeconfig(kc.exportConfig()));
    const path = `/api/v1/namespaces/${t.namespace}/configmaps`;
    const stop = new AbortController();
    try {
      // 40 watches hold a connection each (more than the request pool has), and 100 requests go out at once.
      const events: string[] = [];
      const watches = Array.from({ length: 40 }, () =>
        client
          .watch<V1ConfigMap>(path, (e) => events.push(e.object.metadata?.name ?? ""), {
            signal: stop.signal,
            query: { fieldSelector: "metadata.name=burst-0" },
          })
          .catch(() => undefined),
      );
      const before = proxy.connections;
      const created = await Promise.all(
        Array.from({ length: 100 }, (_, i) => client.create<V1ConfigMap>(path, { metadata: { name: `burst-${i}` } })),
      );
      expect(created).toHaveLength(100);
      // 40 watches + at most 32 request connections.
      expect(proxy.connections - before).toBeLessThanOrEqual(40 + 32);
      await eventually("every watch to see burst-0", () =>
        Promise.resolve(events.filter((n) => n === "burst-0").length === 40 ? true : undefined),
      );
      stop.abort();
      await Promise.all(watches);
    } finally {
      stop.abort();
      client.close();
      await proxy.stop();
    }
  });

  it("holds to the connection bound it is given", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    const client = new KubeClient(connectionFromKubeconfig(kc.exportConfig()), { maxConnections: 3 });
    const path = `/api/v1/namespaces/${t.namespace}/configmaps`;
    try {
      const before = proxy.connections;
      const created = await Promise.all(
        Array.from({ length: 30 }, (_, i) => client.create<V1ConfigMap>(path, { metadata: { name: `bound-${i}` } })),
      );
      expect(created).toHaveLength(30);
      expect(proxy.connections - before).toBeGreaterThan(0);
      expect(proxy.connections - before).toBeLessThanOrEqual(3);
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("decodes a watched object whose characters are split across chunks", async () => {
    const path = `/api/v1/namespaces/${t.namespace}/configmaps`;
    const text = "é€😀".repeat(40_000); // 360 KB of 2-, 3- and 4-byte characters: many chunk boundaries fall inside one
    const stop = new AbortController();
    let seen: string | undefined;
    const watching = t.client
      .watch<V1ConfigMap>(path, (e) => (seen = e.object.data?.text), {
        signal: stop.signal,
        query: { fieldSelector: "metadata.name=multibyte" },
      })
      .catch(() => undefined);
    await t.client.create(path, { metadata: { name: "multibyte" }, data: { text } });
    await eventually("the watch to deliver the object", () =>
      Promise.resolve(seen !== undefined && seen.length >= text.length ? true : undefined),
    );
    expect(seen).toBe(text);
    stop.abort();
    await watching;
  });

  it("names its component to kube-apiserver: its writes' field manager", async () => {
    const client = new KubeClient(connectionFromKubeconfig(t.kc.exportConfig()), { userAgent: "brupop-test/1" });
    const path = `/api/v1/namespaces/${t.namespace}/configmaps`;
    const created = await client.create<V1ConfigMap>(path, { metadata: { name: "user-agent" }, data: { a: "1" } });
    expect(created.metadata?.managedFields?.map((f) => f.manager)).toEqual(["brupop-test"]);
    client.close();
  });

  it("fails with the HTTP code and the Status body, and refuses a request once its fence has ended", async () => {
    const missing = await t.client.get(`/api/v1/namespaces/${t.namespace}/configmaps/absent`).catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);
    expect(apiMessage(missing)).toBe('configmaps "absent" not found');
    const fence = new AbortController();
    const fenced = t.client.fenced(() => {
      if (fence.signal.aborted) throw new Error("not leading: request refused");
      return fence.signal;
    });
    const path = `/api/v1/namespaces/${t.namespace}/configmaps`;
    await fenced.create(path, { metadata: { name: "fenced-before" } });
    fence.abort(new Error("leadership lost"));
    await expect(fenced.create(path, { metadata: { name: "fenced-after" } })).rejects.toThrow(/not leading/);
    const names = (await t.client.get<{ items: V1ConfigMap[] }>(path)).items.map((c) => c.metadata?.name);
    expect(names).toContain("fenced-before");
    expect(names).not.toContain("fenced-after");
  });
});

describe("SupervisedInformer", () => {
  it("sees adds, updates and deletes of the selected objects only", async () => {
    const seen: [ChangeKind, string][] = [];
    const informer = new SupervisedInformer<V1ConfigMap>({
      name: "configmaps",
      client: t.client,
      path: `/api/v1/namespaces/${t.namespace}/configmaps`,
      labelSelector: "watched=yes",
      onChange: (kind, obj) => seen.push([kind, obj.metadata?.name ?? ""]),
    });
    await informer.start();
    expect(informer.synced).toBe(true);
    const ns = t.namespace;
    await t.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "a", labels: { watched: "yes" } } },
    });
    await t.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "b" } } });
    await t.core.patchNamespacedConfigMap({
      name: "a",
      namespace: ns,
      body: [{ op: "add", path: "/data", value: { k: "v" } }],
    });
    await t.core.deleteNamespacedConfigMap({ name: "a", namespace: ns });
    await eventually("delete seen", async () => (seen.some(([k]) => k === "delete") ? true : undefined));
    expect(seen).toEqual([
      ["add", "a"],
      ["update", "a"],
      ["delete", "a"],
    ]);
    expect(informer.get("a", ns)).toBeUndefined();
    await informer.stop();
  });

  it("keeps retrying a forbidden list and syncs once access is granted", async () => {
    const user = `informer-${t.namespace}`;
    const kc = await t.identity(user);
    const errors: unknown[] = [];
    const informer = new SupervisedInformer<V1ConfigMap>({
      name: "configmaps",
      client: kubeClientOf(kc),
      path: `/api/v1/namespaces/${t.namespace}/configmaps`,
      onError: (err) => errors.push(err),
      minBackoffMs: 50,
      maxBackoffMs: 300,
    });
    const started = informer.start();
    await eventually("two failed attempts", async () => (errors.length >= 2 ? true : undefined));
    expect(informer.synced).toBe(false);
    const rbac = t.kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: t.namespace,
      body: {
        metadata: { name: "read-configmaps" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: t.namespace,
      body: {
        metadata: { name: "read-configmaps" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-configmaps" },
        subjects: [{ kind: "User", name: user, apiGroup: "rbac.authorization.k8s.io" }],
      },
    });
    await started;
    expect(informer.synced).toBe(true);
    await t.core.createNamespacedConfigMap({ namespace: t.namespace, body: { metadata: { name: "late" } } });
    await eventually("watch works after recovery", async () => informer.get("late", t.namespace));
    await informer.stop();
  });
});

describe("acquireLeadership", () => {
  const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 };
  const direct = () => t.kc.makeApiClient(CoordinationV1Api);
  const options = (identity: string, name: string, client: KubeClient = t.client) => ({
    client,
    namespace: t.namespace,
    name,
    identity,
    ...timing,
  });
  const holder = async (name: string) =>
    (await direct().readNamespacedLease({ name, namespace: t.namespace })).spec?.holderIdentity;
  /** The requests for one lease that went through a proxy. */
  const leaseRequests = (proxy: FaultProxy, name: string, method: string) =>
    proxy.log.filter(
      (r) =>
        r.method === method &&
        r.url.startsWith(`/apis/coordination.k8s.io/v1/namespaces/${t.namespace}/leases/${name}`),
    );

  /** One replica's term as leader, on this process's clock: from acquisition until its signal says it ended. */
  interface Term {
    readonly identity: string;
    readonly from: number;
    to?: number;
  }
  const lead = async (identity: string, name: string, client?: KubeClient) => {
    const leadership = await acquireLeadership(options(identity, name, client));
    const term: Term = { identity, from: Date.now() };
    leadership.signal.addEventListener("abort", () => (term.to = Date.now()), { once: true });
    return { leadership, term };
  };

  it("lets one replica lead, and hands over on release", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    try {
      const a = await acquireLeadership(options("a", "release"));
      expect(await holder("release")).toBe("a");
      const b = acquireLeadership(options("b", "release", kubeClientOf(kc)));
      await eventually("b found the lease held, twice", async () =>
        leaseRequests(proxy, "release", "GET").length >= 2 ? true : undefined,
      );
      expect(await holder("release")).toBe("a"); // b is still waiting, a keeps renewing
      expect(a.signal.aborted).toBe(false);
      await a.release();
      const leadershipB = await b;
      expect(await holder("release")).toBe("b");
      const lease = await direct().readNamespacedLease({ name: "release", namespace: t.namespace });
      expect(lease.spec?.leaseTransitions).toBe(0); // released leases are taken without a transition
      expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/); // MicroTime, as kube-apiserver requires
      await leadershipB.release();
    } finally {
      await proxy.stop();
    }
  });

  it("takes over from a holder that stopped renewing only after the lease duration", async () => {
    const crash = new AbortController();
    await acquireLeadership(options("a", "crash"), crash.signal);
    crash.abort(); // a dies without releasing
    const diedAt = Date.now();
    const b = await acquireLeadership(options("b", "crash"));
    expect(Date.now() - diedAt).toBeGreaterThanOrEqual(timing.leaseDurationMs - timing.retryPeriodMs);
    expect(await holder("crash")).toBe("b");
    await b.release();
  });

  it("renews with one write per renew period; a watching standby reads the lease only when it would expire", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    const crash = new AbortController();
    try {
      const quiet = { renewPeriodMs: 1_000 };
      const client = kubeClientOf(kc);
      await acquireLeadership({ ...options("a", "quiet", client), ...quiet }, crash.signal);
      const b = acquireLeadership({ ...options("b", "quiet", client), ...quiet, watch: true });
      await eventually("a renewed 3 times", async () =>
        leaseRequests(proxy, "quiet", "PUT").length >= 4 ? true : undefined,
      );
      // a: a read and a create, then PUTs of the lease it wrote, no reads; b: reads until its watch has listed
      // (a retry period apart), then none while a renews. Polling, b alone would have read 15 times by now.
      expect(leaseRequests(proxy, "quiet", "GET").length).toBeLessThanOrEqual(4);
      // a dies without releasing, in the middle of a renewal that never reaches kube-apiserver.
      proxy.hold();
      await eventually("a sent its next renewal", async () =>
        leaseRequests(proxy, "quiet", "PUT").length >= 5 ? true : undefined,
      );
      crash.abort();
      proxy.heal();
      await eventually("a's last PUT ended", async () =>
        leaseRequests(proxy, "quiet", "PUT").every((r) => r.closedAt !== undefined) ? true : undefined,
      );
      // Its last renewal is the one kube-apiserver kept.
      const lastWritten = await direct().readNamespacedLease({ name: "quiet", namespace: t.namespace });
      expect(lastWritten.spec?.holderIdentity).toBe("a");
      const lastRenewal = Date.parse(String(lastWritten.spec?.renewTime));
      const leadershipB = await b;
      const tookOverAfter = Date.now() - lastRenewal;
      expect(await holder("quiet")).toBe("b");
      expect(tookOverAfter).toBeGreaterThanOrEqual(timing.leaseDurationMs - 100);
      expect(leaseRequests(proxy, "quiet", "GET").length).toBeLessThanOrEqual(6);
      await leadershipB.release();
    } finally {
      crash.abort();
      await proxy.stop();
    }
  });

  it("reports loss when another writer takes the lease", async () => {
    const a = await acquireLeadership(options("a", "stolen"));
    const api = direct();
    const lease = await api.readNamespacedLease({ name: "stolen", namespace: t.namespace });
    await api.replaceNamespacedLease({
      name: "stolen",
      namespace: t.namespace,
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "intruder", renewTime: microTime(new Date()) as unknown as Date },
      },
    });
    await eventually("a notices the loss", async () => (a.signal.aborted ? true : undefined), 10_000);
  });

  it("a leader cut off from the API server stops leading before another replica can take over", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    try {
      const a = await lead("a", "partition", kubeClientOf(kc));
      const b = lead("b", "partition");
      await eventually("a renews through the proxy", async () =>
        leaseRequests(proxy, "partition", "PUT").length >= 2 ? true : undefined,
      );
      proxy.partition(); // requests are accepted and never answered
      const renewals = leaseRequests(proxy, "partition", "PUT").filter((r) => r.fate === "forwarded");
      const lastRenewal = Math.max(...renewals.map((r) => r.at));
      const { leadership: leadershipB, term: termB } = await b;

      // a knew it had lost before b led; b waited out a whole lease duration after a's last renewal.
      expect(a.term.to).toBeDefined();
      expect(a.term.to ?? Infinity).toBeLessThan(termB.from);
      expect(termB.from - lastRenewal).toBeGreaterThanOrEqual(timing.leaseDurationMs);
      expect(a.leadership.isLeading()).toBe(false);

      proxy.heal();
      // a gave up the renewals it had sent into the partition: none reaches the server after the heal.
      expect(leaseRequests(proxy, "partition", "PUT").filter((r) => r.fate === "forwarded-late")).toEqual([]);
      expect(await holder("partition")).toBe("b");
      await leadershipB.release();
    } finally {
      await proxy.stop();
    }
  });

  it("does not count a renewal answered after the renew deadline", async () => {
    const { proxy, kc } = await proxyToApiServer(t, { asAdmin: true });
    try {
      const a = await lead("a", "slow", kubeClientOf(kc));
      const b = lead("b", "slow");
      // Every answer now comes late: a renewal (a read and a write) takes longer than the renew deadline, though
      // each write still reaches the server at once.
      proxy.delayAnswers(timing.renewDeadlineMs * 0.75);
      const { leadership: leadershipB, term: termB } = await b;
      expect(a.term.to).toBeDefined();
      expect(a.term.to ?? Infinity).toBeLessThan(termB.from);
      await leadershipB.release();
    } finally {
      await proxy.stop();
    }
  });
});

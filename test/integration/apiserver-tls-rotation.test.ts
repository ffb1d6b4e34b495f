// The built-in CA's two-phase rotation against the real kube-apiserver. The first CA is made short-lived (30 days)
// and `now` is moved forward through its life; two replicas call ensureBuiltinTls at every step, and the API server
// (a real HTTPS listener running the conversion webhook of a copy of the BottlerocketShadow CRD) takes the material
// they return. At every step: a client holding the bundle published at the previous step completes a TLS handshake,
// the CRD's caBundle holds the CA that issued the served certificate, and kube-apiserver converts objects through
// the webhook (over a fresh connection after each certificate change). Then: the old CA stays in the bundle until
// it expires; racing replicas agree; broken Secrets are repaired.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import type { Server as HttpsServer } from "node:https";
import { connect, type TLSSocket } from "node:tls";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { pino } from "pino";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { CRDS, createWebhookCrd, startConversionServer, testTlsOptions } from "../support/webhook-crd.ts";
import { PLURAL } from "../../src/api/index.ts";
import type { ApiServer } from "../../src/apiserver/server.ts";
import {
  bundleCertificates,
  ensureBuiltinTls,
  type BuiltinTls,
  type BuiltinTlsOptions,
} from "../../src/apiserver/tls/builtin.ts";
import { NEXT_CA_PUBLISHED_ANNOTATION, renewalStart } from "../../src/apiserver/tls/rotation.ts";

const minute = 60_000;
const DELAY = 10 * minute;

let t: TestCluster;
let custom: CustomObjectsApi;
let server: ApiServer | undefined;
let https: HttpsServer | undefined;
let port: number;
let group: string;
let crdName: string;
let options: BuiltinTlsOptions;
/** Serial numbers of the certificate presented on each connection kube-apiserver made (no SNI: it dials an IP;
 *  this file's own handshakes send "localhost"), in order. */
const presented: string[] = [];
/** Log lines of ensureBuiltinTls. */
const logLines: { level: number; msg: string; reason?: string; step?: string }[] = [];

const ref = (version: string) => ({ group, version, plural: PLURAL, namespace: t.namespace });
const at = (base: Date, plusMs: number) => new Date(base.getTime() + plusMs);
const certs = (bundle: string) => bundleCertificates(bundle).map((pem) => new X509Certificate(pem));
const fingerprints = (bundle: string) => certs(bundle).map((c) => c.fingerprint256);
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const issuedBy = (leaf: X509Certificate, ca: X509Certificate) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey);

/** Completes a TLS handshake trusting only `bundle`; the certificate the server presented. */
function handshake(bundle: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: bundle, servername: "localhost" }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer);
      else reject(new Error("no peer certificate"));
    });
    socket.on("error", reject);
  });
}

async function secretData(
  name: string,
): Promise<{ data: Record<string, string>; annotations: Record<string, string> }> {
  const secret = await t.core.readNamespacedSecret({ name, namespace: t.namespace });
  const data = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
  );
  return { data, annotations: secret.metadata?.annotations ?? {} };
}

async function crdCaBundle(): Promise<string> {
  const crd = (await custom.getClusterCustomObject({ ...CRDS, name: crdName })) as {
    spec: { conversion: { webhook: { clientConfig: { caBundle?: string } } } };
  };
  return Buffer.from(crd.spec.conversion.webhook.clientConfig.caBundle ?? "", "base64").toString();
}

/** Two replicas at once, at `now`: they must return the same thing; the API server serves what they returned. */
async function replicas(now: Date, opts: BuiltinTlsOptions = options): Promise<BuiltinTls> {
  const [a, b] = await Promise.all([ensureBuiltinTls(opts, now), ensureBuiltinTls(opts, now)]);
  expect(b.material).toEqual(a.material);
  expect(b.caBundle).toBe(a.caBundle);
  expect(b.rotation).toEqual(a.rotation);
  // One state, everywhere: the CA Secret, the agents' Secret, the serving Secret and the CRD hold this bundle.
  expect((await secretData("apiserver-ca")).data["ca.crt"]).toBe(a.caBundle);
  expect((await secretData("apiserver-client-ca")).data["ca.crt"]).toBe(a.caBundle);
  const serving = await secretData("apiserver-tls");
  expect(serving.data["tls.crt"]).toBe(a.material.cert);
  expect(serving.data["ca.crt"]).toBe(a.caBundle);
  expect(await crdCaBundle()).toBe(a.caBundle);
  return a;
}

/** What main.ts does with new material: into the running server, no restart. Existing connections are cut, so the
 *  next conversion call of kube-apiserver makes a new handshake against the new certificate. */
function serve(tls: BuiltinTls): void {
  https?.setSecureContext({ cert: tls.material.cert, key: tls.material.key });
  https?.closeAllConnections();
}

/**
 * `call`, retried while kube-apiserver answers 429 "storage is (re)initializing": after a CRD change (its caBundle)
 * it rebuilds the resource's storage for a moment, and clients retry (client-go does). Any other error, a failed
 * conversion included, is thrown.
 */
async function retryingReinit<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await call();
    } catch (err) {
      const reinit = (err as { code?: number }).code === 429 && /initializing/.test((err as Error).message);
      if (!reinit || i >= 50) throw err;
      await sleep(200);
    }
  }
}

/** The checks of every step. `previousBundle`: what clients were given at the step before. */
async function checkStep(step: string, tls: BuiltinTls, previousBundle: string): Promise<void> {
  const servedLeaf = new X509Certificate(tls.material.cert);
  // (a) a client still holding the previous step's bundle reaches the server; so does one with the new bundle.
  const seenByOld = await handshake(previousBundle);
  expect(seenByOld.serialNumber, step).toBe(servedLeaf.serialNumber);
  await handshake(tls.caBundle);
  // (b) the CRD's caBundle holds the CA that issued the served certificate...
  const crdCas = certs(await crdCaBundle());
  expect(
    crdCas.some((ca) => issuedBy(seenByOld, ca)),
    `${step}: CRD caBundle trusts the served certificate`,
  ).toBe(true);
  // ... and kube-apiserver converts through the webhook, over a connection made after the last change.
  const before = presented.length;
  const name = `brs-${step}`;
  await retryingReinit(() =>
    custom.createNamespacedCustomObject({
      ...ref("v1"),
      body: {
        apiVersion: `${group}/v1`,
        kind: "BottlerocketShadow",
        metadata: { name },
        spec: { state: "StagedUpdate", version: "1.21.0" },
      },
    }),
  );
  const v2 = (await retryingReinit(() => custom.getNamespacedCustomObject({ ...ref("v2"), name }))) as {
    spec: { state: string };
  };
  expect(v2.spec.state).toBe("StagedAndPerformedUpdate");
  const v1 = (await retryingReinit(() => custom.listNamespacedCustomObject(ref("v1")))) as {
    items: { spec: { state: string } }[];
  };
  expect(v1.items.length).toBeGreaterThan(0);
  expect(presented.slice(before), `${step}: kube-apiserver connected anew`).toContain(servedLeaf.serialNumber);
}

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  group = `${t.namespace}.brupop.test`;
  crdName = `${PLURAL}.${group}`;
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logLines.push(JSON.parse(line) as never);
      done();
    },
  });
  options = { ...testTlsOptions(t, crdName, pino({ level: "info" }, logStream)), caPropagationDelayMs: DELAY };
});

afterAll(async () => {
  await server?.shutdown();
  await custom.deleteClusterCustomObject({ ...CRDS, name: crdName }).catch(() => undefined);
  await t.cleanup();
});

describe("CA rotation through both phases, against kube-apiserver", () => {
  let t0: Date;
  let first: BuiltinTls;
  let c1: X509Certificate;

  it("starts with one CA, served and published, and kube-apiserver converting through the webhook", async () => {
    t0 = new Date();
    // A 30-day first CA, so its rotation is reached by moving `now` 20 days; the next CAs get the default 10 years.
    first = await ensureBuiltinTls({ ...options, caValidityDays: 30 }, t0);
    c1 = new X509Certificate((await secretData("apiserver-ca")).data["tls.crt"] ?? "");
    expect(fingerprints(first.caBundle)).toEqual([c1.fingerprint256]);
    expect(first.recheckAt).toEqual(renewalStart(c1.toString())); // the timer wakes up for phase 1
    expect(first.rotation).toBeUndefined();

    // Record what kube-apiserver's connections are shown (see `presented`).
    ({ server, https, port } = await startConversionServer(t, group, first.material, (h) =>
      h.on("secureConnection", (socket: TLSSocket) => {
        const local = socket.getX509Certificate();
        if (local && !(socket as TLSSocket & { servername?: string | false }).servername) {
          presented.push(local.serialNumber);
        }
      }),
    ));
    await createWebhookCrd(custom, { name: crdName, group, port });
    const settled = await replicas(t0); // the CRD exists now: its caBundle is set
    expect(settled.material).toEqual(first.material);
    await eventually("test CRD served", () => custom.listNamespacedCustomObject(ref("v1")));
    await checkStep("start", settled, first.caBundle);
  });

  let phase1: BuiltinTls;
  let t1: Date;
  let next: X509Certificate;

  it("phase 1: publishes current + next everywhere, and keeps serving from the current CA", async () => {
    t1 = at(renewalStart(c1.toString()), minute);
    phase1 = await replicas(t1);
    const ca = await secretData("apiserver-ca");
    expect(ca.data["tls.crt"] && fp(ca.data["tls.crt"])).toBe(c1.fingerprint256); // still the current CA
    next = new X509Certificate(ca.data["next.crt"] ?? "");
    expect(fingerprints(phase1.caBundle)).toEqual([c1.fingerprint256, next.fingerprint256]);
    // The publication time, on the Secret, so every replica (and a restarted one) counts from it.
    expect(ca.annotations[NEXT_CA_PUBLISHED_ANNOTATION]).toBe(t1.toISOString());
    expect(phase1.rotation).toEqual({ nextCa: next.toString(), switchAt: at(t1, DELAY) });
    expect(phase1.recheckAt).toEqual(at(t1, DELAY));
    // Same serving certificate, from the current CA: clients that only know the old bundle still trust it.
    expect(phase1.material).toEqual(first.material);
    expect(issuedBy(new X509Certificate(phase1.material.cert), c1)).toBe(true);
    serve(phase1);
    await checkStep("phase1", phase1, first.caBundle);
    expect(logLines.some((l) => l.step === "begin" && /phase 1/.test(l.msg))).toBe(true);
  });

  it("waits for the propagation delay, measured from the publication", async () => {
    const waiting = await replicas(at(t1, DELAY - 1000));
    expect(waiting.material).toEqual(phase1.material);
    expect(waiting.caBundle).toBe(phase1.caBundle);
    serve(waiting);
    await checkStep("waiting", waiting, phase1.caBundle);
  });

  let phase2: BuiltinTls;

  it("phase 2: switches to the next CA; clients given the phase-1 bundle still connect, the old CA stays", async () => {
    const t2 = at(t1, DELAY);
    phase2 = await replicas(t2);
    const ca = await secretData("apiserver-ca");
    expect(ca.data["tls.crt"] && fp(ca.data["tls.crt"])).toBe(next.fingerprint256);
    expect(ca.data["next.crt"]).toBeUndefined();
    expect(ca.annotations[NEXT_CA_PUBLISHED_ANNOTATION]).toBeUndefined();
    expect(phase2.rotation).toBeUndefined();
    expect(fingerprints(phase2.caBundle)).toEqual([next.fingerprint256, c1.fingerprint256]);
    const leaf = new X509Certificate(phase2.material.cert);
    expect(phase2.material.cert).not.toBe(phase1.material.cert);
    expect(issuedBy(leaf, next)).toBe(true);
    // The old CA's expiry is the next thing due.
    expect(phase2.recheckAt).toEqual(new Date(c1.validTo));
    serve(phase2);
    await checkStep("phase2", phase2, phase1.caBundle);
    // What phase 1 is for: a client that had only the bundle from before the rotation would fail now.
    await expect(handshake(first.caBundle)).rejects.toThrow();
  });

  it("keeps the old CA in the bundle until it expires, then drops it", async () => {
    const expiry = new Date(c1.validTo);
    const beforeExpiry = await replicas(at(expiry, -1000));
    expect(fingerprints(beforeExpiry.caBundle)).toEqual([next.fingerprint256, c1.fingerprint256]);
    expect(beforeExpiry.material).toEqual(phase2.material);
    serve(beforeExpiry);
    await checkStep("before-expiry", beforeExpiry, phase2.caBundle);

    const afterExpiry = await replicas(at(expiry, 1000));
    expect(fingerprints(afterExpiry.caBundle)).toEqual([next.fingerprint256]);
    expect(afterExpiry.material).toEqual(phase2.material);
    serve(afterExpiry);
    await checkStep("after-expiry", afterExpiry, beforeExpiry.caBundle);
    // Next due: the serving certificate's renewal (the new CA's rotation comes years later).
    expect(afterExpiry.recheckAt).toEqual(renewalStart(phase2.material.cert));
  });
});

describe("repairs", () => {
  const now = () => new Date();

  it("replaces a next CA without its key and an unreadable publication time, with a warning, never a crash", async () => {
    const before = await ensureBuiltinTls(options, now());
    const secret = await t.core.readNamespacedSecret({ name: "apiserver-ca", namespace: t.namespace });
    const orphan = bundleCertificates((await secretData("apiserver-client-ca")).data["ca.crt"] ?? "")[0] ?? "";
    // A rotation left half-done: a next certificate without key, and a publication time nobody can read.
    await t.core.replaceNamespacedSecret({
      name: "apiserver-ca",
      namespace: t.namespace,
      body: {
        ...secret,
        metadata: { ...secret.metadata, annotations: { [NEXT_CA_PUBLISHED_ANNOTATION]: "soon" } },
        data: { ...secret.data, "next.crt": Buffer.from(orphan).toString("base64") },
      },
    });
    const warnings = logLines.length;
    const repaired = await replicas(now());
    const found = logLines.slice(warnings).filter((l) => l.level === 40);
    expect(found.map((l) => l.reason).join("\n")).toMatch(/next CA is unusable \(no private key\)/);
    // A fresh next CA, published next to the current one; the server keeps its certificate.
    const ca = await secretData("apiserver-ca");
    expect(ca.data["next.key"]).toBeDefined();
    expect(fingerprints(repaired.caBundle)).toEqual(
      [ca.data["tls.crt"], ca.data["next.crt"]].map((pem) => fp(pem ?? "")),
    );
    expect(new Date(ca.annotations[NEXT_CA_PUBLISHED_ANNOTATION] ?? "").getTime()).not.toBeNaN();
    expect(repaired.material).toEqual(before.material);
    serve(repaired);
    await checkStep("repaired-next", repaired, before.caBundle);
  });

  it("repairs unparsable Secrets and a wrong caBundle", async () => {
    const garbage = Buffer.from("not a certificate").toString("base64");
    const wrongCa = Buffer.from(t.info.caPem).toString("base64"); // a valid CA, but not ours
    const before = await ensureBuiltinTls(options, now());
    for (const name of ["apiserver-tls", "apiserver-client-ca"]) {
      const secret = await t.core.readNamespacedSecret({ name, namespace: t.namespace });
      await t.core.replaceNamespacedSecret({
        name,
        namespace: t.namespace,
        body: { ...secret, data: { ...secret.data, "tls.crt": garbage, "ca.crt": garbage } },
      });
    }
    await custom.patchClusterCustomObject({
      ...CRDS,
      name: crdName,
      body: [{ op: "add", path: "/spec/conversion/webhook/clientConfig/caBundle", value: wrongCa }],
    });
    const repaired = await replicas(now());
    expect(repaired.caBundle).toBe(before.caBundle);
    expect(repaired.material.cert).not.toBe(before.material.cert); // the serving certificate was re-issued
    serve(repaired);
    await checkStep("repaired-secrets", repaired, before.caBundle);
  });

  it("recreates the CA when its Secret holds garbage, keeping what is still valid trusted", async () => {
    const before = await ensureBuiltinTls(options, now());
    const secret = await t.core.readNamespacedSecret({ name: "apiserver-ca", namespace: t.namespace });
    const garbage = Buffer.from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").toString("base64");
    await t.core.replaceNamespacedSecret({
      name: "apiserver-ca",
      namespace: t.namespace,
      body: { ...secret, data: { ...secret.data, "tls.key": garbage, "next.key": garbage } },
    });
    const warnings = logLines.length;
    const repaired = await replicas(now());
    expect(logLines.slice(warnings).some((l) => l.level === 40 && /unusable/.test(l.reason ?? ""))).toBe(true);
    // The old CA certificate is still valid, so it stays trusted next to the new CA; the broken next one is dropped.
    const [oldCurrent, oldNext] = fingerprints(before.caBundle);
    expect(fingerprints(repaired.caBundle).slice(1)).toEqual([oldCurrent]);
    expect(fingerprints(repaired.caBundle)).not.toContain(oldNext);
    expect((await secretData("apiserver-ca")).data["next.crt"]).toBeUndefined();
    // A lost key cannot wait for a propagation delay: the serving certificate comes from the new CA at once.
    const [newCa] = certs(repaired.caBundle);
    expect(newCa && issuedBy(new X509Certificate(repaired.material.cert), newCa)).toBe(true);
    serve(repaired);
    await checkStep("repaired-ca", repaired, repaired.caBundle);
  });
});

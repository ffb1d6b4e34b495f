import { beforeAll, describe, expect, it } from "vitest";
import { X509Certificate } from "node:crypto";
import { createCertificateAuthority, type CertificateAuthority } from "../../pki/certificates.ts";
import { servingProblem } from "./builtin.ts";
import {
  applyCaDecision,
  bundleCertificates,
  caChangesAt,
  checkCa,
  composeBundle,
  decideCa,
  nextCheckDelayMs,
  renewalStart,
  type CaDecision,
  type StoredCa,
} from "./rotation.ts";

const minute = 60_000;
const day = 86_400_000;
const delay = 10 * minute;
const at = (base: Date, plusMs: number) => new Date(base.getTime() + plusMs);
const fingerprints = (bundle: string | undefined) =>
  bundleCertificates(bundle ?? "").map((pem) => new X509Certificate(pem).fingerprint256);
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const pair = (ca: CertificateAuthority) => ({ cert: ca.certPem, key: ca.keyPem });
const notAfter = (ca: CertificateAuthority) => new Date(new X509Certificate(ca.certPem).validTo);

let ca1: CertificateAuthority; // 30 days: its rotation starts after 20
let ca2: CertificateAuthority; // 10 years, the next one
let other: CertificateAuthority;
let start: Date;

/** The CA Secret with ca1 current and nothing else wrong. */
const steady1 = (): StoredCa => ({
  cert: ca1.certPem,
  key: ca1.keyPem,
  bundle: composeBundle([ca1.certPem], "", start),
});

/** Applies decisions until steady, as ensureBuiltinTls does (publishing counts as done at `now`). */
function settle(stored: StoredCa, now: Date, fresh?: CertificateAuthority): { state: StoredCa; steps: string[] } {
  const steps: string[] = [];
  let state = stored;
  for (let i = 0; i < 10; i++) {
    const d = decideCa(state, now, delay);
    if (d.kind === "steady") return { state, steps };
    steps.push(d.kind);
    state = applyCaDecision(state, d, now, fresh && pair(fresh));
  }
  throw new Error(`not settled: ${steps.join(", ")}`);
}

beforeAll(async () => {
  [ca1, ca2, other] = await Promise.all([
    createCertificateAuthority("ca1", 30),
    createCertificateAuthority("ca2", 3650),
    createCertificateAuthority("other", 3650),
  ]);
  start = new Date();
});

describe("CA decisions", () => {
  it("creates a CA when there is none, and is steady with it until its last third", () => {
    expect(decideCa({}, start, delay)).toMatchObject({ kind: "create", reason: "no CA yet", repair: false });
    const { state, steps } = settle({}, start, ca1);
    expect(steps).toEqual(["create"]);
    expect(fingerprints(state.bundle)).toEqual([fp(ca1.certPem)]);
    const d = decideCa(state, start, delay);
    expect(d.kind).toBe("steady");
    expect(caChangesAt(d as Extract<CaDecision, { kind: "steady" }>, start)).toEqual(renewalStart(ca1.certPem));
    expect(decideCa(state, at(renewalStart(ca1.certPem), -1), delay).kind).toBe("steady");
  });

  it("rotates in two phases: next CA published next to the current one, then the switch after the delay", () => {
    const t1 = renewalStart(ca1.certPem);
    // Phase 1: a next CA, in the bundle after the current one; no publication time yet.
    const begin = decideCa(steady1(), t1, delay);
    expect(begin).toMatchObject({ kind: "begin", repair: false });
    const phase1 = applyCaDecision(steady1(), begin, t1, pair(ca2));
    expect(phase1).toMatchObject({ cert: ca1.certPem, key: ca1.keyPem, nextCert: ca2.certPem, nextKey: ca2.keyPem });
    expect(phase1.nextPublishedAt).toBeUndefined();
    expect(fingerprints(phase1.bundle)).toEqual([fp(ca1.certPem), fp(ca2.certPem)]);

    // Until published, the switch never comes, however late it is.
    const publish = decideCa(phase1, at(t1, day), delay);
    expect(publish).toMatchObject({ kind: "publish-next", repair: false, bundle: phase1.bundle });
    const published = applyCaDecision(phase1, publish, t1);
    expect(published.nextPublishedAt).toBe(t1.toISOString());

    // Waiting: the current CA still issues; the switch is due at publication + delay.
    const waiting = decideCa(published, at(t1, delay - 1), delay);
    expect(waiting).toMatchObject({ kind: "steady", switchAt: at(t1, delay), bundle: phase1.bundle });
    expect(caChangesAt(waiting as Extract<CaDecision, { kind: "steady" }>, at(t1, 1))).toEqual(at(t1, delay));

    // Phase 2: the next CA becomes current; the old one stays in the bundle, after it.
    const switched = decideCa(published, at(t1, delay), delay);
    expect(switched).toMatchObject({ kind: "switch", repair: false });
    const phase2 = applyCaDecision(published, switched, at(t1, delay));
    expect(phase2).toEqual({ cert: ca2.certPem, key: ca2.keyPem, bundle: phase2.bundle });
    expect(fingerprints(phase2.bundle)).toEqual([fp(ca2.certPem), fp(ca1.certPem)]);
    const after = decideCa(phase2, at(t1, delay), delay);
    expect(after.kind).toBe("steady");
    // Next change: the old CA's expiry (before ca2's own renewal).
    expect(caChangesAt(after as Extract<CaDecision, { kind: "steady" }>, at(t1, delay))).toEqual(notAfter(ca1));

    // The old CA is dropped when it expires, not before.
    expect(decideCa(phase2, at(notAfter(ca1), -1000), delay).kind).toBe("steady");
    const expired = at(notAfter(ca1), 1000);
    const drop = decideCa(phase2, expired, delay);
    expect(drop).toMatchObject({ kind: "rewrite-bundle", repair: false });
    expect(fingerprints(applyCaDecision(phase2, drop, expired).bundle)).toEqual([fp(ca2.certPem)]);
  });

  it("keeps the serving certificate from the current CA until the switch, then wants it from the next", async () => {
    const leaf = await ca1.issue({ commonName: "x", dnsNames: ["x"], usages: ["server"] });
    const serving = { cert: leaf.certPem, key: leaf.keyPem };
    const want = { dnsNames: ["x"], ipAddresses: [] };
    expect(servingProblem(serving, ca1.certPem, want, start)).toBeUndefined();
    expect(servingProblem(serving, ca2.certPem, want, start)).toMatch(/not issued by the current CA/);
  });

  it.each<[string, () => StoredCa, CaDecision["kind"], RegExp]>([
    ["an unparsable CA certificate", () => ({ ...steady1(), cert: "garbage" }), "create", /expected one PEM/],
    [
      "a corrupt certificate block",
      () => ({ ...steady1(), cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }),
      "create",
      /unparsable certificate/,
    ],
    ["a CA certificate without its key", () => ({ ...steady1(), key: undefined }), "create", /no private key/],
    ["a key of another CA", () => ({ ...steady1(), key: other.keyPem }), "create", /does not belong/],
    ["a key that is not PEM", () => ({ ...steady1(), key: "nonsense" }), "create", /unparsable private key/],
    [
      "the current CA expired, no next one",
      () => steady1(),
      "create",
      /expired on/, // evaluated after ca1's end, below
    ],
    [
      "a broken current CA with a good next one",
      () => ({ ...steady1(), key: undefined, nextCert: ca2.certPem, nextKey: ca2.keyPem }),
      "promote",
      /current CA is unusable \(no private key\).*next CA takes over/,
    ],
    [
      "a next CA without its key",
      () => ({ ...steady1(), nextCert: ca2.certPem }),
      "begin",
      /next CA is unusable \(no private key\)/,
    ],
    ["a next key without a certificate", () => ({ ...steady1(), nextKey: ca2.keyPem }), "begin", /no certificate/],
    [
      "an unreadable publication time",
      () => ({
        ...steady1(),
        nextCert: ca2.certPem,
        nextKey: ca2.keyPem,
        bundle: composeBundle([ca1.certPem, ca2.certPem], "", start),
        nextPublishedAt: "yesterday",
      }),
      "publish-next",
      /unreadable publication time/,
    ],
    [
      "a publication time far in the future",
      () => ({
        ...steady1(),
        nextCert: ca2.certPem,
        nextKey: ca2.keyPem,
        bundle: composeBundle([ca1.certPem, ca2.certPem], "", start),
        nextPublishedAt: "2999-01-01T00:00:00.000Z",
      }),
      "publish-next",
      /in the future/,
    ],
    ["an unparsable bundle", () => ({ ...steady1(), bundle: "garbage" }), "rewrite-bundle", /lacks the current/],
    ["no bundle", () => ({ ...steady1(), bundle: undefined }), "rewrite-bundle", /lacks the current/],
  ])("repairs %s, saying why", (what, stored, kind, reason) => {
    const now = what.includes("expired") ? at(notAfter(ca1), 1000) : start;
    const d = decideCa(stored(), now, delay);
    expect(d).toMatchObject({ kind, repair: true });
    expect("reason" in d ? d.reason : "").toMatch(reason);
    // Every repair settles, never throws.
    const { state } = settle(stored(), now, kind === "create" ? other : ca2);
    expect(checkCa(state.cert, state.key, now).ok).toBe(true);
  });

  it("promotes a good next CA when the current one expired during a rotation", () => {
    const stored = { ...steady1(), nextCert: ca2.certPem, nextKey: ca2.keyPem };
    const now = at(notAfter(ca1), 1000);
    expect(decideCa(stored, now, delay)).toMatchObject({ kind: "promote", reason: /expired on/ });
    const { state } = settle(stored, now);
    expect(state.cert).toBe(ca2.certPem);
    expect(state.nextCert).toBeUndefined();
    expect(fingerprints(state.bundle)).toEqual([fp(ca2.certPem)]); // ca1 expired: not kept
  });

  it("replaces a broken next CA and leaves its certificate out of the bundle", () => {
    const broken = { ...steady1(), nextCert: other.certPem, nextKey: ca2.keyPem }; // key mismatch
    const d = decideCa(broken, start, delay);
    expect(d).toMatchObject({ kind: "begin", reason: /does not belong/ });
    const replaced = applyCaDecision(broken, d, start, pair(ca2));
    expect(fingerprints(replaced.bundle)).toEqual([fp(ca1.certPem), fp(ca2.certPem)]);
  });

  it("keeps the old CA certificate trusted after a repair with a new CA, while it is valid", () => {
    const stored = { ...steady1(), key: other.keyPem };
    const { state } = settle(stored, start, ca2);
    expect(state.cert).toBe(ca2.certPem);
    expect(fingerprints(state.bundle)).toEqual([fp(ca2.certPem), fp(ca1.certPem)]);
  });

  it("restarts the delay when the stored bundle lacked the next CA, not when an old CA is dropped", () => {
    const t = start.toISOString();
    const lacking = { ...steady1(), nextCert: ca2.certPem, nextKey: ca2.keyPem, nextPublishedAt: t };
    const d = decideCa(lacking, start, delay);
    expect(d).toMatchObject({ kind: "rewrite-bundle", repair: true });
    expect(applyCaDecision(lacking, d, start).nextPublishedAt).toBeUndefined();

    const withOld = {
      ...lacking,
      bundle: composeBundle([ca1.certPem, ca2.certPem, other.certPem], "", start),
    };
    // `other` is not expired, so nothing to drop: steady with the recorded time.
    expect(decideCa(withOld, start, delay)).toMatchObject({ kind: "steady", switchAt: at(start, delay) });
  });

  it("rejects a leaf certificate as a CA", async () => {
    const leaf = await ca1.issue({ commonName: "leaf", usages: ["server"] });
    expect(checkCa(leaf.certPem, leaf.keyPem, start)).toEqual({ ok: false, problem: "not a CA certificate" });
  });

  it("writes bundles canonically: each certificate once, valid ones only, in order", () => {
    const twice = composeBundle([ca1.certPem, ca1.certPem], `${ca2.certPem}\ngarbage\n${ca1.certPem}`, start);
    expect(fingerprints(twice)).toEqual([fp(ca1.certPem), fp(ca2.certPem)]);
    expect(composeBundle([ca1.certPem], twice, start, [ca2.certPem])).toBe(composeBundle([ca1.certPem], "", start));
    expect(twice.endsWith("-----END CERTIFICATE-----\n")).toBe(true);
    expect(twice).toContain("-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----");
  });
});

describe("nextCheckDelayMs", () => {
  const now = new Date("2025-01-01T00:00:00Z");
  it.each<[string, Date | undefined, boolean, number]>([
    ["nothing due: the interval", undefined, false, 300_000],
    ["a switch due in 2 minutes: a moment after it", at(now, 2 * minute), false, 121_000],
    ["something due after the interval: the interval", at(now, day), false, 300_000],
    ["due already: soon, not in a tight loop", at(now, -minute), false, 1_000],
    ["after a failure: 30 s", undefined, true, 30_000],
  ])("%s", (_what, recheckAt, failed, expected) => {
    expect(nextCheckDelayMs(recheckAt, now, 300_000, failed)).toBe(expected);
  });

  it("stays within setTimeout's range", () => {
    expect(nextCheckDelayMs(undefined, now, 100 * day)).toBe(2 ** 31 - 1);
  });
});

// The built-in CA's rotation, as pure decisions of (what the CA Secret holds, now, propagation delay). Two phases, so
// that no client ever meets a certificate from a CA it does not trust yet:
//   1. "begin": in the last third of the current CA's life a next CA is created, and the bundle (current + next) is
//      published where clients read it: the agents' mounted Secret (the kubelet refreshes it after a minute or two)
//      and the CRD conversion webhook's caBundle (kube-apiserver). The serving certificate stays issued by the
//      current CA. Once the bundle is published, the time is recorded on the CA Secret (an annotation), so every
//      replica, and a restarted one, measures the delay from the same moment.
//   2. "switch": once the propagation delay has passed since then, the next CA becomes the current one and the
//      serving certificate is re-issued from it. The old CA stays in the bundle while it is valid, for clients and
//      replicas that still meet certificates it issued, and is dropped when it expires.
// Anything unusable in the Secret (unparsable, a certificate without its key, a key that does not match, an expired
// CA, an unreadable annotation) leads to a repair decision with a reason, never to an exception.
import { X509Certificate, createPrivateKey } from "node:crypto";

/** On the CA Secret: when the bundle holding the next CA was published (ISO 8601). */
export const NEXT_CA_PUBLISHED_ANNOTATION = "brupop.bottlerocket.aws/next-ca-published-at";
/** Time for a new CA bundle to reach every client before the serving certificate is issued from the new CA. */
export const DEFAULT_CA_PROPAGATION_DELAY_MS = 10 * 60_000;

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The CA Secret's content as stored; undefined where a key is missing. */
export interface StoredCa {
  /** tls.crt, tls.key: the current CA, which issues the serving certificate. */
  cert?: string | undefined;
  key?: string | undefined;
  /** next.crt, next.key: the next CA while a rotation is under way. */
  nextCert?: string | undefined;
  nextKey?: string | undefined;
  /** ca.crt: the bundle clients trust. */
  bundle?: string | undefined;
  /** The NEXT_CA_PUBLISHED_ANNOTATION value. */
  nextPublishedAt?: string | undefined;
}

export interface UsableCa {
  cert: string;
  key: string;
  x509: X509Certificate;
  notAfter: Date;
}

export type CaCheck = { ok: true; ca: UsableCa } | { ok: false; problem: string };

export type CaDecision =
  /** No usable CA: create one and use it at once (first start, or a repair). */
  | { kind: "create"; reason: string; repair: boolean }
  /** The current CA is unusable but the next one is fine: use the next one at once (a repair). */
  | { kind: "promote"; reason: string; repair: true }
  /** Phase 1: create the next CA (or replace an unusable one) and put it in the bundle. */
  | { kind: "begin"; reason: string; repair: boolean }
  /** Phase 2: the next CA becomes the current one. */
  | { kind: "switch"; reason: string; repair: false }
  /** The stored bundle is not what it should be (an expired CA to drop, or a repair). */
  | { kind: "rewrite-bundle"; reason: string; repair: boolean }
  /** The bundle with the next CA is stored but not known to be published: publish it, then record the time. */
  | { kind: "publish-next"; reason: string; repair: boolean; current: UsableCa; next: UsableCa; bundle: string }
  /** Nothing to change; `switchAt` is when phase 2 is due while a rotation is under way. */
  | { kind: "steady"; current: UsableCa; next?: UsableCa; bundle: string; switchAt?: Date };

const ms = (date: Date) => date.getTime();

/** Whether a certificate is in the last third of its life (or past it), when it should be replaced. */
export function needsRenewal(certPem: string, now: Date): boolean {
  return ms(now) >= renewalStart(certPem).getTime();
}

/** The start of the last third of a certificate's life. */
export function renewalStart(certPem: string): Date {
  const cert = new X509Certificate(certPem);
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  return new Date(to - (to - from) / 3);
}

/** The certificates in a PEM bundle, as they are written there. */
export function bundleCertificates(bundle: string): string[] {
  return (bundle.match(CERT_BLOCK) ?? []).map((pem) => `${pem}\n`);
}

/** Whether `pem` is a CA certificate with its key, usable to issue certificates at `now`; else what is wrong. */
export function checkCa(cert: string | undefined, key: string | undefined, now: Date): CaCheck {
  if (cert === undefined || cert.trim() === "") return { ok: false, problem: "no certificate" };
  const blocks = bundleCertificates(cert);
  if (blocks.length !== 1) return { ok: false, problem: `expected one PEM certificate, found ${blocks.length}` };
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return { ok: false, problem: `unparsable certificate: ${(err as Error).message}` };
  }
  if (!x509.ca) return { ok: false, problem: "not a CA certificate" };
  const notAfter = new Date(x509.validTo);
  if (ms(notAfter) <= ms(now)) return { ok: false, problem: `expired on ${x509.validTo}` };
  if (key === undefined || key.trim() === "") return { ok: false, problem: "no private key" };
  try {
    const privateKey = createPrivateKey(key);
    // The issuer (src/pki) signs with PKCS#8 keys: ECDSA P-256, the kind it creates, or RSA of 2048 bits or more,
    // the kind cert-manager made for brupop's CA, which a switch from brupop adopts.
    const details = privateKey.asymmetricKeyDetails;
    const ecdsa = privateKey.asymmetricKeyType === "ec" && details?.namedCurve === "prime256v1";
    const rsa = privateKey.asymmetricKeyType === "rsa" && (details?.modulusLength ?? 0) >= 2048;
    if (!key.includes("-----BEGIN PRIVATE KEY-----") || !(ecdsa || rsa)) {
      return { ok: false, problem: "the private key is not a PKCS#8 ECDSA P-256 or RSA (2048 bits or more) key" };
    }
    if (!x509.checkPrivateKey(privateKey)) {
      return { ok: false, problem: "the private key does not belong to the certificate" };
    }
  } catch (err) {
    return { ok: false, problem: `unparsable private key: ${(err as Error).message}` };
  }
  return { ok: true, ca: { cert: x509.toString(), key, x509, notAfter } };
}

/**
 * A bundle: the `first` certificates (unparsable or expired ones left out), then the CA certificates of `stored`
 * that are still valid at `now`, each once, minus `exclude`. Certificates are written in one canonical PEM form, so
 * equal bundles compare equal as strings.
 */
export function composeBundle(
  first: readonly (string | undefined)[],
  stored: string | undefined,
  now: Date,
  exclude: readonly (string | undefined)[] = [],
): string {
  const seen = new Set<string>();
  for (const pem of exclude) {
    const cert = parse(pem);
    if (cert) seen.add(cert.fingerprint256);
  }
  const out: string[] = [];
  const add = (cert: X509Certificate | undefined, requireCa: boolean) => {
    if (!cert || seen.has(cert.fingerprint256)) return;
    if (ms(new Date(cert.validTo)) <= ms(now) || (requireCa && !cert.ca)) return;
    seen.add(cert.fingerprint256);
    const pem = cert.toString();
    out.push(pem.endsWith("\n") ? pem : `${pem}\n`);
  };
  for (const pem of first) add(parse(pem), false);
  for (const pem of bundleCertificates(stored ?? "")) add(parse(pem), true);
  return out.join("");
}

function parse(pem: string | undefined): X509Certificate | undefined {
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function contains(bundle: string | undefined, cert: X509Certificate): boolean {
  return bundleCertificates(bundle ?? "").some((pem) => parse(pem)?.fingerprint256 === cert.fingerprint256);
}

/** The recorded publication time, or why it cannot be used. */
export function publishedAt(
  value: string | undefined,
  now: Date,
  delayMs: number,
): { at: Date } | { problem: string | undefined } {
  if (value === undefined) return { problem: undefined };
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return { problem: `unreadable publication time ${JSON.stringify(value)}` };
  // A time further ahead than the delay is not a clock skew between replicas: it would hold the switch back.
  if (ms(at) > ms(now) + delayMs) return { problem: `publication time ${value} is in the future` };
  return { at };
}

/** What to do with the CA Secret now. */
export function decideCa(stored: StoredCa, now: Date, delayMs: number): CaDecision {
  const current = checkCa(stored.cert, stored.key, now);
  const hasNext = stored.nextCert !== undefined || stored.nextKey !== undefined;
  const next = hasNext ? checkCa(stored.nextCert, stored.nextKey, now) : undefined;
  if (!current.ok) {
    if (next?.ok) {
      return {
        kind: "promote",
        reason: `the current CA is unusable (${current.problem}); the next CA takes over at once`,
        repair: true,
      };
    }
    const empty = stored.cert === undefined && stored.key === undefined && !hasNext;
    return empty
      ? { kind: "create", reason: "no CA yet", repair: false }
      : {
          kind: "create",
          reason:
            `the CA is unusable (${current.problem})` +
            (next ? ` and so is the next one (${next.problem})` : "") +
            "; a new CA replaces it at once",
          repair: true,
        };
  }
  const published = publishedAt(stored.nextPublishedAt, now, delayMs);
  if (next !== undefined) {
    if (!next.ok)
      return { kind: "begin", reason: `the next CA is unusable (${next.problem}); replacing it`, repair: true };
    if ("at" in published && ms(now) >= ms(published.at) + delayMs) {
      return {
        kind: "switch",
        reason: `the next CA was published at ${published.at.toISOString()}, ${Math.round(delayMs / 1000)} s ago or more`,
        repair: false,
      };
    }
  } else if (needsRenewal(current.ca.cert, now)) {
    return { kind: "begin", reason: `the CA expires on ${current.ca.x509.validTo}; rotation starts`, repair: false };
  }

  const bundle = composeBundle([current.ca.cert, next?.ok ? next.ca.cert : undefined], stored.bundle, now);
  if (bundle !== stored.bundle) {
    const lacks =
      !contains(stored.bundle, current.ca.x509) || (next?.ok === true && !contains(stored.bundle, next.ca.x509));
    return lacks
      ? { kind: "rewrite-bundle", reason: "the CA bundle lacks the current or the next CA", repair: true }
      : { kind: "rewrite-bundle", reason: "the CA bundle holds an expired or unusable certificate", repair: false };
  }
  if (next?.ok) {
    if (!("at" in published)) {
      return {
        kind: "publish-next",
        reason:
          published.problem === undefined
            ? "publishing the bundle with the next CA"
            : `${published.problem}; publishing again`,
        repair: published.problem !== undefined,
        current: current.ca,
        next: next.ca,
        bundle,
      };
    }
    return {
      kind: "steady",
      current: current.ca,
      next: next.ca,
      bundle,
      switchAt: new Date(ms(published.at) + delayMs),
    };
  }
  return { kind: "steady", current: current.ca, bundle };
}

/**
 * The CA Secret's content after `decision` (not "steady" nor "publish-next"); `fresh` is a newly created CA, needed
 * for "create" and "begin".
 */
export function applyCaDecision(
  stored: StoredCa,
  decision: CaDecision,
  now: Date,
  fresh?: { cert: string; key: string },
): StoredCa {
  const need = () => {
    if (!fresh) throw new Error(`a new CA is needed to ${decision.kind}`);
    return fresh;
  };
  const brokenNext = (): string[] => (checkCa(stored.nextCert, stored.nextKey, now).ok ? [] : [stored.nextCert ?? ""]);
  switch (decision.kind) {
    case "create": {
      const ca = need();
      // The old CA certificate, if still valid, stays trusted: certificates it issued may still be served.
      return {
        cert: ca.cert,
        key: ca.key,
        bundle: composeBundle([ca.cert, stored.cert], stored.bundle, now, brokenNext()),
      };
    }
    case "promote":
    case "switch":
      // Both make the next CA the current one; they differ only in why (a broken current CA, or the delay over).
      return {
        cert: stored.nextCert,
        key: stored.nextKey,
        bundle: composeBundle([stored.nextCert, stored.cert], stored.bundle, now),
      };
    case "begin": {
      const ca = need();
      return {
        cert: stored.cert,
        key: stored.key,
        nextCert: ca.cert,
        nextKey: ca.key,
        bundle: composeBundle([stored.cert, ca.cert], stored.bundle, now, brokenNext()),
      };
    }
    case "rewrite-bundle": {
      const next = checkCa(stored.nextCert, stored.nextKey, now).ok;
      const bundle = composeBundle([stored.cert, next ? stored.nextCert : undefined], stored.bundle, now);
      // The publication time holds only if the bundle published then already held the next CA.
      const nextCert = parse(stored.nextCert);
      const keepPublished = next && nextCert !== undefined && contains(stored.bundle, nextCert);
      return {
        ...stored,
        bundle,
        nextPublishedAt: keepPublished ? stored.nextPublishedAt : undefined,
      };
    }
    case "publish-next":
      return { ...stored, nextPublishedAt: now.toISOString() };
    case "steady":
      return stored;
  }
}

/** The earliest of `times` after `now`: when the certificates' state will change by itself. */
export function earliestAfter(times: readonly (Date | undefined)[], now: Date): Date | undefined {
  let best: Date | undefined;
  for (const t of times) {
    if (t !== undefined && ms(t) > ms(now) && (best === undefined || ms(t) < ms(best))) best = t;
  }
  return best;
}

/** When the state of the CA (and its bundle) changes next without anyone writing: a renewal, a switch, an expiry. */
export function caChangesAt(state: Extract<CaDecision, { kind: "steady" }>, now: Date): Date | undefined {
  const expiries = bundleCertificates(state.bundle).map((pem) => parse(pem)?.validTo);
  return earliestAfter(
    [
      state.next ? state.switchAt : renewalStart(state.current.cert),
      ...expiries.map((t) => (t === undefined ? undefined : new Date(t))),
    ],
    now,
  );
}

/** Retry sooner than the interval after a failed check, and never re-check in a tight loop. */
const RETRY_AFTER_FAILURE_MS = 30_000;
const MIN_CHECK_DELAY_MS = 1_000;
/** Checks a moment after a due time, so the decision then sees it as passed. */
const DUE_SLACK_MS = 1_000;

/**
 * How long the API server waits before its next certificate check: the regular interval (which also picks up
 * another replica's writes and repairs edited Secrets), or less when something falls due sooner (`recheckAt`: a
 * rotation's switch, a renewal, an expiry), or after a failed check.
 */
export function nextCheckDelayMs(recheckAt: Date | undefined, now: Date, intervalMs: number, failed = false): number {
  let wait = failed ? Math.min(intervalMs, RETRY_AFTER_FAILURE_MS) : intervalMs;
  if (recheckAt !== undefined) wait = Math.min(wait, ms(recheckAt) - ms(now) + DUE_SLACK_MS);
  // setTimeout fires at once beyond 2^31-1 ms.
  return Math.min(Math.max(wait, MIN_CHECK_DELAY_MS), 2 ** 31 - 1);
}

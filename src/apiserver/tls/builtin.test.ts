// The pure parts of built-in TLS that a switch from brupop relies on: which names a certificate covers, when a
// serving certificate is kept, bundles compared as sets, and a CA with an RSA key (cert-manager's) adopted and used.
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { brupopCertManagerSecrets } from "../../../test/support/cert-manager.ts";
import { createCertificateAuthority, loadCertificateAuthority } from "../../pki/certificates.ts";
import { dnsNameCovers, sameCertificates, servingProblem } from "./builtin.ts";
import { checkCa } from "./rotation.ts";

const ns = "brupop-bottlerocket-aws";
const decode = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64").toString("utf8");
const material = await brupopCertManagerSecrets(ns);
const serving = {
  cert: decode(material.secrets.serving.data?.["tls.crt"]),
  key: decode(material.secrets.serving.data?.["tls.key"]),
};
const clientNames = [`brupop-apiserver.${ns}.svc`, `brupop-apiserver.${ns}.svc.cluster.local`];

describe("dnsNameCovers", () => {
  it.each<[string, string, boolean]>([
    ["brupop-apiserver.ns.svc", "brupop-apiserver.ns.svc", true],
    ["Brupop-Apiserver.NS.svc", "brupop-apiserver.ns.svc", true],
    ["*.ns.svc", "brupop-apiserver.ns.svc", true],
    ["*.ns.svc", "a.b.ns.svc", false], // one label only
    ["*.ns.svc", "ns.svc", false],
    ["*.ns.svc.cluster.local", "brupop-apiserver.ns.svc", false],
  ])("%s covers %s: %s", (pattern, name, covers) => {
    expect(dnsNameCovers(pattern, name)).toBe(covers);
  });
});

describe("brupop's cert-manager certificates", () => {
  it("hold a CA usable to issue certificates (RSA, PKCS#8)", () => {
    expect(checkCa(material.caPem, material.caKeyPem, new Date()).ok).toBe(true);
  });

  it("keep their serving certificate: it covers the names clients connect to", () => {
    const want = { dnsNames: clientNames, ipAddresses: [] };
    expect(servingProblem(serving, material.caPem, want, new Date())).toBeUndefined();
    const shortName = { dnsNames: [...clientNames, "brupop-apiserver"], ipAddresses: [] };
    expect(servingProblem(serving, material.caPem, shortName, new Date())).toBe(
      "the serving certificate does not cover brupop-apiserver",
    );
  });

  it("are replaced when their CA is no longer the current one", async () => {
    const other = await createCertificateAuthority("another");
    const want = { dnsNames: clientNames, ipAddresses: [] };
    expect(servingProblem(serving, other.certPem, want, new Date())).toMatch(/not issued by the current CA/);
  });

  it("sign, once adopted, leaves that verify against brupop's CA", async () => {
    const ca = await loadCertificateAuthority(material.caPem, material.caKeyPem);
    const leaf = await ca.issue({ commonName: "brupop-apiserver", dnsNames: clientNames, usages: ["server"] });
    const issued = new X509Certificate(leaf.certPem);
    const brupop = new X509Certificate(material.caPem);
    expect(issued.checkIssued(brupop) && issued.verify(brupop.publicKey)).toBe(true);
  });
});

describe("sameCertificates", () => {
  it("compares bundles by their certificates and order, however written", async () => {
    const other = (await createCertificateAuthority("other")).certPem;
    const pem = material.caPem;
    expect(sameCertificates(pem, `${pem.trimEnd()}\n\n`)).toBe(true);
    expect(sameCertificates(`${pem}${other}`, `${pem.trimEnd()}\n${other}`)).toBe(true);
    expect(sameCertificates(`${pem}${other}`, `${other}${pem}`)).toBe(false); // the first is the current CA
    expect(sameCertificates(pem, `${pem}${other}`)).toBe(false);
    expect(sameCertificates(undefined, pem)).toBe(false);
    expect(sameCertificates(undefined, "")).toBe(true);
  });
});

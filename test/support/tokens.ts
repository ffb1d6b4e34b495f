// Service-account tokens signed with the control plane's own signing key, for cases TokenRequest cannot
// produce on demand (an already expired token: TokenRequest's minimum lifetime is 10 minutes).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sign, randomUUID } from "node:crypto";
import type { ControlPlaneInfo } from "./global-setup.ts";

export interface BoundTokenClaims {
  readonly namespace: string;
  readonly serviceAccount: { readonly name: string; readonly uid: string };
  readonly pod: { readonly name: string; readonly uid: string };
  readonly audiences: readonly string[];
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

/** A pod-bound token with the claims kube-apiserver itself writes (ES256, the test control plane's key). */
export async function signBoundToken(info: ControlPlaneInfo, claims: BoundTokenClaims): Promise<string> {
  const key = await readFile(join(info.dir, "pki", "sa.key"), "utf8");
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  const header = { alg: "ES256", typ: "JWT" };
  const payload = {
    iss: info.issuer,
    sub: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount.name}`,
    aud: claims.audiences,
    iat: seconds(claims.issuedAt),
    nbf: seconds(claims.issuedAt),
    exp: seconds(claims.expiresAt),
    jti: randomUUID(),
    "kubernetes.io": {
      namespace: claims.namespace,
      serviceaccount: claims.serviceAccount,
      pod: claims.pod,
    },
  };
  const encode = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const signingInput = `${encode(header)}.${encode(payload)}`;
  const signature = sign("sha256", Buffer.from(signingInput), { key, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${signature.toString("base64url")}`;
}

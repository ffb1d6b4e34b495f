import { stringify } from "yaml";

/** A user authenticated by a client certificate; Kubernetes takes the user from CN and the groups from O. */
export interface ClientIdentity {
  readonly user: string;
  readonly groups: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A self-contained kubeconfig (credentials embedded), usable by kubectl and @kubernetes/client-node alike. */
export function kubeconfigYaml(o: { server: string; caPem: string; identity: ClientIdentity; name: string }): string {
  return stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "brupop-testenv", cluster: { server: o.server, "certificate-authority-data": b64(o.caPem) } }],
      users: [
        {
          name: o.name,
          user: { "client-certificate-data": b64(o.identity.certPem), "client-key-data": b64(o.identity.keyPem) },
        },
      ],
      contexts: [{ name: o.name, context: { cluster: "brupop-testenv", user: o.name } }],
      "current-context": o.name,
    },
    { version: "1.1" },
  );
}

// The shape every object in the manifest has. Kinds outside client-node's models (cert-manager, prometheus-operator)
// are typed here as the plain wire objects they are.
export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

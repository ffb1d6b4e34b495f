// Plain interfaces for the Kubernetes objects this module produces, in their wire form (JSON as the API server
// speaks it).
//
// Why not client-node's V1CustomResourceDefinition / V1ObjectMeta: those are classes whose property names differ
// from the wire for some fields (`_enum`, `xKubernetesListType`; timestamps as Date), and client-node's serializer
// maps between the two. A plain JSON object typed as one of them is a lie the linter rightly flags
// (no-unsafe-class-instance-assignment), and sending such an object through client-node's typed APIs silently
// drops the mismatched keys. These interfaces are structurally assignable to client-node's types (checked in
// k8s-types.test.ts), so they still fit wherever client-node only reads them.
import type { K8sSchema } from "./k8s-schema.ts";

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * The metadata fields our code reads or writes. Objects carry more (managedFields, timestamps …) and conversion
 * passes all of it through; creationTimestamp/deletionTimestamp are left out on purpose because client-node types
 * them as Date while raw JSON has strings.
 */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface CustomResourceColumnDefinition {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface WebhookServiceReference {
  namespace: string;
  name: string;
  path?: string;
  port?: number;
}

export type CustomResourceConversion =
  | { strategy: "None" }
  | {
      strategy: "Webhook";
      webhook: {
        clientConfig: { service: WebhookServiceReference; caBundle?: string };
        conversionReviewVersions: string[];
      };
    };

export interface CustomResourceDefinitionVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: K8sSchema };
  subresources?: { status?: Record<string, never> };
  additionalPrinterColumns?: CustomResourceColumnDefinition[];
}

/** An apiextensions.k8s.io/v1 CustomResourceDefinition as sent to the API server or written to a manifest. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    scope: "Namespaced" | "Cluster";
    conversion: CustomResourceConversion;
    versions: CustomResourceDefinitionVersion[];
  };
}

// The CustomResourceDefinition bottlerocketshadows.brupop.bottlerocket.aws, identical in identity to brupop 1.4
// (group, names, scope, versions, printer columns, status subresource) so either implementation can run against it.
// Deliberate differences from brupop's: conversionReviewVersions is [v1] (brupop listed CR versions, [v2, v1],
// which the API server skips), the cert-manager annotation is the caller's choice (brupop's pointed at a Certificate
// that does not exist), and the optional status fields described in bottlerocket-shadow.ts.
import { openApiSchemaV1, openApiSchemaV2 } from "./bottlerocket-shadow.ts";
import {
  API_GROUP,
  APISERVER_SERVICE_NAME,
  APISERVER_SERVICE_PORT,
  CONVERSION_WEBHOOK_PATH,
  CRD_NAME,
  KIND,
  OPERATOR_NAMESPACE,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION_V1,
  VERSION_V2,
} from "./constants.ts";
import type {
  CustomResourceColumnDefinition,
  CustomResourceConversion,
  CustomResourceDefinition,
} from "./k8s-types.ts";

/** Where the API server sends ConversionReviews; every field has brupop's default. */
export interface WebhookConversionOptions {
  /** Namespace of the API server's Service (default `brupop-bottlerocket-aws`). */
  namespace?: string;
  /** Service name (default `brupop-apiserver`). */
  serviceName?: string;
  /** Default `/crdconvert`. */
  path?: string;
  /** Service port (default 443). */
  port?: number;
  /** Base64 of the PEM CA bundle that signed the webhook's serving certificate (omit when cert-manager injects it). */
  caBundle?: string;
}

export interface BottlerocketShadowCrdOptions {
  /**
   * `"none"` for clusters without the conversion webhook (tests): the API server then only rewrites apiVersion,
   * so v1 clients see v2 data. Default: the webhook with brupop's defaults.
   */
  conversion?: "none" | { webhook: WebhookConversionOptions };
  labels?: Readonly<Record<string, string>>;
  /** E.g. `cert-manager.io/inject-ca-from: <namespace>/<certificate>` to have cert-manager fill in the caBundle. */
  annotations?: Readonly<Record<string, string>>;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function column(name: string, jsonPath: string): CustomResourceColumnDefinition {
  // brupop declares every column, Crash Count included, as a string.
  return { name, jsonPath, type: "string" };
}

const COLUMNS_V1: readonly CustomResourceColumnDefinition[] = [
  column("State", ".status.current_state"),
  column("Version", ".status.current_version"),
  column("Target State", ".spec.state"),
  column("Target Version", ".spec.version"),
];
const COLUMNS_V2: readonly CustomResourceColumnDefinition[] = [
  ...COLUMNS_V1,
  column("Crash Count", ".status.crash_count"),
];

function webhookConversion(options: WebhookConversionOptions): CustomResourceConversion {
  const namespace = options.namespace ?? OPERATOR_NAMESPACE;
  const name = options.serviceName ?? APISERVER_SERVICE_NAME;
  const path = options.path ?? CONVERSION_WEBHOOK_PATH;
  const port = options.port ?? APISERVER_SERVICE_PORT;
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new RangeError(`conversion webhook namespace ${JSON.stringify(namespace)} is not a valid namespace name`);
  }
  if (!DNS_LABEL.test(name) || name.length > 63) {
    throw new RangeError(`conversion webhook service ${JSON.stringify(name)} is not a valid Service name`);
  }
  if (!path.startsWith("/")) throw new RangeError(`conversion webhook path ${JSON.stringify(path)} must start with /`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`conversion webhook port ${String(port)} is not a port number (1-65535)`);
  }
  const { caBundle } = options;
  if (caBundle !== undefined) {
    if (caBundle.includes("-----BEGIN")) {
      throw new RangeError("conversion webhook caBundle must be the base64 encoding of the PEM, not the PEM itself");
    }
    if (caBundle === "" || !BASE64.test(caBundle)) {
      throw new RangeError("conversion webhook caBundle is not valid base64");
    }
  }
  return {
    strategy: "Webhook",
    webhook: {
      clientConfig: { service: { namespace, name, path, port }, ...(caBundle === undefined ? {} : { caBundle }) },
      // ConversionReview API versions, not BottlerocketShadow versions.
      conversionReviewVersions: ["v1"],
    },
  };
}

/**
 * The BottlerocketShadow CRD, as the JSON the API server expects (the wire form).
 *
 * Careful: the schemas use the API server's key names (`enum`, `x-kubernetes-list-type`), while client-node's
 * model classes name them `_enum`, `xKubernetesListType`. client-node's typed ApiextensionsV1Api and
 * KubernetesObjectApi serialise through those models and silently DROP such keys (test/integration/crd.test.ts
 * shows it). Send this object as plain JSON (YAML manifest, `CustomObjectsApi` against apiextensions.k8s.io/v1,
 * or a raw request), never through them.
 *
 * Throws a RangeError for an invalid webhook option (namespace, service name, path, port, caBundle).
 */
export function bottlerocketShadowCrd(options: BottlerocketShadowCrdOptions = {}): CustomResourceDefinition {
  const conversion = options.conversion ?? { webhook: {} };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: CRD_NAME,
      ...(options.labels === undefined ? {} : { labels: { ...options.labels } }),
      ...(options.annotations === undefined ? {} : { annotations: { ...options.annotations } }),
    },
    spec: {
      group: API_GROUP,
      names: { kind: KIND, plural: PLURAL, singular: SINGULAR, shortNames: [...SHORT_NAMES] },
      scope: "Namespaced",
      conversion: conversion === "none" ? { strategy: "None" } : webhookConversion(conversion.webhook),
      versions: [
        {
          name: VERSION_V2,
          served: true,
          storage: true,
          additionalPrinterColumns: COLUMNS_V2.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchemaV2() },
          subresources: { status: {} },
        },
        {
          name: VERSION_V1,
          served: true,
          storage: false,
          additionalPrinterColumns: COLUMNS_V1.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApiSchemaV1() },
          subresources: { status: {} },
        },
      ],
    },
  };
}

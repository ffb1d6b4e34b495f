// The operator image reference: one image, three entry points. Like brupop's `.env` (BRUPOP_CONTAINER_IMAGE) the whole
// reference can be replaced; the parts below cover the common cases: a mirror registry, an ECR registry in the
// cluster's own region (no cross-region pulls, works in isolated partitions), a tag or a pinned digest.

/** Where the project publishes its image. Replace with a mirror through `registry` or `regional`. */
export const DEFAULT_REGISTRY = "ghcr.io/brupop-ts";
export const DEFAULT_REPOSITORY = "bottlerocket-update-operator";
/** Kept equal to package.json's version by a test: the manifest of a release installs that release's image. */
export const IMAGE_TAG = "v0.1.0";

export interface RegionalRegistry {
  /** AWS account that hosts the ECR repositories. */
  readonly accountId: string;
  /** AWS region, e.g. `eu-west-1`, `cn-north-1`, `us-gov-west-1`. */
  readonly region: string;
}

export interface ImageSource {
  /** Registry and optional path prefix, e.g. `registry.example.com/mirror`. Ignored when `regional` is set. */
  readonly registry?: string;
  readonly regional?: RegionalRegistry;
  readonly repository?: string;
  readonly tag?: string;
  /** `sha256:...`; when set, the reference pins it (`repo:tag@sha256:...`). */
  readonly digest?: string;
}

/** The ECR registry host of an account in a region; China regions live under `amazonaws.com.cn`. */
export function regionalRegistry({ accountId, region }: RegionalRegistry): string {
  if (!/^[0-9]{12}$/.test(accountId))
    throw new RangeError(`AWS account id ${JSON.stringify(accountId)} is not 12 digits`);
  if (!/^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region))
    throw new RangeError(`${JSON.stringify(region)} is not an AWS region`);
  const suffix = region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return `${accountId}.dkr.ecr.${region}.${suffix}`;
}

export function imageReference(source: ImageSource): string {
  const registry = source.regional ? regionalRegistry(source.regional) : (source.registry ?? DEFAULT_REGISTRY);
  const repository = source.repository ?? DEFAULT_REPOSITORY;
  const tag = source.tag ?? IMAGE_TAG;
  if (source.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(source.digest)) {
    throw new RangeError(`image digest ${JSON.stringify(source.digest)} is not sha256:<64 hex digits>`);
  }
  const base = `${registry.replace(/\/+$/, "")}/${repository}:${tag}`;
  return source.digest === undefined ? base : `${base}@${source.digest}`;
}

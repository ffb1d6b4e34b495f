// The software bill of materials of one platform image, in CycloneDX 1.6 JSON: the image, the Node.js runtime,
// the Debian packages its libraries and certificates come from, and every npm package bundled into an entry point.
// Written directly: the document is a plain JSON object of a few fields per component, built from facts the build
// already holds (pins, lockfile integrities, licence fields).
import type { BundledPackage } from "./bundle.ts";
import type { DebianPart } from "./image.ts";
import type { Arch, NodeRuntime } from "./inputs.ts";

export interface SbomInput {
  readonly arch: Arch;
  /** The image reference without tag, e.g. ghcr.io/brupop-ts/bottlerocket-update-operator. */
  readonly repository: string;
  readonly version: string;
  readonly manifestDigest: string;
  readonly created: Date;
  readonly node: NodeRuntime;
  readonly debian: readonly DebianPart[];
  readonly packages: readonly BundledPackage[];
}

const npmPurl = (name: string, version: string) => `pkg:npm/${name.replace(/^@/, "%40")}@${version}`;
const sriToHex = (sri: string) => Buffer.from(sri.replace(/^sha512-/, ""), "base64").toString("hex");
const sha512 = (sri: string | undefined) =>
  sri?.startsWith("sha512-") ? [{ alg: "SHA-512", content: sriToHex(sri) }] : [];

export function cycloneDx(input: SbomInput): Record<string, unknown> {
  const digestHex = input.manifestDigest.replace(/^sha256:/, "");
  const name = input.repository.slice(input.repository.lastIndexOf("/") + 1);
  const components = [
    {
      type: "platform",
      "bom-ref": "node",
      name: "node",
      version: input.node.version,
      description: `Node.js runtime (${input.node.package} from the npm registry)`,
      purl: npmPurl(input.node.package, input.node.version),
      hashes: sha512(input.node.integrity),
      licenses: [{ expression: "MIT" }],
    },
    ...input.debian.map((d) => ({
      type: "library",
      "bom-ref": `deb:${d.name}`,
      name: d.name,
      version: d.version,
      purl: `pkg:deb/debian/${d.name}@${encodeURIComponent(d.version)}?arch=${d.arch}&distro=debian-12`,
      hashes: [{ alg: "SHA-256", content: d.sha256 }],
      licenses: [{ license: { name: `see /licenses/debian/${d.name}/copyright` } }],
    })),
    ...input.packages.map((p) => ({
      type: "library",
      "bom-ref": `npm:${p.name}@${p.version}`,
      name: p.name,
      version: p.version,
      purl: npmPurl(p.name, p.version),
      hashes: sha512(p.integrity),
      licenses: p.license ? [{ expression: p.license }] : [],
    })),
  ];
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    // Derived from the image manifest's digest: the same image always has the same document.
    serialNumber: `urn:uuid:${digestHex.slice(0, 8)}-${digestHex.slice(8, 12)}-5${digestHex.slice(13, 16)}-8${digestHex.slice(17, 20)}-${digestHex.slice(20, 32)}`,
    version: 1,
    metadata: {
      timestamp: input.created.toISOString(),
      tools: { components: [{ type: "application", name: "scripts/image/build.ts" }] },
      component: {
        type: "container",
        "bom-ref": "image",
        name,
        version: input.version,
        purl: `pkg:oci/${name}@${encodeURIComponent(input.manifestDigest)}?arch=${input.arch}&repository_url=${encodeURIComponent(input.repository)}`,
        hashes: [{ alg: "SHA-256", content: digestHex }],
        licenses: [{ expression: "Apache-2.0" }],
      },
    },
    components,
    dependencies: [{ ref: "image", dependsOn: components.map((c) => c["bom-ref"]) }],
  };
}

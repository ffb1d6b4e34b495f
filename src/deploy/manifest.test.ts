// The generated install files: up to date, valid against Kubernetes' own OpenAPI schemas (kubernetes-models), and
// holding the properties issue 8 asks for, for the default options and for every optional part switched on.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";
import { DaemonSet, Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { PriorityClass } from "kubernetes-models/scheduling.k8s.io/v1";
import { Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import type { V1DaemonSet, V1Deployment, V1PodSpec, V1Service } from "@kubernetes/client-node";
import { BRUPOP, readBrupopFile } from "../../test/support/brupop-reference.ts";
import { LABEL_UPDATER_INTERFACE_VERSION, TOKEN_AUDIENCE } from "../api/index.ts";
import { generatedFiles, MANIFEST_PATH } from "./files.ts";
import { IMAGE_TAG, imageReference, regionalRegistry } from "./image.ts";
import { operatorObjects, renderManifest } from "./manifest.ts";
import type { ManifestObject } from "./object.ts";
import { resolveOptions, type DeployOptionsInput } from "./options.ts";
import { NODE_BINARY, entryPoint } from "./pod.ts";

const root = join(import.meta.dirname, "..", "..");

// kubernetes-models validates with the upstream OpenAPI schema of each kind (ajv); it throws on the first violation.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Service": Service,
  "apiextensions.k8s.io/v1/CustomResourceDefinition": CustomResourceDefinition,
  "scheduling.k8s.io/v1/PriorityClass": PriorityClass,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};
// Third-party kinds kubernetes-models does not know; their shape is checked by the tests below instead.
const THIRD_PARTY = new Set([
  "cert-manager.io/v1/Issuer",
  "cert-manager.io/v1/Certificate",
  "monitoring.coreos.com/v1/ServiceMonitor",
]);

const VARIANTS: Record<string, DeployOptionsInput> = {
  defaults: {},
  "everything on": {
    tls: "cert-manager",
    serviceMonitor: true,
    imagePullSecrets: ["regcred"],
    image: { regional: { accountId: "123456789012", region: "eu-west-1" }, tag: "v9.9.9" },
    updateWindow: { start: "9:0:0", stop: "17:0:0" },
    podLabels: { team: "platform", flag: "yes" },
    placement: {
      agent: { tolerations: [{ operator: "Exists" }] },
      apiserver: { nodeSelector: { pool: "system" } },
    },
  },
};

const key = (o: ManifestObject) => `${o.apiVersion}/${o.kind}`;
/** brupop 1.4's one-file install, as published. */
const brupopObjects = (): ManifestObject[] =>
  parseAllDocuments(readBrupopFile(BRUPOP.manifest))
    .map((d) => d.toJS() as ManifestObject | null)
    .filter((o): o is ManifestObject => o !== null);
/** The object of that kind (and name); typed by the caller, as the builders' types are erased in the list. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
const find = <T>(objects: ManifestObject[], kind: string, name?: string): T => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind} ${name ?? ""}`);
  return found as unknown as T;
};
const podSpecs = (objects: ManifestObject[]): [string, V1PodSpec][] =>
  objects
    .filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet")
    .map((o) => [o.metadata.name, (o as unknown as V1Deployment).spec?.template.spec as V1PodSpec]);

describe("the committed install files", () => {
  it.each(Object.entries(generatedFiles()))("%s is what `npm run manifests` generates", async (path, content) => {
    const committed = await readFile(join(root, path), "utf8").catch(() => "(missing)");
    // On failure: run `npm run manifests` and commit the result.
    expect(committed === content, `${path} is out of date; run npm run manifests`).toBe(true);
  });

  it("parses as YAML 1.1 into exactly the generated objects", async () => {
    const text = await readFile(join(root, MANIFEST_PATH), "utf8");
    const docs = parseAllDocuments(text, { version: "1.1" });
    expect(docs.flatMap((d) => d.errors)).toEqual([]);
    expect(docs.map((d) => d.toJS() as unknown)).toEqual(JSON.parse(JSON.stringify(operatorObjects(resolveOptions()))));
  });
});

describe.each(Object.entries(VARIANTS))("the manifest (%s)", (_, input) => {
  const options = resolveOptions(input);
  const objects = operatorObjects(options);

  it("validates every object against the Kubernetes OpenAPI schema of its kind", () => {
    for (const object of objects) {
      const Model = MODELS[key(object)];
      if (Model === undefined) {
        expect(THIRD_PARTY, `${key(object)} has no validator`).toContain(key(object));
        continue;
      }
      expect(
        () => new Model(structuredClone(object) as never).validate(),
        `${key(object)} ${object.metadata.name}`,
      ).not.toThrow();
    }
  });

  it("has unique names per kind and namespace, and namespaces only on namespaced kinds", () => {
    const ids = objects.map((o) => `${key(o)}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    const clusterScoped = [
      "Namespace",
      "CustomResourceDefinition",
      "PriorityClass",
      "ClusterRole",
      "ClusterRoleBinding",
    ];
    for (const o of objects) {
      // brupop put a meaningless namespace on cluster-scoped objects
      // (docs/design/brupop-compatibility.md#installation).
      expect(o.metadata.namespace === undefined, `${o.kind} ${o.metadata.name}`).toBe(clusterScoped.includes(o.kind));
    }
  });

  it("runs every container without privilege escalation, capabilities or a writable root; non-root except the agent", () => {
    for (const [name, spec] of podSpecs(objects)) {
      for (const c of spec.containers) {
        expect(c.securityContext, name).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.securityContext?.capabilities?.add, name).toBeUndefined();
        expect(c.securityContext?.privileged ?? false, name).toBe(false);
        const nonRoot = c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
        expect(nonRoot, name).toBe(name !== "brupop-agent");
        // The agent has no health endpoint yet (src/agent); every other container is probed.
        if (name !== "brupop-agent") {
          expect(c.livenessProbe, `${name} liveness`).toBeDefined();
          expect(c.readinessProbe, `${name} readiness`).toBeDefined();
        }
        expect(c.resources?.limits?.memory, `${name} memory limit`).toBeDefined();
        expect(c.image).toBe(options.image);
      }
      expect(spec.imagePullSecrets?.map((s) => s.name) ?? [], name).toEqual(options.imagePullSecrets);
    }
  });

  it("runs a leader-elected controller with 2 replicas at high priority, all old pods gone before new ones start", () => {
    const d = find<V1Deployment>(objects, "Deployment", "brupop-controller-deployment");
    expect(d.spec?.replicas).toBe(2);
    // brupop's controller takes no Lease: overlapping pods in a switch would be two controllers deciding at once.
    expect(d.spec?.strategy).toEqual({ type: "Recreate" });
    expect(d.spec?.template.spec?.priorityClassName).toBe("brupop-controller-high-priority");
    const env = d.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.map((e) => e.name)).toEqual(
      expect.arrayContaining(["MAX_CONCURRENT_UPDATE", "SCHEDULER_CRON_EXPRESSION", "MY_NODE_NAME", "POD_NAME"]),
    );
    expect(env.some((e) => e.name === "UPDATE_WINDOW_START")).toBe(options.updateWindow !== undefined);
    const lease = env.find((e) => e.name === "LEADER_ELECTION_LEASE_NAME")?.value;
    const role = find<{ rules: { resources: string[]; resourceNames?: string[] }[] }>(
      objects,
      "Role",
      "brupop-controller-role",
    );
    expect(role.rules.find((r) => r.resources.includes("leases") && r.resourceNames)?.resourceNames).toEqual([lease]);
  });

  it("runs 3 API server replicas spread over nodes, of which a PodDisruptionBudget keeps at least 2", () => {
    const d = find<V1Deployment>(objects, "Deployment", "brupop-apiserver");
    expect(d.spec?.replicas).toBe(3);
    expect(
      d.spec?.template.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution,
    ).toHaveLength(1);
    const pdb = find<PodDisruptionBudget>(objects, "PodDisruptionBudget");
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(d.spec?.template.metadata?.labels).toMatchObject(pdb.spec?.selector?.matchLabels ?? { missing: true });
  });

  it("runs the agent only on labelled nodes, with a token for the API server's audience and the host socket", () => {
    const ds = find<V1DaemonSet>(objects, "DaemonSet");
    const spec = ds.spec?.template.spec as V1PodSpec;
    const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    expect(terms).toHaveLength(1);
    expect(terms[0]?.matchExpressions).toContainEqual({
      key: LABEL_UPDATER_INTERFACE_VERSION,
      operator: "In",
      values: ["2.0.0"],
    });
    const token = spec.volumes?.flatMap((v) => v.projected?.sources ?? []).find((s) => s.serviceAccountToken);
    expect(token?.serviceAccountToken).toMatchObject({
      audience: TOKEN_AUDIENCE,
      path: "bottlerocket-agent-service-account-token",
    });
    expect(spec.volumes).toContainEqual({
      name: "bottlerocket-api-socket",
      hostPath: { path: "/run/api.sock", type: "Socket" },
    });
    expect(spec.containers[0]?.securityContext?.seLinuxOptions?.type).toBe("super_t");
    expect(Object.keys(spec.containers[0]?.resources?.limits ?? {}).sort()).toEqual(["cpu", "memory"]);
  });

  it("keeps the user's pod labels from overriding the selectors", () => {
    for (const o of objects.filter((x) => x.kind === "Deployment" || x.kind === "DaemonSet")) {
      const w = o as unknown as V1Deployment;
      expect(w.spec?.template.metadata?.labels).toMatchObject({
        ...options.podLabels,
        ...w.spec?.selector.matchLabels,
      });
    }
  });

  it("injects the conversion webhook's CA only from a Certificate that exists", () => {
    const crd = find<ManifestObject>(objects, "CustomResourceDefinition");
    const from = crd.metadata.annotations?.["cert-manager.io/inject-ca-from"];
    if (options.tls === "builtin") {
      expect(from).toBeUndefined();
      expect(objects.some((o) => o.apiVersion.startsWith("cert-manager.io"))).toBe(false);
      return;
    }
    const certificates = objects
      .filter((o) => o.kind === "Certificate")
      .map((o) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`);
    expect(certificates).toContain(from);
    // The agents' CA Secret and the API server's serving Secret are both issued by cert-manager.
    const secrets = objects
      .filter((o) => o.kind === "Certificate")
      .map((o) => (o.spec as { secretName: string }).secretName);
    expect(secrets).toEqual(
      expect.arrayContaining(["brupop-apiserver-certificate", "brupop-apiserver-client-certificate"]),
    );
  });

  it("names the entry point in `command`, so an apply over brupop's pods (./agent ...) replaces it", () => {
    for (const [name, spec] of podSpecs(objects)) {
      const c = spec.containers[0];
      expect(c?.command, name).toEqual([NODE_BINARY]);
      const component = { "brupop-agent": "agent", "brupop-apiserver": "apiserver" }[name] ?? "controller";
      expect(c?.args?.at(-1), name).toBe(entryPoint(component as "agent"));
    }
  });

  it("uses brupop's names for what brupop's pods had, so an apply replaces them rather than adding a second one", () => {
    const theirs = brupopObjects();
    for (const [name, spec] of podSpecs(objects)) {
      const brupop = podSpecs(theirs).find(([n]) => n === name)?.[1];
      if (!brupop) throw new Error(`brupop has no ${name}`);
      const ours = spec.containers[0]?.volumeMounts ?? [];
      for (const mount of brupop.containers[0]?.volumeMounts ?? []) {
        // The host's apiclient binary is brupop's alone (the agent uses the API socket).
        if (mount.mountPath === "/bin/apiclient") continue;
        expect(ours, `${name} ${mount.mountPath}`).toContainEqual(expect.objectContaining(mount));
      }
      // Every downward-API field as the API server stores it (apiVersion defaulted): no server-side apply conflict.
      for (const e of spec.containers[0]?.env ?? []) {
        if (e.valueFrom?.fieldRef) expect(e.valueFrom.fieldRef.apiVersion, `${name} ${e.name}`).toBe("v1");
      }
    }
  });

  it("targets Service ports by number where brupop's pods serve them, so they stay endpoints during a switch", () => {
    const theirs = brupopObjects();
    for (const name of ["brupop-apiserver", "brupop-controller-server"]) {
      const brupopPorts = find<V1Service>(theirs, "Service", name).spec?.ports ?? [];
      const ours = find<V1Service>(objects, "Service", name).spec?.ports ?? [];
      for (const port of brupopPorts) {
        expect(ours.find((p) => p.port === port.port)?.targetPort, `${name} ${port.port}`).toBe(port.targetPort);
      }
    }
  });

  it("gives every component brupop's logging variables", () => {
    for (const [name, spec] of podSpecs(objects)) {
      const env = Object.fromEntries((spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
      expect(env, name).toMatchObject({
        LOGGING_FORMATTER: options.logging.formatter,
        LOGGING_ANSI_ENABLED: String(options.logging.ansiEnabled),
        TRACING_FILTER_DIRECTIVE: expect.any(String) as string,
      });
    }
  });

  it("lets a still-running brupop API server write status as it does (merge patch), with built-in TLS its CA read", () => {
    const role = find<{ rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[] }>(
      objects,
      "Role",
      "brupop-apiserver-role",
    );
    const status = role.rules.find((r) => r.resources.includes("bottlerocketshadows/status"));
    expect(status?.verbs).toContain("patch");
    const secrets = role.rules.filter((r) => r.resources.includes("secrets")).flatMap((r) => r.resourceNames ?? []);
    expect(secrets.includes("brupop-root-ca-secret")).toBe(options.tls === "builtin");
  });

  it("writes YAML 1.1-sensitive strings quoted", () => {
    const text = renderManifest(objects);
    if (options.podLabels.flag === "yes") expect(text).toContain('flag: "yes"');
    expect(text).not.toMatch(/&a\d|\*a\d/); // no anchors: kubectl users read this file
  });
});

describe("options", () => {
  it("builds regional and mirrored image references", () => {
    expect(regionalRegistry({ accountId: "123456789012", region: "us-west-2" })).toBe(
      "123456789012.dkr.ecr.us-west-2.amazonaws.com",
    );
    expect(regionalRegistry({ accountId: "123456789012", region: "cn-north-1" })).toBe(
      "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
    );
    expect(imageReference({ registry: "registry.example.com/mirror/", tag: "v1" })).toBe(
      "registry.example.com/mirror/bottlerocket-update-operator:v1",
    );
    const digest = `sha256:${"a".repeat(64)}`;
    expect(imageReference({ digest })).toMatch(new RegExp(`:${IMAGE_TAG}@${digest}$`));
    expect(() => imageReference({ digest: "sha256:short" })).toThrow(RangeError);
    expect(() => regionalRegistry({ accountId: "1", region: "us-west-2" })).toThrow(/12 digits/);
  });

  it("defaults the image tag to the package version", async () => {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    expect(IMAGE_TAG).toBe(`v${pkg.version}`);
  });

  it.each<[string, DeployOptionsInput, RegExp]>([
    ["a bad namespace", { namespace: "Brupop" }, /namespace/],
    ["a zero budget", { maxConcurrentUpdates: "0" }, /positive integer or "unlimited"/],
    ["a negative LB wait", { excludeFromLbWaitTimeInSec: -1 }, /0 or more/],
    ["an unknown TLS mode", { tls: "none" as "builtin" }, /tls must be/],
    ["a bad pull secret", { imagePullSecrets: ["Not_A_Name"] }, /pull secret/],
    ["zero replicas", { replicas: { apiserver: 0 } }, /apiserver replicas/],
  ])("rejects %s", (_, input, message) => {
    expect(() => resolveOptions(input)).toThrow(message);
  });

  it("accepts unlimited in any case, and ignores explicit undefined", () => {
    expect(resolveOptions({ maxConcurrentUpdates: "Unlimited", namespace: undefined }).namespace).toBe(
      "brupop-bottlerocket-aws",
    );
  });
});

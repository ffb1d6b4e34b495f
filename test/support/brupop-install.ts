// A brupop 1.4 installation as each of its install paths leaves it, on a real control plane, for the tests that
// switch from it (and back): its one-file manifest applied as brupop documents it (`kubectl apply -f`, client-side),
// or its two Helm releases (`brupop-crd`, `brupop-operator`, installed from stand-in charts whose Chart.yaml and
// values.yaml are brupop's and whose templates are brupop's rendered output), and in both cases the Secrets that
// cert-manager made for it. cert-manager itself does not run: its CRDs are stand-ins that accept brupop's objects.
import { execFile } from "node:child_process";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { BRUPOP, brupopFile } from "./brupop-reference.ts";
import { brupopCertManagerSecrets, type CertManagerMaterial } from "./cert-manager.ts";

const run = promisify(execFile);

export type Command = (...args: string[]) => Promise<{ stdout: string; stderr: string }>;

export function kubectlFor(binDir: string, kubeconfig: string): Command {
  return (...args) => run(join(binDir, "kubectl"), ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 16 << 20 });
}

export function helmFor(helm: string, kubeconfig: string, home: string): Command {
  // Helm's caches and config in the test's directory, not the user's home.
  const env = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
  return (...args) => run(helm, args, { env, maxBuffer: 16 << 20 });
}

/** cert-manager's two kinds that brupop uses, accepting any content (no cert-manager runs in the tests). */
export const CERT_MANAGER_CRDS = ["Certificate", "Issuer"]
  .map((kind) => {
    const plural = `${kind.toLowerCase()}s`;
    return `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.cert-manager.io }
spec:
  group: cert-manager.io
  names: { kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()} }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;
  })
  .join("");

export async function installCertManagerCrds(kubectl: Command, dir: string): Promise<void> {
  const file = join(dir, "cert-manager-crds.yaml");
  await writeFile(file, CERT_MANAGER_CRDS);
  await kubectl("apply", "-f", file);
  await kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/certificates.cert-manager.io");
  await kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/issuers.cert-manager.io");
}

/** The Secrets cert-manager made for brupop's Certificates. */
export async function createCertManagerSecrets(kc: KubeConfig, namespace: string): Promise<CertManagerMaterial> {
  const material = await brupopCertManagerSecrets(namespace);
  const core = kc.makeApiClient(CoreV1Api);
  for (const body of Object.values(material.secrets)) await core.createNamespacedSecret({ namespace, body });
  return material;
}

/** brupop's documented install: `kubectl apply -f bottlerocket-update-operator.yaml` (client-side). */
export async function installBrupopManifest(kubectl: Command): Promise<void> {
  await kubectl("apply", "-f", brupopFile(BRUPOP.manifest));
}

export interface StandInCharts {
  readonly crd: string;
  readonly operator: string;
  /** brupop's operator chart's values.yaml, as a user keeps a copy to `-f` it. */
  readonly operatorValues: string;
}

/** brupop's two charts, with their rendered output as templates (the files contain no template expression). */
export async function brupopStandInCharts(dir: string): Promise<StandInCharts> {
  const chart = async (name: string, files: { chart: string; values: string }, rendered: string) => {
    const root = join(dir, name);
    await mkdir(join(root, "templates"), { recursive: true });
    await copyFile(brupopFile(files.chart), join(root, "Chart.yaml"));
    await copyFile(brupopFile(files.values), join(root, "values.yaml"));
    await copyFile(brupopFile(rendered), join(root, "templates", "rendered.yaml"));
    return root;
  };
  return {
    crd: await chart("brupop-bottlerocket-shadow", BRUPOP.crdChart, BRUPOP.rendered.crd),
    operator: await chart("brupop-bottlerocket-update-operator", BRUPOP.operatorChart, BRUPOP.rendered.operator),
    operatorValues: brupopFile(BRUPOP.operatorChart.values),
  };
}

/** brupop's documented Helm install: the namespace, then both releases (in the context's namespace, "default"). */
export async function installBrupopHelm(kubectl: Command, helm: Command, charts: StandInCharts): Promise<void> {
  await kubectl("create", "namespace", "brupop-bottlerocket-aws");
  await helm("install", "brupop-crd", charts.crd);
  await helm("install", "brupop-operator", charts.operator);
}

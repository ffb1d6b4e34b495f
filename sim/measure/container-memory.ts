// Memory as a container of the operator gets it: its limit in the generated manifest (src/deploy), and the V8 heap
// Node gives itself under that limit, for processes run outside a container by tests and benchmarks.
import { operatorObjects } from "../../src/deploy/manifest.ts";
import { NAMES } from "../../src/deploy/names.ts";
import { resolveOptions } from "../../src/deploy/options.ts";
import type { ComponentName } from "../../src/deploy/pod.ts";

const MiB = 1024 * 1024;

const UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: MiB,
  Gi: 1024 * MiB,
  Ti: 1024 * 1024 * MiB,
};

/** Bytes of a Kubernetes memory quantity ("256Mi", "1G", "134217728"); throws on anything else. */
export function memoryQuantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  const unit = UNITS[match?.[2] ?? ""];
  if (!match || unit === undefined) throw new Error(`not a memory quantity this understands: "${quantity}"`);
  return Math.round(Number(match[1]) * unit);
}

const WORKLOAD: Record<ComponentName, { kind: string; name: string }> = {
  agent: { kind: "DaemonSet", name: NAMES.agentDaemonSet },
  apiserver: { kind: "Deployment", name: NAMES.apiserverDeployment },
  controller: { kind: "Deployment", name: NAMES.controllerDeployment },
};

interface Workload {
  kind?: string;
  metadata?: { name?: string };
  spec?: { template?: { spec?: { containers?: { resources?: { limits?: { memory?: string } } }[] } } };
}

/** A component's container memory limit in the manifest `npm run manifests` generates (default options), or null. */
export function manifestMemoryLimitBytes(component: ComponentName): number | null {
  const { kind, name } = WORKLOAD[component];
  const workload = (operatorObjects(resolveOptions()) as Workload[]).find(
    (o) => o.kind === kind && o.metadata?.name === name,
  );
  if (!workload) throw new Error(`no ${kind} ${name} in the generated manifest`);
  const memory = workload.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory;
  return memory === undefined ? null : memoryQuantityBytes(memory);
}

/**
 * The V8 heap Node gives itself inside a container with this memory limit: it sizes the heap from the cgroup's limit
 * (libuv's constrained memory), as these flags do without one. Measured with Node 24 in a 256 MiB memory cgroup:
 * heap_size_limit 259 MiB, the same as with these flags; without either it is 4288 MiB on this machine, and V8 then
 * lets garbage pile up far past what the pod could hold before it collects.
 */
export function containerHeapFlags(limitBytes: number): string[] {
  return [`--max-old-space-size=${Math.floor(limitBytes / MiB)}`, "--max-semi-space-size=1"];
}

// Vitest global setup of the integration project: one real control plane for the whole run.
import type { TestProject } from "vitest/node";
import { startControlPlane } from "../../sim/control-plane/control-plane.ts";

export interface ControlPlaneInfo {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly dir: string;
  readonly caPem: string;
  readonly issuer: string;
  readonly binDir: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await startControlPlane({ log: (line) => console.error(`[control plane] ${line}`) });
  project.provide("controlPlane", {
    server: cp.server,
    kubeconfigPath: cp.kubeconfigPath,
    dir: cp.dir,
    caPem: cp.caPem,
    issuer: cp.issuer,
    binDir: cp.binDir,
  });
  return () => cp.stop();
}

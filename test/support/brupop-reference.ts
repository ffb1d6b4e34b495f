// brupop 1.4.0's install files (its one-file manifest, both charts' Chart.yaml and values.yaml, their rendered
// output), read where the team keeps them: ../shared/reference/brupop-1.4/ next to the repository (a checkout in
// /work/main) or next to its parent (a worktree in /work/wt/<name>), or BRUPOP_REFERENCE_DIR. Tests load them from
// there; they are never copied into the project.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..", "..");

function findReferenceDir(): string {
  const candidates = [
    process.env.BRUPOP_REFERENCE_DIR,
    join(root, "..", "shared", "reference", "brupop-1.4"),
    join(root, "..", "..", "shared", "reference", "brupop-1.4"),
  ].filter((d): d is string => d !== undefined);
  const found = candidates.find((d) => existsSync(join(d, "bottlerocket-update-operator.yaml")));
  if (found === undefined) {
    throw new Error(
      `brupop 1.4 reference files not found (looked in ${candidates.join(", ")}); set BRUPOP_REFERENCE_DIR`,
    );
  }
  return found;
}

export const BRUPOP_REFERENCE_DIR = findReferenceDir();

export const brupopFile = (name: string): string => join(BRUPOP_REFERENCE_DIR, name);
export const readBrupopFile = (name: string): string => readFileSync(brupopFile(name), "utf8");

/** brupop's files by what they are. */
export const BRUPOP = {
  manifest: "bottlerocket-update-operator.yaml",
  crdChart: { chart: "chart-bottlerocket-shadow-Chart.yaml", values: "chart-bottlerocket-shadow-values.yaml" },
  operatorChart: {
    chart: "chart-bottlerocket-update-operator-Chart.yaml",
    values: "chart-bottlerocket-update-operator-values.yaml",
  },
  rendered: { crd: "helm-rendered-brupop-crd.yaml", operator: "helm-rendered-brupop-operator.yaml" },
} as const;

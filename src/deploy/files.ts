// The generated files of the repository and their content: one place, used by the generator and by the test that
// fails when a committed file is out of date. The charts' directories hold nothing else but their README.md.
import { CRD_CHART, OPERATOR_CHART, crdChartFiles, operatorChartFiles } from "./helm-chart.ts";
import { operatorManifest } from "./manifest.ts";

export const MANIFEST_PATH = "bottlerocket-update-operator.yaml";
export const CHARTS_DIR = "deploy/charts";
export const CHART_DIR = `${CHARTS_DIR}/${OPERATOR_CHART}`;
export const CRD_CHART_DIR = `${CHARTS_DIR}/${CRD_CHART}`;
/** Files in the chart directories that are written by hand. */
export const HAND_WRITTEN_CHART_FILES = ["README.md"];

const under = (dir: string, files: Record<string, string>) =>
  Object.fromEntries(Object.entries(files).map(([path, content]) => [`${dir}/${path}`, content]));

export function generatedFiles(): Record<string, string> {
  return {
    [MANIFEST_PATH]: operatorManifest(),
    ...under(CHART_DIR, operatorChartFiles()),
    ...under(CRD_CHART_DIR, crdChartFiles()),
  };
}

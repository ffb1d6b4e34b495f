// The generated files of the repository and their content: one place, used by the generator and by the test that
// fails when a committed file is out of date.
import { helmCrdTemplate, helmPolicyCrdTemplate } from "./helm-crd.ts";
import { operatorManifest } from "./manifest.ts";

export const MANIFEST_PATH = "bottlerocket-update-operator.yaml";
export const CHART_DIR = "deploy/charts/bottlerocket-update-operator";
export const HELM_CRD_TEMPLATE_PATH = `${CHART_DIR}/templates/custom-resource-definition.yaml`;
export const HELM_POLICY_CRD_TEMPLATE_PATH = `${CHART_DIR}/templates/update-policy-crd.yaml`;

export function generatedFiles(): Record<string, string> {
  return {
    [MANIFEST_PATH]: operatorManifest(),
    [HELM_CRD_TEMPLATE_PATH]: helmCrdTemplate(),
    [HELM_POLICY_CRD_TEMPLATE_PATH]: helmPolicyCrdTemplate(),
  };
}

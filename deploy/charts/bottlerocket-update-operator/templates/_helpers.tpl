{{/* Labels of an object of one component (argument: agent, apiserver or brupop-controller). */}}
{{- define "brupop.labels" -}}
app.kubernetes.io/component: {{ . }}
app.kubernetes.io/managed-by: brupop
app.kubernetes.io/part-of: brupop
brupop.bottlerocket.aws/component: {{ . }}
{{- end }}

{{- define "brupop.operatorLabels" -}}
app.kubernetes.io/managed-by: brupop
app.kubernetes.io/part-of: brupop
{{- end }}

{{/* Pod template labels: podLabels, never overriding the component's own (argument: list of component and root). */}}
{{- define "brupop.podLabels" -}}
{{- $component := index . 0 -}}
{{- $root := index . 1 -}}
{{- toYaml (merge (fromYaml (include "brupop.labels" $component)) (deepCopy $root.Values.podLabels)) }}
{{- end }}

{{/* Linux on amd64/arm64, plus extra match expressions (argument: a list, possibly empty). */}}
{{- define "brupop.platformRequirements" -}}
- key: kubernetes.io/os
  operator: In
  values: [linux]
- key: kubernetes.io/arch
  operator: In
  values: [amd64, arm64]
{{- end }}

{{- define "brupop.imagePullSecrets" -}}
{{- with .Values.image_pull_secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* tolerations, nodeSelector, priorityClassName of a placement (argument: the placement). */}}
{{- define "brupop.placement" -}}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "brupop.restrictedSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
{{- end }}

{{- define "brupop.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "brupop.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- end }}

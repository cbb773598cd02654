{{/* Which governor commands this release runs (the Deployment's, and each enabled CronJob's). */}}
{{- define "governor.runs" -}}
{{- $c := .Values.cronJobs -}}
{{- $runs := list -}}
{{- if or (eq .Values.command "reap node") $c.nodeReaper.enabled }}{{ $runs = append $runs "node" }}{{ end -}}
{{- if or (eq .Values.command "reap pod") $c.podReaper.enabled }}{{ $runs = append $runs "pod" }}{{ end -}}
{{- if or (eq .Values.command "reap pdb") $c.pdbReaper.enabled }}{{ $runs = append $runs "pdb" }}{{ end -}}
{{- toYaml $runs -}}
{{- end }}

{{- define "governor.stateConfigMap" -}}
{{- .Values.stateConfigMap | default (printf "%s-state" (include "keiko-lib.fullname" .)) -}}
{{- end }}

{{/* Flags every governor run gets from the chart, before the user's own. */}}
{{- define "governor.commonArgs" -}}
{{- toYaml (list (printf "--disruption-lock-namespace=%s" .Values.disruptionLock.namespace) (printf "--state-configmap=%s" (include "governor.stateConfigMap" .))) -}}
{{- end }}

{{/* Environment: AWS settings, and the node the pod runs on (never reaped). */}}
{{- define "governor.env" -}}
{{- $env := include "keiko-lib.awsEnv" . | fromYamlArray -}}
{{- if .Values.nodeName }}
{{- $env = append $env (dict "name" "NODE_NAME" "valueFrom" (dict "fieldRef" (dict "fieldPath" "spec.nodeName"))) -}}
{{- end }}
{{- toYaml $env -}}
{{- end }}

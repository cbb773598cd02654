{{/* The NOTES.txt every tool chart prints after install. */}}
{{- define "keiko-lib.notes" -}}
{{ .Chart.Name }} {{ .Chart.AppVersion }} is installed in namespace {{ .Release.Namespace }} as release {{ .Release.Name }}.

  kubectl -n {{ .Release.Namespace }} get deploy,pods -l app.kubernetes.io/instance={{ .Release.Name }}
  kubectl -n {{ .Release.Namespace }} logs deploy/{{ include "keiko-lib.fullname" . }}
{{- if .Values.leaderElection.enabled }}
  kubectl -n {{ .Release.Namespace }} get lease {{ include "keiko-lib.leaseName" . }}   # which replica leads
{{- end }}
{{- if .Values.dryRun }}

dryRun is on: the controller reports what it would do and changes nothing.
{{- end }}
{{- end }}

{{/*
The controller's ServiceAccount. On EKS, serviceAccount.annotations carries the IRSA role
(eks.amazonaws.com/role-arn); with EKS Pod Identity no annotation is needed.
*/}}
{{- define "keiko-lib.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "keiko-lib.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

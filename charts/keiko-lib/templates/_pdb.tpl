{{/*
An optional PodDisruptionBudget. With leader election the standby replica takes over within a lease
duration, so keeping one replica up through node drains is what matters; maxUnavailable 1 does that
for the default two replicas without blocking a drain when only one is running.
*/}}
{{- define "keiko-lib.podDisruptionBudget" -}}
{{- if .Values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "keiko-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "keiko-lib.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

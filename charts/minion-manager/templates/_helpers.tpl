{{- define "minion-manager.statusConfigMap" -}}
{{- .Values.status.configMap | default (printf "%s-status" (include "keiko-lib.fullname" .)) -}}
{{- end }}

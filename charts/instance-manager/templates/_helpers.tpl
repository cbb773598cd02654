{{/* The namespace of the managed defaults ConfigMap: managedConfig.namespace, or the release namespace. */}}
{{- define "instance-manager.configNamespace" -}}
{{- default .Release.Namespace .Values.managedConfig.namespace }}
{{- end }}

{{/* instance-manager's own flags, from values; after the runtime flags, before extraArgs. */}}
{{- define "instance-manager.args" -}}
- --config-namespace={{ include "instance-manager.configNamespace" . }}
- --config-name={{ .Values.managedConfig.name }}
- --drain-timeout={{ int .Values.drainTimeoutSeconds }}
- --template-retention={{ int .Values.templateRetention }}
- --aws-cache-ttl={{ int .Values.awsCacheTtlSeconds }}
- --resync={{ int .Values.resyncSeconds }}
- --disruption-lock-namespace={{ .Values.disruptionLock.namespace }}
{{- end }}

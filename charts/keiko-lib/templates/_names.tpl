{{/*
Names and labels. Every keiko-lib template is called with the tool chart's context, so .Chart is the
tool chart (upgrade-manager), never keiko-lib.
*/}}

{{/* The chart name, or nameOverride. Truncated to 63: object names and label values are DNS labels. */}}
{{- define "keiko-lib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: "<release>-<chart>", or just the release name when it already
contains the chart name (helm install upgrade-manager charts/upgrade-manager -> "upgrade-manager").
*/}}
{{- define "keiko-lib.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels that select this release's pods. Never change them: a Deployment's selector is immutable. */}}
{{- define "keiko-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keiko-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object; the tests find what a release left behind by app.kubernetes.io/instance. */}}
{{- define "keiko-lib.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keiko-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keiko
app.kubernetes.io/component: {{ .Chart.Name }}
{{- end }}

{{/*
The ServiceAccount the controller runs as. Without serviceAccount.create a name is required: falling
back to the namespace's "default" account would bind the controller's ClusterRole to every pod that
runs as it.
*/}}
{{- define "keiko-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keiko-lib.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Lease the replicas elect a leader on; the leader-election Role grants get/update on this name only. */}}
{{- define "keiko-lib.leaseName" -}}
{{- default (printf "%s-leader" (include "keiko-lib.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/* repository@digest when a digest is pinned, else repository:tag (tag defaults to the chart's appVersion). */}}
{{- define "keiko-lib.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
AWS_REGION and AWS_ENDPOINT_URL from .Values.aws, for the tools that call AWS; as a YAML list of
EnvVar to pass in the deployment's "env". Empty values are left out so the SDK's own chain applies.
*/}}
{{- define "keiko-lib.awsEnv" -}}
{{- $env := list }}
{{- with .Values.aws.region }}
{{- $env = append $env (dict "name" "AWS_REGION" "value" .) }}
{{- end }}
{{- with .Values.aws.endpoint }}
{{- $env = append $env (dict "name" "AWS_ENDPOINT_URL" "value" .) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

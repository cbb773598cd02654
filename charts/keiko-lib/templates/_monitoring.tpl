{{/*
What operators expect around the metrics: a Grafana dashboard (a ConfigMap the Grafana sidecar of
kube-prometheus-stack loads: label grafana_dashboard: "1") and prometheus-operator PrometheusRule
alerts, each behind its values flag (metrics.dashboard.enabled, metrics.prometheusRule.enabled; both
off by default).

Every Keiko controller serves the same runtime metrics (packages/kube-runtime/src/metrics.ts:
controller_runtime_*, workqueue_*, leader_election_master_status, rest_client_*, process_* and nodejs_*)
and, when it calls AWS (the chart has `aws` values), the AWS call metrics (packages/aws/src/metrics.ts:
keiko_aws_*). The panels and alerts on those are here; a tool chart adds its own on top:

  include "keiko-lib.dashboard" (dict "context" . "panels" (include "<tool>.dashboardPanels" . | fromYamlArray))
  include "keiko-lib.prometheusRule" (dict "context" . "rules" (include "<tool>.alertRules" . | fromYamlArray))

charts/test/monitoring.test.ts checks that every metric a dashboard or alert queries is served by the
controller's /metrics.
*/}}

{{/*
PromQL label matchers (no braces) selecting this release's series in alerts: metrics.prometheusRule.selector,
else the labels the ServiceMonitor's scrape gives them (job = the metrics Service, namespace = the release's).
*/}}
{{- define "keiko-lib.metricsSelector" -}}
{{- default (printf "job=%q,namespace=%q" (printf "%s-metrics" (include "keiko-lib.fullname" .)) .Release.Namespace) .Values.metrics.prometheusRule.selector }}
{{- end }}

{{/* The prefix of this chart's alert names: Keiko + the chart name in CamelCase (KeikoUpgradeManager). */}}
{{- define "keiko-lib.alertPrefix" -}}
{{- printf "Keiko%s" (.Chart.Name | replace "-" "_" | camelcase) }}
{{- end }}

{{/*
The dashboard panels every controller shares. A panel: title, description, unit (Grafana unit id),
targets [{expr, legend}], optional width (of 24; default 12) and type (default timeseries); a
`row: <title>` item starts a new row. Queries select the dashboard's $namespace and $job.
*/}}
{{- define "keiko-lib.dashboardPanels" -}}
- row: Reconciles
- title: Reconciles per second
  description: Finished reconciles by controller and result (success, error, requeue, requeue_after).
  unit: ops
  targets:
    - expr: 'sum by (controller, result) (rate(controller_runtime_reconcile_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{controller}} {{result}}`}}'
- title: Reconcile errors per second
  description: Reconciles that returned an error (retried with backoff), terminal errors (not retried), panics and timeouts.
  unit: ops
  targets:
    - expr: 'sum by (controller) (rate(controller_runtime_reconcile_errors_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{controller}} errors`}}'
    - expr: 'sum by (controller) (rate(controller_runtime_terminal_reconcile_errors_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{controller}} terminal`}}'
    - expr: 'sum by (controller) (rate(controller_runtime_reconcile_panics_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{controller}} panics`}}'
    - expr: 'sum by (controller) (rate(controller_runtime_reconcile_timeouts_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{controller}} timeouts`}}'
- title: Reconcile duration (p50, p99)
  unit: s
  targets:
    - expr: 'histogram_quantile(0.5, sum by (le, controller) (rate(controller_runtime_reconcile_time_seconds_bucket{namespace="$namespace",job="$job"}[$__rate_interval])))'
      legend: '{{`{{controller}} p50`}}'
    - expr: 'histogram_quantile(0.99, sum by (le, controller) (rate(controller_runtime_reconcile_time_seconds_bucket{namespace="$namespace",job="$job"}[$__rate_interval])))'
      legend: '{{`{{controller}} p99`}}'
- title: Workers in use
  description: Reconciles running now against the controller's --concurrency.
  targets:
    - expr: 'sum by (controller) (controller_runtime_active_workers{namespace="$namespace",job="$job"})'
      legend: '{{`{{controller}} active`}}'
    - expr: 'max by (controller) (controller_runtime_max_concurrent_reconciles{namespace="$namespace",job="$job"})'
      legend: '{{`{{controller}} max`}}'
- row: Work queue
- title: Work-queue depth
  description: Keys waiting for a worker. Growing while workers are busy means the controller falls behind.
  targets:
    - expr: 'sum by (name) (workqueue_depth{namespace="$namespace",job="$job"})'
      legend: '{{`{{name}}`}}'
- title: Time in queue (p99) and longest running reconcile
  unit: s
  targets:
    - expr: 'histogram_quantile(0.99, sum by (le, name) (rate(workqueue_queue_duration_seconds_bucket{namespace="$namespace",job="$job"}[$__rate_interval])))'
      legend: '{{`{{name}} queued p99`}}'
    - expr: 'max by (name) (workqueue_longest_running_processor_seconds{namespace="$namespace",job="$job"})'
      legend: '{{`{{name}} longest running`}}'
- title: Work-queue adds and retries per second
  unit: ops
  targets:
    - expr: 'sum by (name) (rate(workqueue_adds_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{name}} adds`}}'
    - expr: 'sum by (name) (rate(workqueue_retries_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{name}} retries`}}'
- title: Leader
  description: 1 on the replica holding the Lease; 0 on replicas standing by. No 1 at all means nobody reconciles.
  targets:
    - expr: 'max by (name, pod) (leader_election_master_status{namespace="$namespace",job="$job"})'
      legend: '{{`{{pod}}`}}'
- row: Kubernetes API
- title: API server requests per second
  unit: reqps
  targets:
    - expr: 'sum by (method, code) (rate(rest_client_requests_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{method}} {{code}}`}}'
- title: API server request duration (p99)
  unit: s
  targets:
    - expr: 'histogram_quantile(0.99, sum by (le, verb) (rate(rest_client_request_duration_seconds_bucket{namespace="$namespace",job="$job"}[$__rate_interval])))'
      legend: '{{`{{verb}}`}}'
{{- if hasKey .Values "aws" }}
- row: AWS
- title: AWS requests per second
  description: Every HTTP attempt (SDK retries included), by service and outcome (success, throttled, error).
  unit: reqps
  targets:
    - expr: 'sum by (service, outcome) (rate(keiko_aws_api_calls_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{service}} {{outcome}}`}}'
- title: AWS throttles per second
  description: Requests AWS answered with a throttling error; the SDK backs off and retries.
  unit: reqps
  targets:
    - expr: 'sum by (service, operation) (rate(keiko_aws_throttles_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{service}} {{operation}}`}}'
- title: AWS request duration (p99)
  unit: s
  width: 24
  targets:
    - expr: 'histogram_quantile(0.99, sum by (le, service, operation) (rate(keiko_aws_api_call_duration_seconds_bucket{namespace="$namespace",job="$job"}[$__rate_interval])))'
      legend: '{{`{{service}} {{operation}}`}}'
{{- end }}
- row: Process
- title: Memory
  unit: bytes
  targets:
    - expr: 'sum by (pod) (process_resident_memory_bytes{namespace="$namespace",job="$job"})'
      legend: '{{`{{pod}} resident`}}'
    - expr: 'sum by (pod) (nodejs_heap_size_used_bytes{namespace="$namespace",job="$job"})'
      legend: '{{`{{pod}} heap used`}}'
- title: CPU and event-loop lag (p99)
  unit: s
  targets:
    - expr: 'sum by (pod) (rate(process_cpu_seconds_total{namespace="$namespace",job="$job"}[$__rate_interval]))'
      legend: '{{`{{pod}} CPU s/s`}}'
    - expr: 'max by (pod) (nodejs_eventloop_lag_p99_seconds{namespace="$namespace",job="$job"})'
      legend: '{{`{{pod}} event-loop lag p99`}}'
{{- end }}

{{/*
The Grafana dashboard: a ConfigMap with one JSON file, labelled grafana_dashboard: "1" for the sidecar.
Call with (dict "context" . "panels" <the tool's panels, same shape as keiko-lib.dashboardPanels>).
*/}}
{{- define "keiko-lib.dashboard" -}}
{{- $ctx := .context }}
{{- $values := $ctx.Values.metrics.dashboard }}
{{- if $values.enabled }}
{{- $fullname := include "keiko-lib.fullname" $ctx }}
{{- $specs := concat (.panels | default list) (include "keiko-lib.dashboardPanels" $ctx | fromYamlArray) }}
{{- $ds := dict "type" "prometheus" "uid" "${datasource}" }}
{{- $refIds := list "A" "B" "C" "D" "E" "F" "G" "H" }}
{{- $panels := list }}
{{- $x := 0 }}
{{- $y := 0 }}
{{- $id := 0 }}
{{- range $spec := $specs }}
{{- if not (kindIs "map" $spec) }}
{{- fail (printf "keiko-lib.dashboard: a panel must be a map, got %v" $spec) }}
{{- end }}
{{- $id = add1 $id }}
{{- if hasKey $spec "row" }}
{{- if gt $x 0 }}
{{- $x = 0 }}
{{- $y = add $y 8 }}
{{- end }}
{{- $panels = append $panels (dict "type" "row" "id" $id "title" $spec.row "collapsed" false "panels" list "gridPos" (dict "h" 1 "w" 24 "x" 0 "y" $y)) }}
{{- $y = add1 $y }}
{{- else }}
{{- $w := int (default 12 $spec.width) }}
{{- if gt (add $x $w) 24 }}
{{- $x = 0 }}
{{- $y = add $y 8 }}
{{- end }}
{{- $targets := list }}
{{- range $i, $t := $spec.targets }}
{{- $targets = append $targets (dict "refId" (index $refIds $i) "datasource" $ds "expr" $t.expr "legendFormat" (default "__auto" $t.legend) "range" true) }}
{{- end }}
{{- $panel := dict "type" (default "timeseries" $spec.type) "id" $id "title" $spec.title "description" (default "" $spec.description) "datasource" $ds "targets" $targets "gridPos" (dict "h" 8 "w" $w "x" $x "y" $y) }}
{{- $_ := set $panel "fieldConfig" (dict "defaults" (dict "unit" (default "short" $spec.unit) "custom" (dict "fillOpacity" 10 "showPoints" "never")) "overrides" list) }}
{{- $_ := set $panel "options" (dict "legend" (dict "displayMode" "list" "placement" "bottom" "showLegend" true) "tooltip" (dict "mode" "multi" "sort" "desc")) }}
{{- $panels = append $panels $panel }}
{{- $x = add $x $w }}
{{- end }}
{{- end }}
{{- $namespaceQuery := "label_values(controller_runtime_max_concurrent_reconciles, namespace)" }}
{{- $jobQuery := `label_values(controller_runtime_max_concurrent_reconciles{namespace="$namespace"}, job)` }}
{{- $job := printf "%s-metrics" $fullname }}
{{- $templating := list
  (dict "name" "datasource" "label" "Data source" "type" "datasource" "query" "prometheus" "hide" 0 "refresh" 1 "current" (dict))
  (dict "name" "namespace" "label" "Namespace" "type" "query" "datasource" $ds "definition" $namespaceQuery "query" (dict "query" $namespaceQuery "refId" "namespace") "refresh" 2 "sort" 1 "hide" 0 "current" (dict "text" $ctx.Release.Namespace "value" $ctx.Release.Namespace))
  (dict "name" "job" "label" "Job" "type" "query" "datasource" $ds "definition" $jobQuery "query" (dict "query" $jobQuery "refId" "job") "refresh" 2 "sort" 1 "hide" 0 "current" (dict "text" $job "value" $job)) }}
{{- $uid := printf "keiko-%s-%s" ($fullname | trunc 24 | trimSuffix "-") (printf "%s/%s" $ctx.Release.Namespace $fullname | sha256sum | trunc 8) }}
{{- $dashboard := dict "uid" $uid "title" (printf "Keiko / %s" $fullname) "description" (printf "%s %s in namespace %s" $ctx.Chart.Name $ctx.Chart.AppVersion $ctx.Release.Namespace) "tags" (list "keiko" $ctx.Chart.Name) "editable" true "graphTooltip" 1 "refresh" "30s" "schemaVersion" 39 "time" (dict "from" "now-6h" "to" "now") "timezone" "browser" "templating" (dict "list" $templating) "annotations" (dict "list" list) "panels" $panels }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $fullname }}-dashboard
  namespace: {{ default $ctx.Release.Namespace $values.namespace }}
  labels:
    {{- include "keiko-lib.labels" $ctx | nindent 4 }}
    {{- with $values.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    grafana_dashboard: "1"
  {{- with $values.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
data:
  {{ $fullname }}.json: |-
    {{- toPrettyJson $dashboard | nindent 4 }}
{{- end }}
{{- end }}

{{/*
The alerts every controller shares. $m: the release's label matchers (keiko-lib.metricsSelector).
Descriptions use Prometheus' own templating ({{ $labels.x }}), escaped from Helm.
*/}}
{{- define "keiko-lib.alertRules" -}}
{{- $m := include "keiko-lib.metricsSelector" . }}
{{- $p := include "keiko-lib.alertPrefix" . }}
{{- $r := .Values.metrics.prometheusRule }}
- alert: {{ $p }}ReconcileErrors
  expr: |-
    sum by (namespace, job, controller) (rate(controller_runtime_reconcile_errors_total{ {{- $m -}} }[5m]))
      / sum by (namespace, job, controller) (rate(controller_runtime_reconcile_total{ {{- $m -}} }[5m]))
      > {{ $r.reconcileErrorRatio }}
  for: 15m
  labels:
    severity: warning
  annotations:
    summary: {{ .Chart.Name }} reconciles keep failing.
    description: '{{`{{ $value | humanizePercentage }}`}} of the {{`{{ $labels.controller }}`}} controller''s reconciles in {{`{{ $labels.namespace }}/{{ $labels.job }}`}} returned an error over the last 15 minutes. Its logs and the objects'' Events say why.'
- alert: {{ $p }}WorkQueueDepthHigh
  expr: |-
    max by (namespace, job, name) (workqueue_depth{ {{- $m -}} }) > {{ $r.workQueueDepth }}
  for: 15m
  labels:
    severity: warning
  annotations:
    summary: {{ .Chart.Name }} falls behind its work queue.
    description: 'The {{`{{ $labels.name }}`}} work queue of {{`{{ $labels.namespace }}/{{ $labels.job }}`}} has held more than {{ $r.workQueueDepth }} keys for 15 minutes ({{`{{ $value }}`}} now). Raise concurrency, or look for slow reconciles and API throttling.'
- alert: {{ $p }}ReconcileStuck
  expr: |-
    max by (namespace, job, name) (workqueue_longest_running_processor_seconds{ {{- $m -}} }) > 600
  for: 5m
  labels:
    severity: warning
  annotations:
    summary: One {{ .Chart.Name }} reconcile has been running for more than 10 minutes.
    description: 'One reconcile of the {{`{{ $labels.name }}`}} queue in {{`{{ $labels.namespace }}/{{ $labels.job }}`}} has been running for {{`{{ $value | humanizeDuration }}`}}.'
{{- if .Values.leaderElection.enabled }}
{{- $lease := printf "%s,name=%q" $m (include "keiko-lib.leaseName" .) }}
- alert: {{ $p }}LeaderAbsent
  expr: |-
    max(leader_election_master_status{ {{- $lease -}} }) < 1
      or absent(leader_election_master_status{ {{- $lease -}} })
  for: 5m
  labels:
    severity: critical
  annotations:
    summary: No {{ .Chart.Name }} replica leads, so nothing is reconciled.
    description: 'No replica of {{ include "keiko-lib.fullname" . }} has held the Lease {{ .Release.Namespace }}/{{ include "keiko-lib.leaseName" . }} for 5 minutes: pods down, not scraped, or unable to renew the Lease (API server access, RBAC).'
{{- end }}
{{- if hasKey .Values "aws" }}
- alert: {{ $p }}AwsThrottling
  expr: |-
    sum by (namespace, job, service) (rate(keiko_aws_throttles_total{ {{- $m -}} }[5m]))
      / sum by (namespace, job, service) (rate(keiko_aws_api_calls_total{ {{- $m -}} }[5m]))
      > {{ $r.awsThrottleRatio }}
  for: 15m
  labels:
    severity: warning
  annotations:
    summary: AWS throttles {{ .Chart.Name }}'s {{`{{ $labels.service }}`}} calls.
    description: '{{`{{ $value | humanizePercentage }}`}} of {{`{{ $labels.namespace }}/{{ $labels.job }}`}}''s {{`{{ $labels.service }}`}} requests were throttled over the last 15 minutes; the SDK retries, so work slows down. Other tools of the account share the limits.'
{{- end }}
{{- end }}

{{/*
The PrometheusRule: the shared alerts and the tool's (same shape as keiko-lib.alertRules), each with
metrics.prometheusRule.alertLabels. Call with (dict "context" . "rules" <the tool's rules>).
*/}}
{{- define "keiko-lib.prometheusRule" -}}
{{- $ctx := .context }}
{{- $values := $ctx.Values.metrics.prometheusRule }}
{{- if $values.enabled }}
{{- $rules := concat (include "keiko-lib.alertRules" $ctx | fromYamlArray) (.rules | default list) }}
{{- range $rule := $rules }}
{{- if not (kindIs "map" $rule) }}
{{- fail (printf "keiko-lib.prometheusRule: a rule must be a map, got %v" $rule) }}
{{- end }}
{{- $_ := set $rule "labels" (merge (dict) ($values.alertLabels | default dict) ($rule.labels | default dict)) }}
{{- end }}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "keiko-lib.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" $ctx | nindent 4 }}
    {{- with $values.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    - name: {{ include "keiko-lib.fullname" $ctx }}
      rules:
        {{- toYaml $rules | nindent 8 }}
{{- end }}
{{- end }}

{{/*
The controller's Deployment. Call it with the chart context, or with a dict when the tool adds its
own container arguments or environment:

  {{- include "keiko-lib.deployment" (dict "context" . "args" (list "--sqs-queue=x") "env" (include "upgrade-manager.env" . | fromYamlArray)) }}

"args" go after the runtime flags and before .Values.extraArgs (so a user can still override them:
the last occurrence of a flag wins); "env" goes after POD_NAMESPACE/POD_NAME and before .Values.extraEnv.
"leadingArgs" go first, before every flag: a subcommand (governor's `reap node`).
"volumes" and "volumeMounts" add the tool's own (active-monitor's ConfigMap of workflows) beside /tmp.
*/}}
{{- define "keiko-lib.deployment" -}}
{{- $top := . }}
{{- $toolArgs := list }}
{{- $toolEnv := list }}
{{- $leadingArgs := list }}
{{- $toolVolumes := list }}
{{- $toolMounts := list }}
{{- if hasKey . "context" }}
{{- $toolVolumes = .volumes | default list }}
{{- $toolMounts = .volumeMounts | default list }}
{{- $leadingArgs = .leadingArgs | default list }}
{{- $top = .context }}
{{- $toolArgs = .args | default list }}
{{- $toolEnv = .env | default list }}
{{- end }}
{{- with $top }}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicas is %d but leaderElection.enabled is false: more than one replica without leader election would reconcile every object concurrently; set replicas: 1 or enable leader election" (int .Values.replicas)) }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail (printf "metrics.port and health.port are both %d: the controller serves /metrics and /healthz on separate ports" (int .Values.metrics.port)) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "keiko-lib.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "keiko-lib.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "keiko-lib.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "keiko-lib.serviceAccountName" . }}
      # The controller talks to the apiserver with this account's token: the chart's RBAC is all it may do.
      automountServiceAccountToken: true
      {{- with .Values.image.pullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      # Kubernetes sends SIGTERM, the controller finishes in-flight reconciles for shutdownGracePeriodSeconds
      # and releases its Lease; the extra 15s keep SIGKILL from cutting that short.
      terminationGracePeriodSeconds: {{ add (int .Values.shutdownGracePeriodSeconds) 15 }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      containers:
        - name: controller
          image: {{ include "keiko-lib.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args:
            {{- range $leadingArgs }}
            - {{ . | quote }}
            {{- end }}
            - --leader-elect={{ .Values.leaderElection.enabled }}
            {{- if .Values.leaderElection.enabled }}
            - --leader-election-id={{ include "keiko-lib.leaseName" . }}
            - --leader-election-namespace={{ .Release.Namespace }}
            {{- end }}
            - --metrics-port={{ .Values.metrics.port }}
            - --health-port={{ .Values.health.port }}
            - --log-level={{ .Values.logLevel }}
            - --log-format={{ .Values.logFormat }}
            - --concurrency={{ .Values.concurrency }}
            - --shutdown-grace={{ .Values.shutdownGracePeriodSeconds }}
            {{- with .Values.watchNamespace }}
            - --namespace={{ . }}
            {{- end }}
            - --dry-run={{ .Values.dryRun }}
            {{- range $toolArgs }}
            - {{ . | quote }}
            {{- end }}
            {{- range .Values.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            # The runtime's defaults for the Lease namespace and the leader identity come from these.
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- with $toolEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with .Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: metrics
              containerPort: {{ .Values.metrics.port }}
              protocol: TCP
            - name: health
              containerPort: {{ .Values.health.port }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: health
            initialDelaySeconds: 10
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          # A standby replica (not the leader) is ready too: it serves metrics and can take over at once.
          readinessProbe:
            httpGet:
              path: /readyz
              port: health
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          volumeMounts:
            # The root filesystem is read-only; Node and the AWS SDK may still want a scratch directory.
            - name: tmp
              mountPath: /tmp
            {{- with $toolMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with $toolVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- include "keiko-lib.topologySpreadConstraints" $top | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
topologySpreadConstraints from values, each given this release's selector when it names none, so the
defaults in values.yaml need no labels and a user's own constraints cannot forget them.
*/}}
{{- define "keiko-lib.topologySpreadConstraints" -}}
{{- $selector := include "keiko-lib.selectorLabels" . | fromYaml }}
{{- $out := list }}
{{- range .Values.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}

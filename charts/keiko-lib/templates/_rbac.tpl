{{/*
RBAC. A tool chart states the rules its controller needs and keiko-lib renders them; every chart
gets the same leader-election Role. Wildcards are refused at render time: a rule with "*" in its
apiGroups, resources or verbs makes `helm template` fail (charts/test checks the rendered output too).
*/}}

{{/* Fails the render when any rule in the list grants "*" anywhere in a name, e.g. a subresource pattern as well as a plain "*". */}}
{{- define "keiko-lib.assertNoWildcards" -}}
{{- range $i, $rule := . }}
{{- range $field := list "apiGroups" "resources" "verbs" "nonResourceURLs" }}
{{- range (get $rule $field | default list) }}
{{- if contains "*" (toString .) }}
{{- fail (printf "RBAC rule %d grants %q in %s: Keiko charts list exactly what the controller needs, never wildcards" $i (toString .) $field) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The controller's ClusterRole and its binding to the ServiceAccount. Call it with the rules:

  {{- include "keiko-lib.clusterRole" (dict "context" . "rules" (include "upgrade-manager.rules" . | fromYamlArray)) }}
*/}}
{{- define "keiko-lib.clusterRole" -}}
{{- $top := .context }}
{{- $rules := .rules }}
{{- include "keiko-lib.assertNoWildcards" $rules }}
{{- with $top }}
{{- if .Values.rbac.create }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "keiko-lib.fullname" . }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
rules:
  {{- toYaml $rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "keiko-lib.fullname" . }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "keiko-lib.fullname" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "keiko-lib.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Leader election: a Role in the release namespace for the Lease (create, plus get/update on the one
Lease name the Deployment passes in --leader-election-id) and for Events there.
*/}}
{{- define "keiko-lib.leaderElectionRbac" -}}
{{- if and .Values.rbac.create .Values.leaderElection.enabled }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "keiko-lib.fullname" . }}-leader-election
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
rules:
  # create cannot be limited by name: the name is not known to the authorizer before the object exists.
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [{{ include "keiko-lib.leaseName" . | quote }}]
    verbs: [get, update]
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "keiko-lib.fullname" . }}-leader-election
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "keiko-lib.fullname" . }}-leader-election
subjects:
  - kind: ServiceAccount
    name: {{ include "keiko-lib.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The per-group disruption locks every Keiko node tool shares (packages/node-ops group-lock.ts): Leases
in one namespace (disruptionLock.namespace, kube-node-lease by default, which every cluster has). Every
tool of a cluster must use the same namespace. The Lease names are hashes of the groups' names, so
get/update/delete cannot be limited by name; nothing else in that namespace is touched.
*/}}
{{- define "keiko-lib.disruptionLockRbac" -}}
{{- if .Values.rbac.create }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "keiko-lib.fullname" . }}-disruption-lock
  namespace: {{ .Values.disruptionLock.namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
rules:
  # Take (create, or update a free one with a resourceVersion guard), renew (update), read (get) and
  # give back (delete with preconditions) a group's lock.
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, create, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "keiko-lib.fullname" . }}-disruption-lock
  namespace: {{ .Values.disruptionLock.namespace }}
  labels:
    {{- include "keiko-lib.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "keiko-lib.fullname" . }}-disruption-lock
subjects:
  - kind: ServiceAccount
    name: {{ include "keiko-lib.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- end }}

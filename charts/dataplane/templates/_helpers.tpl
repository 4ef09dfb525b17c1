{{- define "dataplane.name" -}}
{{- .Chart.Name }}
{{- end }}

{{/* <release>-<component>; the release name alone prefixes, so `dataplane` gives dataplane-trino. */}}
{{- define "dataplane.component" -}}
{{- $ := index . 0 -}}
{{- printf "%s-%s" $.Release.Name (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dataplane.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lakeplane
{{- end }}

{{- define "dataplane.labels" -}}
{{ include "dataplane.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component's objects: include with (list $ "trino" "coordinator"). */}}
{{- define "dataplane.componentLabels" -}}
{{ include "dataplane.commonLabels" (index . 0) }}
{{ include "dataplane.selectorLabels" . }}
{{- end }}

{{/* include with (list $ "trino" "coordinator") */}}
{{- define "dataplane.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ $.Release.Name }}
{{- if gt (len .) 2 }}
app.kubernetes.io/component: {{ index . 2 }}
{{- end }}
{{- end }}

{{- define "dataplane.image" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{- define "dataplane.s3SecretName" -}}
{{- default (include "dataplane.component" (list . "s3-credentials")) .Values.objectStore.credentials.existingSecret }}
{{- end }}

{{- define "dataplane.s3Endpoint" -}}
{{- if eq .Values.objectStore.type "seaweedfs" }}
{{- printf "http://%s.%s.svc:8333" (include "dataplane.component" (list . "seaweedfs")) .Release.Namespace }}
{{- else if eq .Values.objectStore.type "minio" }}
{{- printf "http://%s.%s.svc:9000" (include "dataplane.component" (list . "minio")) .Release.Namespace }}
{{- else }}
{{- .Values.objectStore.external.endpoint }}
{{- end }}
{{- end }}

{{- define "dataplane.catalogUri" -}}
{{- if eq .Values.catalog.type "seaweedfs" }}
{{- printf "http://%s.%s.svc:8181" (include "dataplane.component" (list . "seaweedfs")) .Release.Namespace }}
{{- else }}
{{- .Values.catalog.external.uri }}
{{- end }}
{{- end }}

{{- define "dataplane.warehouse" -}}
{{- if eq .Values.catalog.type "seaweedfs" }}
{{- printf "s3://%s/" (first .Values.objectStore.seaweedfs.tableBuckets) }}
{{- else }}
{{- .Values.catalog.external.warehouse }}
{{- end }}
{{- end }}

{{/* S3 credentials and the Iceberg catalog credential, as container env. */}}
{{- define "dataplane.s3Env" -}}
- name: S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "dataplane.s3SecretName" . }}
      key: access-key-id
- name: S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "dataplane.s3SecretName" . }}
      key: secret-access-key
{{- if eq .Values.catalog.type "seaweedfs" }}
{{- /* SeaweedFS takes its S3 key pair as OAuth2 client credentials. */}}
- name: ICEBERG_REST_CREDENTIAL
  value: "$(S3_ACCESS_KEY_ID):$(S3_SECRET_ACCESS_KEY)"
{{- else if eq .Values.catalog.external.security "OAUTH2" }}
- name: ICEBERG_REST_CREDENTIAL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.catalog.external.credentialsSecret }}
      key: credential
{{- end }}
{{- end }}

{{- define "dataplane.validate" -}}
{{- range .Values.spark.workspaceNamespaces }}
{{- if not (hasPrefix $.Values.spark.namespacePrefix .) }}
{{- fail (printf "spark.workspaceNamespaces: %q does not start with spark.namespacePrefix %q" . $.Values.spark.namespacePrefix) }}
{{- end }}
{{- end }}
{{- if and .Values.demo.spark.enabled (not .Values.spark.workspaceNamespaces) }}
{{- fail "demo.spark.enabled needs at least one entry in spark.workspaceNamespaces" }}
{{- end }}
{{- end }}

{{- define "dataplane.podSecurityContext" -}}
{{- $ := index . 0 -}}
{{- $uid := index . 1 -}}
{{- toYaml (merge (dict "runAsUser" $uid "runAsGroup" $uid "fsGroup" $uid) $.Values.podSecurityContext) }}
{{- end }}

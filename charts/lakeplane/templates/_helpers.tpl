{{- define "lakeplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lakeplane.fullname" -}}
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

{{- define "lakeplane.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lakeplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lakeplane
{{- end }}

{{/* Selector labels of one component: include with (list $ "api"). */}}
{{- define "lakeplane.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "lakeplane.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "lakeplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lakeplane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lakeplane.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "lakeplane.securitySecretName" -}}
{{- default (printf "%s-security" (include "lakeplane.fullname" .)) .Values.security.existingSecret }}
{{- end }}

{{/*
Checks the schema cannot express, because they relate two values.
*/}}
{{- define "lakeplane.validate" -}}
{{- if not (has .Values.security.primaryKeyId .Values.security.encryptionKeyIds) }}
{{- fail (printf "security.primaryKeyId %q must be one of security.encryptionKeyIds %v" .Values.security.primaryKeyId .Values.security.encryptionKeyIds) }}
{{- end }}
{{- range .Values.spark.workspaceNamespaces }}
{{- if not (hasPrefix $.Values.spark.namespacePrefix .) }}
{{- fail (printf "spark.workspaceNamespaces: %q does not start with spark.namespacePrefix %q" . $.Values.spark.namespacePrefix) }}
{{- end }}
{{- end }}
{{- end }}

{{/* A scalar, a list of scalars, or a map of those (an inline table, e.g. the OIDC role
mapping) as a TOML value. JSON strings are valid TOML basic strings and quoted keys. */}}
{{- define "lakeplane.tomlValue" -}}
{{- if kindIs "slice" . }}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ toJson $v }}{{ end }}]
{{- else if kindIs "map" . }}{ {{- range $i, $k := keys . | sortAlpha }}{{ if $i }},{{ end }} {{ toJson $k }} = {{ include "lakeplane.tomlValue" (index $ $k) }}{{ end }} }
{{- else }}{{ toJson . }}{{ end }}
{{- end }}

{{/* Lines `key = value` of an options map, in key order. */}}
{{- define "lakeplane.tomlOptions" -}}
{{- range $key, $value := . }}
{{ $key }} = {{ include "lakeplane.tomlValue" $value }}
{{- end }}
{{- end }}

{{/*
Environment shared by every Lakeplane container: the config file and each
secret, always by reference.
*/}}
{{- define "lakeplane.env" -}}
- name: LAKEPLANE_CONFIG
  value: /etc/lakeplane/lakeplane.toml
- name: LAKEPLANE_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
- name: LAKEPLANE_SECURITY__SESSION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "lakeplane.securitySecretName" . }}
      key: {{ .Values.security.sessionKeyKey }}
{{- range .Values.security.encryptionKeyIds }}
- name: LAKEPLANE_SECURITY__ENCRYPTION_KEYS__{{ upper . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lakeplane.securitySecretName" $ }}
      key: encryption-key-{{ . }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "lakeplane.configVolume" -}}
- name: config
  configMap:
    name: {{ include "lakeplane.fullname" . }}-config
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "lakeplane.configMount" -}}
- name: config
  mountPath: /etc/lakeplane
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Pod-level fields shared by the Deployments: include with (list $ .Values.worker). */}}
{{- define "lakeplane.podSpecCommon" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
serviceAccountName: {{ include "lakeplane.serviceAccountName" $ }}
securityContext:
  {{- toYaml $.Values.podSecurityContext | nindent 2 }}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "lakeplane.configVolume" $ | nindent 2 }}
{{- end }}

{{/* Scrape annotations of a pod that serves metrics. */}}
{{- define "lakeplane.scrapeAnnotations" -}}
{{- if .Values.metrics.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* The metrics port of a container. */}}
{{- define "lakeplane.metricsPort" -}}
{{- if .Values.metrics.enabled }}
- name: metrics
  containerPort: {{ .Values.metrics.port }}
  protocol: TCP
{{- end }}
{{- end }}

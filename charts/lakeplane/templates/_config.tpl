{{/*
The Lakeplane config file. Secrets are not here: they reach the process as
LAKEPLANE_<SECTION>__<KEY> variables from Secret references.
*/}}
{{- define "lakeplane.configToml" -}}
# Rendered by the lakeplane Helm chart. Secrets come from the environment:
# LAKEPLANE_DATABASE__URL, LAKEPLANE_SECURITY__SESSION_KEY and
# LAKEPLANE_SECURITY__ENCRYPTION_KEYS__<ID>.

[server]
host = "0.0.0.0"
port = {{ .Values.server.port }}
public_url = {{ toJson .Values.server.publicUrl }}
# Behind TLS: session cookies get Secure.
tls = {{ hasPrefix "https://" .Values.server.publicUrl }}
{{- $proxies := .Values.server.forwardedAllowIps | default list }}
{{- if and (not $proxies) .Values.ingress.enabled }}
{{- $proxies = list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" }}
{{- end }}
# The Ingress controller's X-Forwarded-For is believed from these peers only.
forwarded_allow_ips = {{ include "lakeplane.tomlValue" $proxies }}

[logging]
json = {{ .Values.logging.json }}
access_log = {{ .Values.logging.accessLog }}
level = {{ toJson .Values.logging.level }}

[metrics]
enabled = {{ .Values.metrics.enabled }}
host = "0.0.0.0"
port = {{ .Values.metrics.port }}

[database]

[security]
primary_key_id = {{ toJson .Values.security.primaryKeyId }}
allowed_endpoints = {{ include "lakeplane.tomlValue" .Values.security.allowedEndpoints }}
{{- include "lakeplane.tomlPlugin" (list "object_store" .Values.objectStore) }}
{{- include "lakeplane.tomlPlugin" (list "catalog" .Values.catalog) }}
{{- include "lakeplane.tomlPlugin" (list "auth" .Values.auth) }}
{{- range $name, $choice := .Values.engines }}
{{- if eq $choice.plugin "spark" }}
{{- /* The Spark plugin works in exactly the namespaces where rbac.yaml grants it a Role. */}}
{{- $options := merge (dict "workspace_namespaces" $.Values.spark.workspaceNamespaces) ($choice.options | default dict) }}
{{- $choice = dict "plugin" $choice.plugin "options" $options }}
{{- end }}
{{- include "lakeplane.tomlPlugin" (list (printf "engines.%s" $name) $choice) }}
{{- end }}
{{- end }}

{{/* A [section] with plugin = "...", and its [section.options] when there are any. */}}
{{- define "lakeplane.tomlPlugin" -}}
{{- $section := index . 0 }}
{{- $choice := index . 1 }}

[{{ $section }}]
plugin = {{ toJson $choice.plugin }}
{{- with $choice.options }}

[{{ $section }}.options]
{{- include "lakeplane.tomlOptions" . }}
{{- end }}
{{- end }}

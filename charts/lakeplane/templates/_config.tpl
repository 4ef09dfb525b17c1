{{/*
The Lakeplane config file. Secrets are not here: they reach the process as
LAKEPLANE_<SECTION>__<KEY> variables from Secret references.
*/}}
{{- define "lakeplane.configToml" -}}
# Rendered by the lakeplane Helm chart. Secrets come from the environment:
# LAKEPLANE_DATABASE__URL, LAKEPLANE_SECURITY__SESSION_KEY,
# LAKEPLANE_SECURITY__ENCRYPTION_KEYS__<ID>,
# LAKEPLANE_OBJECT_STORE__OPTIONS__ACCESS_KEY_ID and
# LAKEPLANE_OBJECT_STORE__OPTIONS__SECRET_ACCESS_KEY.

[server]
host = "0.0.0.0"
port = {{ .Values.server.port }}
public_url = {{ toJson .Values.server.publicUrl }}

[database]

[security]
primary_key_id = {{ toJson .Values.security.primaryKeyId }}
allowed_endpoints = {{ include "lakeplane.tomlValue" .Values.security.allowedEndpoints }}

[object_store]
plugin = {{ toJson .Values.objectStore.plugin }}

[object_store.options]
endpoint_url = {{ toJson .Values.objectStore.endpointUrl }}
region = {{ toJson .Values.objectStore.region }}
bucket = {{ toJson .Values.objectStore.bucket }}

[catalog]
plugin = {{ toJson .Values.catalog.plugin }}
{{- with .Values.catalog.options }}

[catalog.options]
{{- include "lakeplane.tomlOptions" . }}
{{- end }}

[auth]
plugin = {{ toJson .Values.auth.plugin }}

[engines.trino]
plugin = {{ toJson .Values.engines.trino.plugin }}
{{- with .Values.engines.trino.options }}

[engines.trino.options]
{{- include "lakeplane.tomlOptions" . }}
{{- end }}

[engines.spark]
plugin = {{ toJson .Values.engines.spark.plugin }}

[engines.spark.options]
{{- include "lakeplane.tomlOptions" (merge (dict "namespace_prefix" .Values.spark.namespacePrefix) (deepCopy .Values.engines.spark.options)) }}
{{- end }}

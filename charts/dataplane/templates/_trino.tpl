{{/* Trino's configuration files, keyed by ConfigMap key. */}}
{{- define "dataplane.trinoConfig" -}}
{{- $t := .Values.trino -}}
{{- $discovery := printf "http://%s:8080" (include "dataplane.component" (list . "trino")) -}}
config-coordinator.properties: |
  coordinator=true
  node-scheduler.include-coordinator=false
  http-server.http.port=8080
  discovery.uri={{ $discovery }}
  query.max-memory={{ $t.queryMaxMemory }}
config-worker.properties: |
  coordinator=false
  http-server.http.port=8080
  discovery.uri={{ $discovery }}
  query.max-memory={{ $t.queryMaxMemory }}
jvm.config: |
  -server
  -XX:InitialRAMPercentage=75
  -XX:MaxRAMPercentage=75
  -XX:G1HeapRegionSize=32M
  -XX:+ExplicitGCInvokesConcurrent
  -XX:+ExitOnOutOfMemoryError
  -XX:+HeapDumpOnOutOfMemoryError
  -XX:HeapDumpPath=/tmp
  -XX:-OmitStackTraceInFastThrow
  -XX:ReservedCodeCacheSize=512M
  -XX:PerMethodRecompilationCutoff=10000
  -XX:PerBytecodeRecompilationCutoff=10000
  -Djdk.attach.allowAttachSelf=true
  -Djdk.nio.maxCachedBufferSize=2000000
  -Dfile.encoding=UTF-8
  -XX:+EnableDynamicAgentLoading
node.properties: |
  node.environment=lakeplane
  node.data-dir=/data/trino
log.properties: |
  io.trino=INFO
catalog-iceberg.properties: |
  connector.name=iceberg
  iceberg.catalog.type=rest
  iceberg.rest-catalog.uri={{ include "dataplane.catalogUri" . }}
  iceberg.rest-catalog.warehouse={{ include "dataplane.warehouse" . }}
  {{- if or (eq .Values.catalog.type "seaweedfs") (eq .Values.catalog.external.security "OAUTH2") }}
  iceberg.rest-catalog.security=OAUTH2
  iceberg.rest-catalog.oauth2.credential=${ENV:ICEBERG_REST_CREDENTIAL}
  {{- end }}
  fs.native-s3.enabled=true
  s3.endpoint={{ include "dataplane.s3Endpoint" . }}
  s3.path-style-access=true
  s3.region={{ .Values.objectStore.region }}
  s3.aws-access-key=${ENV:S3_ACCESS_KEY_ID}
  s3.aws-secret-key=${ENV:S3_SECRET_ACCESS_KEY}
resource-groups.properties: |
  resource-groups.configuration-manager=file
  resource-groups.config-file=/etc/trino/resource-groups.json
resource-groups.json: |
  {{- toPrettyJson $t.resourceGroups | nindent 2 }}
{{- end }}

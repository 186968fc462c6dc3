{{/* Names, labels, images and the environment each service reads. */}}

{{- define "tideflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tideflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", within the 63 characters of a DNS label. */}}
{{- define "tideflow.componentName" -}}
{{- printf "%s-%s" (include "tideflow.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tideflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tideflow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tideflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tideflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tideflow
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The image of a service: {root, service, image (the service's override)}. */}}
{{- define "tideflow.image" -}}
{{- $global := .root.Values.image -}}
{{- $own := .image | default dict -}}
{{- $registry := $own.registry | default $global.registry -}}
{{- $repository := $own.repository | default (printf "%s%s" $global.repositoryPrefix .service) -}}
{{- $tag := $own.tag | default $global.tag | default .root.Chart.AppVersion -}}
{{- if $own.digest -}}
{{- printf "%s%s@%s" (ternary (printf "%s/" $registry) "" (ne $registry "")) $repository $own.digest -}}
{{- else -}}
{{- printf "%s%s:%s" (ternary (printf "%s/" $registry) "" (ne $registry "")) $repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "tideflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tideflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the database URL, Redis URL and admin token the chart manages. */}}
{{- define "tideflow.secretName" -}}
{{- include "tideflow.fullname" . -}}
{{- end -}}

{{- define "tideflow.keysSecretName" -}}
{{- .Values.keys.existingSecret | default (printf "%s-keys" (include "tideflow.fullname" .)) -}}
{{- end -}}

{{- define "tideflow.configName" -}}
{{- printf "%s-config" (include "tideflow.fullname" .) -}}
{{- end -}}

{{/* True when the key file (not KMS) seals secrets: a volume with kek.json is mounted. */}}
{{- define "tideflow.usesKeyFile" -}}
{{- if not .Values.keys.kmsKeyId -}}true{{- end -}}
{{- end -}}

{{/* The in-cluster address of the gateway API (for the executor's egress denylist). */}}
{{- define "tideflow.gatewayHost" -}}
{{- printf "%s.%s.svc" (include "tideflow.componentName" (dict "root" . "component" "gateway")) .Release.Namespace -}}
{{- end -}}

{{/* --- Environment parts: each service takes only the parts its settings class reads. --- */}}

{{- define "tideflow.env.config" -}}
- name: {{ .name }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "tideflow.configName" .root }}
      key: {{ .name }}
{{- end -}}

{{- define "tideflow.env.observability" -}}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_LOG_LEVEL") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_LOG_JSON") }}
{{- end -}}

{{- define "tideflow.env.database" -}}
- name: TIDEFLOW_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret | default (include "tideflow.secretName" .) }}
      key: {{ ternary .Values.database.existingSecretKey "database-url" (ne .Values.database.existingSecret "") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_DATABASE_POOL_MAX_SIZE") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_DATABASE_STATEMENT_TIMEOUT") }}
{{- end -}}

{{- define "tideflow.env.kafka" -}}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_KAFKA_BOOTSTRAP") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_KAFKA_TOPIC_PREFIX") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_KAFKA_PARTITIONS") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_KAFKA_REPLICATION_FACTOR") }}
{{- end -}}

{{- define "tideflow.env.redis" -}}
- name: TIDEFLOW_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret | default (include "tideflow.secretName" .) }}
      key: {{ ternary .Values.redis.existingSecretKey "redis-url" (ne .Values.redis.existingSecret "") }}
{{- end -}}

{{- define "tideflow.env.adminToken" -}}
{{- if or .Values.auth.adminToken .Values.auth.existingSecret }}
- name: TIDEFLOW_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret | default (include "tideflow.secretName" .) }}
      key: {{ ternary .Values.auth.existingSecretKey "admin-token" (ne .Values.auth.existingSecret "") }}
{{- end }}
{{- end -}}

{{- define "tideflow.env.keys" -}}
{{- if .Values.keys.kmsKeyId }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_SECURITY_KMS_KEY_ID") }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_SECURITY_KMS_REGION") }}
{{- if .Values.keys.kmsEndpoint }}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_SECURITY_KMS_ENDPOINT") }}
{{- end }}
{{- else }}
- name: TIDEFLOW_SECURITY_KEY_FILE
  value: /var/lib/tideflow/keys/kek.json
{{- end }}
{{- end -}}

{{/* Which AWS endpoints a workflow's ocr node may name with the executors' credentials:
the executors check it on every attempt, the gateway and collab when a workflow is saved
or published (ocr.awsEndpointHosts). */}}
{{- define "tideflow.env.awsEndpointHosts" -}}
{{ include "tideflow.env.config" (dict "root" . "name" "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS") }}
{{- end -}}

{{/* HOST and PORT of a service's own listener: {root, prefix, port}. */}}
{{- define "tideflow.env.listen" -}}
- name: TIDEFLOW_{{ .prefix }}_HOST
  value: 0.0.0.0
- name: TIDEFLOW_{{ .prefix }}_PORT
  value: {{ .port | quote }}
{{- end -}}

{{/* A map of extra variables, sorted, as env entries. */}}
{{- define "tideflow.env.extra" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
TIDEFLOW_EGRESS_PROTECTED for the services that send requests workflows ask for (executor,
trigger's outbound webhooks): every Service of this release, so a workflow cannot call
Tideflow's own internal endpoints through them (docs/security.md).
*/}}
{{- define "tideflow.env.egressProtected" -}}
{{- $listeners := list -}}
{{- range $name := list "gateway" "approval" "trigger" "collab" "scheduler" "operator" -}}
{{- $v := index $.Values $name -}}
{{- if $v.enabled -}}
{{- $port := ($v.service | default dict).port | default $v.port -}}
{{- $listeners = append $listeners (printf "%s.%s.svc:%v" (include "tideflow.componentName" (dict "root" $ "component" $name)) $.Release.Namespace $port) -}}
{{- end -}}
{{- end -}}
{{- if .Values.executor.enabled -}}
{{- range $pool, $_ := .Values.executor.pools -}}
{{- $listeners = append $listeners (printf "%s.%s.svc:%v" (include "tideflow.componentName" (dict "root" $ "component" (printf "executor-%s" $pool))) $.Release.Namespace $.Values.executor.port) -}}
{{- end -}}
{{- end -}}
- name: TIDEFLOW_EGRESS_PROTECTED
  value: {{ $listeners | toJson | quote }}
{{- end -}}

{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "pulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "pulse.fullname" -}}
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

{{- define "pulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. Call with (dict "ctx" $ "component" "collector"). */}}
{{- define "pulse.labels" -}}
helm.sh/chart: {{ include "pulse.chart" .ctx }}
{{ include "pulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: pulse
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "pulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pulse.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "pulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pulse.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- names of in-chart systems */}}
{{- define "pulse.kafka.name" -}}{{ include "pulse.fullname" . | trunc 40 | trimSuffix "-" }}{{- end }}
{{- define "pulse.clickhouse.name" -}}{{ include "pulse.fullname" . | trunc 20 | trimSuffix "-" }}-ch{{- end }}
{{- define "pulse.keeper.name" -}}{{ include "pulse.fullname" . | trunc 20 | trimSuffix "-" }}-keeper{{- end }}
{{- define "pulse.redis.name" -}}{{ include "pulse.fullname" . | trunc 50 | trimSuffix "-" }}-redis{{- end }}

{{/* ---------------------------------------------------------------- endpoints the services use */}}
{{- define "pulse.kafka.bootstrap" -}}
{{- if .Values.kafka.deploy }}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" (include "pulse.kafka.name" .) .Release.Namespace (ternary 9093 9092 .Values.tls.enabled | int) }}
{{- else }}
{{- required "kafka.external.bootstrapServers is required when kafka.deploy=false" .Values.kafka.external.bootstrapServers }}
{{- end }}
{{- end }}

{{/* The ClickHouse cluster migrations render for: the chart's ClickHouseInstallation cluster, or an existing
cluster named in clickhouse.external.cluster; empty for a single external server. */}}
{{- define "pulse.clickhouse.cluster" -}}
{{- if .Values.clickhouse.deploy }}{{ .Values.clickhouse.cluster }}{{ else }}{{ .Values.clickhouse.external.cluster }}{{ end }}
{{- end }}

{{- define "pulse.clickhouse.host" -}}
{{- printf "clickhouse-%s.%s.svc" (include "pulse.clickhouse.name" .) .Release.Namespace }}
{{- end }}

{{- define "pulse.clickhouse.url" -}}
{{- if .Values.clickhouse.deploy }}
{{- if .Values.tls.enabled }}
{{- printf "https://%s:8443" (include "pulse.clickhouse.host" .) }}
{{- else }}
{{- printf "http://%s:8123" (include "pulse.clickhouse.host" .) }}
{{- end }}
{{- else }}
{{- required "clickhouse.external.url is required when clickhouse.deploy=false" .Values.clickhouse.external.url }}
{{- end }}
{{- end }}

{{- define "pulse.redis.host" -}}
{{- printf "%s.%s.svc" (include "pulse.redis.name" .) .Release.Namespace }}
{{- end }}

{{/* The password is not in the URL: Kubernetes expands $(PULSE_REDIS_PASSWORD) from the Secret-backed variable. */}}
{{- define "pulse.redis.url" -}}
{{- if .Values.redis.deploy }}
{{- printf "%s://:$(PULSE_REDIS_PASSWORD)@%s:6379/%d" (ternary "rediss" "redis" .Values.tls.enabled) (include "pulse.redis.host" .) (.Values.redis.database | int) }}
{{- else }}
{{- $u := required "redis.external.url is required when redis.deploy=false" .Values.redis.external.url }}
{{- regexReplaceAll "^(rediss?://)" $u "${1}:$(PULSE_REDIS_PASSWORD)@" }}
{{- end }}
{{- end }}

{{- define "pulse.s3.endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "http://%s-minio.%s.svc:9000" .Release.Name .Release.Namespace }}
{{- else }}
{{- .Values.s3.endpointUrl }}
{{- end }}
{{- end }}

{{/* The archive's root as ClickHouse reaches it (pulse.archive.collection.url): path style on an
endpoint, AWS's regional virtual host otherwise. */}}
{{- define "pulse.archive.url" -}}
{{- $endpoint := include "pulse.s3.endpoint" . }}
{{- if $endpoint }}
{{- printf "%s/%s/%s/" (trimSuffix "/" $endpoint) .Values.s3.bucket .Values.archiver.prefix }}
{{- else }}
{{- printf "https://%s.s3.%s.amazonaws.com/%s/" .Values.s3.bucket .Values.s3.region .Values.archiver.prefix }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- secrets (existingSecret or chart-made) */}}
{{- define "pulse.secret.clickhouse" -}}{{ default (printf "%s-clickhouse" (include "pulse.fullname" .)) .Values.secrets.clickhouse.existingSecret }}{{- end }}
{{- /* The data source users' passwords (PULSE_ACCESS_<USER>_PASSWORD, read by Grafana, and its _SHA256, read by ClickHouse). */}}
{{- define "pulse.secret.access" -}}{{ default (printf "%s-clickhouse-access" (include "pulse.fullname" .)) .Values.secrets.access.existingSecret }}{{- end }}
{{- /* The variable (and Secret key) of a generated user's password: Grafana's $__env{...}; ClickHouse reads its _SHA256. */}}
{{- define "pulse.access.passwordVar" -}}PULSE_ACCESS_{{ . | upper }}_PASSWORD{{- end }}
{{- define "pulse.secret.redis" -}}{{ default (printf "%s-redis" (include "pulse.fullname" .)) .Values.secrets.redis.existingSecret }}{{- end }}
{{- define "pulse.secret.s3" -}}{{ default (printf "%s-s3" (include "pulse.fullname" .)) .Values.secrets.s3.existingSecret }}{{- end }}

{{/* CA bundle for each system the services talk to. */}}
{{- define "pulse.ca.kafka" -}}
{{- if .Values.kafka.deploy }}{{ include "pulse.kafka.name" . }}-cluster-ca-cert{{ else }}{{ .Values.tls.caSecret }}{{ end }}
{{- end }}

{{/*
The PULSE_* environment shared by every Pulse container: the only way services are configured.
Keep in step with docker-compose.yml (tests/deploy/test_compose.py compares the key sets).
*/}}
{{- define "pulse.env" -}}
- name: PULSE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: PULSE_KAFKA__BOOTSTRAP_SERVERS
  value: {{ include "pulse.kafka.bootstrap" . | quote }}
- name: PULSE_KAFKA__TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: PULSE_KAFKA__SECURITY_PROTOCOL
  value: {{ ternary "SSL" "PLAINTEXT" .Values.tls.enabled | quote }}
- name: PULSE_KAFKA__SSL_CAFILE
  value: {{ ternary "/etc/pulse/tls/kafka/ca.crt" "" .Values.tls.enabled | quote }}
- name: PULSE_KAFKA__SSL_CERTFILE
  value: {{ ternary "/etc/pulse/tls/kafka-client/user.crt" "" (and .Values.tls.enabled .Values.kafka.deploy) | quote }}
- name: PULSE_KAFKA__SSL_KEYFILE
  value: {{ ternary "/etc/pulse/tls/kafka-client/user.key" "" (and .Values.tls.enabled .Values.kafka.deploy) | quote }}
- name: PULSE_CLICKHOUSE__URL
  value: {{ include "pulse.clickhouse.url" . | quote }}
- name: PULSE_CLICKHOUSE__DATABASE
  value: {{ .Values.clickhouse.database | quote }}
- name: PULSE_CLICKHOUSE__USERNAME
  value: {{ .Values.clickhouse.username | quote }}
- name: PULSE_CLICKHOUSE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pulse.secret.clickhouse" . }}
      key: {{ .Values.secrets.clickhouse.passwordKey }}
- name: PULSE_CLICKHOUSE__CA_CERT
  value: {{ ternary "/etc/pulse/tls/clickhouse/ca.crt" "" .Values.tls.enabled | quote }}
- name: PULSE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pulse.secret.redis" . }}
      key: {{ .Values.secrets.redis.passwordKey }}
- name: PULSE_REDIS__URL
  value: {{ include "pulse.redis.url" . | quote }}
- name: PULSE_REDIS__SSL_CA_CERTS
  value: {{ ternary "/etc/pulse/tls/redis/ca.crt" "" .Values.tls.enabled | quote }}
- name: PULSE_S3__ENDPOINT_URL
  value: {{ include "pulse.s3.endpoint" . | quote }}
- name: PULSE_S3__REGION
  value: {{ .Values.s3.region | quote }}
- name: PULSE_S3__BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: PULSE_S3__SSE
  value: {{ .Values.s3.sse | quote }}
- name: PULSE_S3__SSE_KMS_KEY_ID
  value: {{ .Values.s3.sseKmsKeyId | quote }}
- name: PULSE_S3__CA_BUNDLE
  value: {{ ternary "/etc/pulse/tls/s3/ca.crt" "" (and .Values.tls.enabled .Values.tls.s3UsesCaSecret) | quote }}
- name: PULSE_S3__ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "pulse.secret.s3" . }}
      key: {{ .Values.secrets.s3.accessKeyIdKey }}
- name: PULSE_S3__SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "pulse.secret.s3" . }}
      key: {{ .Values.secrets.s3.secretAccessKeyKey }}
- name: PULSE_COLLECTOR__HOST
  value: "0.0.0.0"
- name: PULSE_COLLECTOR__PORT
  value: {{ .Values.collector.port | quote }}
- name: PULSE_COLLECTOR__WORKERS
  value: {{ .Values.collector.workers | quote }}
- name: PULSE_COLLECTOR__MAX_EVENT_BYTES
  value: {{ .Values.collector.maxEventBytes | quote }}
- name: PULSE_COLLECTOR__MAX_BATCH_BYTES
  value: {{ .Values.collector.maxBatchBytes | quote }}
- name: PULSE_COLLECTOR__AUTH
  value: {{ .Values.collector.auth | quote }}
- name: PULSE_COLLECTOR__RATE_LIMIT_EVENTS_PER_S
  value: {{ .Values.collector.rateLimitEventsPerS | int64 | quote }}
- name: PULSE_COLLECTOR__KEY_CACHE_TTL_S
  value: {{ .Values.collector.keyCacheTtlS | quote }}
- name: PULSE_COLLECTOR__DIM_CACHE_SIZE
  value: {{ .Values.collector.dimCacheSize | int64 | quote }}
- name: PULSE_COLLECTOR__DIM_CACHE_TTL_S
  value: {{ .Values.collector.dimCacheTtlS | quote }}
- name: PULSE_COLLECTOR__DELIVERY_TIMEOUT_S
  value: {{ .Values.collector.deliveryTimeoutS | quote }}
- name: PULSE_COLLECTOR__MAX_BUFFERED_EVENTS
  value: {{ .Values.collector.maxBufferedEvents | int64 | quote }}
- name: PULSE_COLLECTOR__RETRY_AFTER_S
  value: {{ .Values.collector.retryAfterS | int64 | quote }}
- name: PULSE_COLLECTOR__MAX_IN_FLIGHT
  value: {{ .Values.collector.maxInFlight | int64 | quote }}
- name: PULSE_COLLECTOR__BODY_READ_TIMEOUT_S
  value: {{ .Values.collector.bodyReadTimeoutS | quote }}
- name: PULSE_COLLECTOR__MAX_HEADER_BYTES
  value: {{ .Values.collector.maxHeaderBytes | int64 | quote }}
- name: PULSE_COLLECTOR__AUTH_FAILURES_PER_MINUTE
  value: {{ .Values.collector.authFailuresPerMinute | int64 | quote }}
- name: PULSE_COLLECTOR__TRUSTED_PROXIES
  value: {{ .Values.collector.trustedProxies | toJson | quote }}
- name: PULSE_COLLECTOR__TLS_CERTFILE
  value: {{ ternary "/etc/pulse/tls/collector/tls.crt" "" .Values.tls.enabled | quote }}
- name: PULSE_COLLECTOR__TLS_KEYFILE
  value: {{ ternary "/etc/pulse/tls/collector/tls.key" "" .Values.tls.enabled | quote }}
- name: PULSE_COLLECTOR__TRACKING_PLANS
  value: /etc/pulse/tracking-plans
- name: PULSE_LOADER__GROUP_ID
  value: {{ .Values.loader.groupId | quote }}
- name: PULSE_LOADER__MAX_BATCH_ROWS
  value: {{ .Values.loader.maxBatchRows | quote }}
- name: PULSE_LOADER__MAX_BATCH_AGE_MS
  value: {{ .Values.loader.maxBatchAgeMs | quote }}
- name: PULSE_LOADER__METRICS_PORT
  value: {{ .Values.loader.metricsPort | quote }}
- name: PULSE_LOADER__DEDUP_MAX_IDS
  value: {{ .Values.loader.dedupMaxIds | int64 | quote }}
- name: PULSE_HOT__GROUP_ID
  value: {{ .Values.hot.groupId | quote }}
- name: PULSE_HOT__METRICS_PORT
  value: {{ .Values.hot.metricsPort | quote }}
- name: PULSE_ARCHIVE__GROUP_ID
  value: {{ .Values.archiver.groupId | quote }}
- name: PULSE_ARCHIVE__METRICS_PORT
  value: {{ .Values.archiver.metricsPort | quote }}
- name: PULSE_ARCHIVE__PREFIX
  value: {{ .Values.archiver.prefix | quote }}
- name: PULSE_STACK__HOME
  value: /tmp/pulse
# The loader/hot/archiver /metrics servers bind this: the pod IP, where probes and Prometheus reach them.
- name: PULSE_STACK__HOST
  value: "0.0.0.0"
{{- end }}

{{/* Volumes every Pulse pod mounts: writable /tmp and the CA bundles. */}}
{{- define "pulse.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- if .Values.tls.enabled }}
- name: ca-kafka
  secret:
    secretName: {{ include "pulse.ca.kafka" . }}
    items: [{key: ca.crt, path: ca.crt}]
{{- if .Values.kafka.deploy }}
- name: kafka-client
  secret:
    secretName: {{ include "pulse.fullname" . }}-app
{{- end }}
- name: ca-clickhouse
  secret:
    secretName: {{ ternary .Values.tls.secrets.clickhouse .Values.tls.caSecret .Values.clickhouse.deploy }}
    items: [{key: ca.crt, path: ca.crt}]
- name: ca-redis
  secret:
    secretName: {{ ternary .Values.tls.secrets.redis .Values.tls.caSecret .Values.redis.deploy }}
    items: [{key: ca.crt, path: ca.crt}]
{{- if .Values.tls.s3UsesCaSecret }}
- name: ca-s3
  secret:
    secretName: {{ .Values.tls.caSecret }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- end }}
{{- end }}

{{- define "pulse.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.enabled }}
- name: ca-kafka
  mountPath: /etc/pulse/tls/kafka
  readOnly: true
{{- if .Values.kafka.deploy }}
- name: kafka-client
  mountPath: /etc/pulse/tls/kafka-client
  readOnly: true
{{- end }}
- name: ca-clickhouse
  mountPath: /etc/pulse/tls/clickhouse
  readOnly: true
- name: ca-redis
  mountPath: /etc/pulse/tls/redis
  readOnly: true
{{- if .Values.tls.s3UsesCaSecret }}
- name: ca-s3
  mountPath: /etc/pulse/tls/s3
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level fields shared by every Pulse workload. */}}
{{- define "pulse.podSpecCommon" -}}
serviceAccountName: {{ include "pulse.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Security context for third-party containers (redis, haproxy) that run as their own uid. */}}
{{- define "pulse.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
A chart-made secret value: the one given in values, else the one already in the cluster (so upgrades
keep it), else a random one. Call with (dict "ctx" $ "secret" name "key" key "value" given).
*/}}
{{- define "pulse.secretValue" -}}
{{- if .value }}
{{- .value | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- if and $existing (hasKey $existing.data .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum 32 | b64enc }}
{{- end }}
{{- end }}
{{- end }}

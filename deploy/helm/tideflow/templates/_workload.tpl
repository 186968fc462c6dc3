{{/*
The Deployment, Service and PodDisruptionBudget every Tideflow service gets.
Arguments: root (the top context), component (object name suffix), service (the `tide serve`
target and image name), values (the service's values), replicas, env (rendered env list),
args (extra `tide serve` arguments), http (true: probes on /healthz and /readyz).
Without replicas (nil) the Deployment leaves spec.replicas to whoever scales it (the
operator, for an executor pool with a WorkerPool), so an upgrade does not reset it.
*/}}

{{- define "tideflow.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tideflow.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "tideflow.labels" $ctx | nindent 4 }}
    tideflow.io/service: {{ .service }}
spec:
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tideflow.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels:
        {{- include "tideflow.labels" $ctx | nindent 8 }}
        tideflow.io/service: {{ .service }}
        {{- with (merge dict ($v.podLabels | default dict) $root.Values.podLabels) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Roll the pods when the shared configuration or the chart's Secret changes.
        checksum/config: {{ include (print $root.Template.BasePath "/config.yaml") $root | sha256sum }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with (merge dict ($v.podAnnotations | default dict) $root.Values.podAnnotations) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ .serviceAccountName | default (include "tideflow.serviceAccountName" $root) }}
      automountServiceAccountToken: {{ .automountToken | default false }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | default $root.Values.terminationGracePeriodSeconds }}
      {{- with ($v.priorityClassName | default $root.Values.priorityClassName) }}
      priorityClassName: {{ . }}
      {{- end }}
      containers:
        - name: {{ .service }}
          image: {{ include "tideflow.image" (dict "root" $root "service" .service "image" $v.image) }}
          imagePullPolicy: {{ ($v.image | default dict).pullPolicy | default $root.Values.image.pullPolicy }}
          command: ["tide", "serve", {{ .service | quote }}{{ range .args }}, {{ . | quote }}{{ end }}]
          ports:
            - name: http
              containerPort: {{ $v.port }}
              protocol: TCP
          env:
            {{- .env | nindent 12 }}
            {{- with $root.Values.tracing.otlpEndpoint }}
            # traces over OTLP (docs/observability.md); the service names itself tideflow-<service>
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ . | quote }}
            {{- end }}
            {{- with $root.Values.tracing.protocol }}
            - name: OTEL_EXPORTER_OTLP_PROTOCOL
              value: {{ . | quote }}
            {{- end }}
            {{- $extra := merge dict ($v.extraEnv | default dict) ($root.Values.extraEnv | default dict) }}
            {{- with (include "tideflow.env.extra" $extra | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
          {{- if .http }}
          startupProbe:
            httpGet: {path: /healthz, port: http}
            {{- toYaml $root.Values.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and .keys (include "tideflow.usesKeyFile" $root) }}
            - name: keys
              mountPath: /var/lib/tideflow/keys
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 256Mi}
        {{- if and .keys (include "tideflow.usesKeyFile" $root) }}
        - name: keys
          secret:
            secretName: {{ include "tideflow.keysSecretName" $root }}
            defaultMode: 0400
            items:
              - {key: kek.json, path: kek.json}
        {{- end }}
      {{- with ($v.nodeSelector | default $root.Values.nodeSelector) }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with ($v.tolerations | default $root.Values.tolerations) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with ($v.affinity | default $root.Values.affinity) }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with ($v.topologySpreadConstraints | default $root.Values.topologySpreadConstraints) }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{- define "tideflow.service" -}}
{{- $ctx := dict "root" .root "component" .component -}}
{{- $service := .values.service | default dict -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "tideflow.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tideflow.labels" $ctx | nindent 4 }}
    tideflow.io/service: {{ .service }}
  {{- with $service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $service.type | default "ClusterIP" }}
  selector:
    {{- include "tideflow.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ $service.port | default .values.port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{- define "tideflow.pdb" -}}
{{- $ctx := dict "root" .root "component" .component -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tideflow.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tideflow.labels" $ctx | nindent 4 }}
spec:
  {{- if hasKey .values.pdb "minAvailable" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "tideflow.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end -}}

{{- /* A HorizontalPodAutoscaler by CPU (and memory) when `<service>.autoscaling.enabled`;
the Deployment then has no replicas of its own. */ -}}
{{- define "tideflow.hpa" -}}
{{- $a := .values.autoscaling | default dict -}}
{{- if $a.enabled }}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "tideflow.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tideflow.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "tideflow.componentName" $ctx }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ $a.targetCPUUtilizationPercentage }}}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target: {type: Utilization, averageUtilization: {{ . }}}
    {{- end }}
{{- end }}
{{- end -}}

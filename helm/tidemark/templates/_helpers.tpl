{{/* Names and labels shared by every object of the release. */}}

{{- define "tidemark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tidemark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "tidemark.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "tidemark.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tidemark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tidemark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tidemark.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tidemark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tidemark
{{- end -}}

{{/* The pipeline name from the config: a label on every object, like the metrics' `pipeline` label. */}}
{{- define "tidemark.pipeline" -}}
{{- required "config.pipeline is required" .Values.config.pipeline -}}
{{- end -}}

{{- define "tidemark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tidemark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tidemark.secretName" -}}
{{- default (printf "%s-secrets" (include "tidemark.fullname" .)) .Values.secrets.name -}}
{{- end -}}

{{- define "tidemark.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* observe.port of the config (tidemark's default 9464): container port, probes, Service. */}}
{{- define "tidemark.metricsPort" -}}
{{- $port := int (dig "observe" "port" 9464 .Values.config) -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "config.observe.port must be 1..65535 in Kubernetes (probes need a fixed port), not %d" $port) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the preStop sleep, then tidemark's own graceful-stop deadline
(config.observe.shutdownDeadlineMs, tidemark's default 25000), rounded up, plus a margin, so the
process always forces its own exit before the kubelet's SIGKILL.
*/}}
{{- define "tidemark.terminationGracePeriodSeconds" -}}
{{- $deadlineMs := int (dig "observe" "shutdownDeadlineMs" 25000 .Values.config) -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (div (add $deadlineMs 999) 1000) (int .Values.shutdown.marginSeconds) -}}
{{- end -}}

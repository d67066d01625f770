{{- /*
Named templates that add depprobe to any pod. Each takes one argument: a dict (or a values
map) with the keys of this chart's values.yaml (image, targets, targetsSecret, timeout,
attemptTimeout, logFormat, logLevel, extraEnv, resources, containerNames, port,
startupProbe, readinessProbe, livenessProbe, rbac). Missing keys take the defaults below, so a
dict with only "targets" is enough. Each renders one list item, to be indented under
initContainers: or containers:.

With this chart as a dependency (its values under the key "depprobe"):

  spec:
    initContainers:
      {{- include "depprobe.initContainer" .Values.depprobe | nindent 6 }}

or without one, after copying this file into your chart:

      {{- include "depprobe.sidecar" (dict "targets" "db=postgres://db:5432") | nindent 6 }}

The pod also needs the restricted Pod Security Standard at its level:

  securityContext:
    {{- include "depprobe.podSecurityContext" . | nindent 4 }}
*/ -}}

{{- /* depprobe.defaultImageTag: the depprobe release this chart was made for; equal to appVersion (checked by packaging/chart_test.go). */ -}}
{{- define "depprobe.defaultImageTag" -}}0.1.0{{- end -}}

{{- /* depprobe.image: repository:tag, or repository@digest when a digest is given. */ -}}
{{- define "depprobe.image" -}}
{{- $image := .image | default dict -}}
{{- $repository := $image.repository | default "ghcr.io/depprobe/depprobe" -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($image.tag | default (include "depprobe.defaultImageTag" .)) -}}
{{- end -}}
{{- end -}}

{{- /* depprobe.podSecurityContext: the pod-level half of the restricted Pod Security Standard. Takes any argument. */ -}}
{{- define "depprobe.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /* depprobe.securityContext: restricted Pod Security Standard, as the distroless nonroot user (65532) with nothing to write but the termination log. */ -}}
{{- define "depprobe.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /* depprobe.env: the DEPPROBE_* variables for the settings given; the rest keep depprobe's defaults. */ -}}
{{- define "depprobe.env" -}}
{{- $secret := .targetsSecret | default dict -}}
{{- if $secret.name }}
- name: DEPPROBE_TARGETS
  valueFrom:
    secretKeyRef:
      name: {{ $secret.name | quote }}
      key: {{ $secret.key | default "targets" | quote }}
{{- else if .targets }}
- name: DEPPROBE_TARGETS
  value: {{ .targets | quote }}
{{- else }}
{{- fail "depprobe: set targets, or targetsSecret.name to read them from a Secret" }}
{{- end }}
{{- with .timeout }}
- name: DEPPROBE_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- with .attemptTimeout }}
- name: DEPPROBE_ATTEMPT_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- with .logFormat }}
- name: DEPPROBE_LOG_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- with .logLevel }}
- name: DEPPROBE_LOG_LEVEL
  value: {{ . | quote }}
{{- end }}
{{- /* Its own pod's name: for Events, and for the evidence the API holds about the pod. */}}
- name: DEPPROBE_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if (.rbac | default dict).events }}
- name: DEPPROBE_KUBE_EVENTS
  value: "true"
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /* depprobe.resources: requests and limits, tiny unless overridden. */ -}}
{{- define "depprobe.resources" -}}
{{- $default := dict "requests" (dict "cpu" "10m" "memory" "16Mi") "limits" (dict "memory" "32Mi") -}}
{{- toYaml (.resources | default $default) -}}
{{- end -}}

{{- /* depprobe.container: the fields every depprobe container shares. Internal. */ -}}
{{- define "depprobe.container" -}}
image: {{ include "depprobe.image" . | quote }}
imagePullPolicy: {{ (.image | default dict).pullPolicy | default "IfNotPresent" }}
{{- /* kubectl describe pod shows the last lines of the log when depprobe wrote no message. */}}
terminationMessagePolicy: FallbackToLogsOnError
resources:
  {{- include "depprobe.resources" . | nindent 2 }}
securityContext:
  {{- include "depprobe.securityContext" . | nindent 2 }}
{{- end -}}

{{- /*
depprobe.initContainer: a regular init container that runs `depprobe wait`: the pod's
containers start only after every target answered. When depprobe gives up, it exits 1 and
writes its diagnosis to the termination message; the kubelet retries the init container
with back-off.
*/ -}}
{{- define "depprobe.initContainer" -}}
- name: {{ (.containerNames | default dict).wait | default "depprobe-wait" }}
  args: ["wait"]
  env:
    {{- include "depprobe.env" . | trim | nindent 4 }}
  {{- include "depprobe.container" . | nindent 2 }}
{{- end -}}

{{- /*
depprobe.sidecar: a native sidecar (an init container with restartPolicy: Always) that runs
`depprobe serve`. The kubelet starts the containers after it only once its startupProbe on
/readyz succeeds, that is once every target is ready; from then on it keeps probing, for
/metrics, the logs and (readinessProbe.enabled) the pod's readiness. Goes under
initContainers:, never containers:.
*/ -}}
{{- define "depprobe.sidecar" -}}
{{- $port := .port | default 3377 | int -}}
{{- $startup := .startupProbe | default dict -}}
{{- $readiness := .readinessProbe | default dict -}}
{{- $liveness := .livenessProbe | default dict -}}
- name: {{ (.containerNames | default dict).sidecar | default "depprobe" }}
  args: ["serve"]
  restartPolicy: Always
  env:
    {{- include "depprobe.env" . | trim | nindent 4 }}
    - name: DEPPROBE_LISTEN
      value: {{ printf ":%d" $port | quote }}
  ports:
    - name: depprobe-http
      containerPort: {{ $port }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /readyz
      port: {{ $port }}
    periodSeconds: {{ $startup.periodSeconds | default 1 }}
    timeoutSeconds: {{ $startup.timeoutSeconds | default 1 }}
    failureThreshold: {{ $startup.failureThreshold | default 300 }}
  {{- if $readiness.enabled }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ $port }}
    periodSeconds: {{ $readiness.periodSeconds | default 5 }}
    timeoutSeconds: {{ $readiness.timeoutSeconds | default 1 }}
    failureThreshold: {{ $readiness.failureThreshold | default 2 }}
  {{- end }}
  {{- /* /livez is safe to probe by default: it never depends on a dependency. */}}
  {{- if (hasKey $liveness "enabled" | ternary $liveness.enabled true) }}
  livenessProbe:
    httpGet:
      path: /livez
      port: {{ $port }}
    periodSeconds: {{ $liveness.periodSeconds | default 10 }}
    timeoutSeconds: {{ $liveness.timeoutSeconds | default 1 }}
    failureThreshold: {{ $liveness.failureThreshold | default 3 }}
  {{- end }}
  {{- include "depprobe.container" . | nindent 2 }}
{{- end -}}

{{- /* depprobe.checkContainer: a container that runs `depprobe check` once (helm test, a Job). */ -}}
{{- define "depprobe.checkContainer" -}}
- name: depprobe-check
  args: ["check"]
  env:
    {{- include "depprobe.env" . | trim | nindent 4 }}
  {{- include "depprobe.container" . | nindent 2 }}
{{- end -}}

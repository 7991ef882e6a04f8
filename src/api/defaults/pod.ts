// Pod and pod-template defaulting, as kube-apiserver's pkg/apis/core/v1
// defaulters (SetDefaults_PodSpec, SetDefaults_Container, SetDefaults_Pod,
// probes, ports) leave a Pod, so `kubectl get -o yaml` shows what it shows on
// a real cluster.
import type { Container, Pod, PodSpec, PodStatus, Probe } from 'kubernetes-types/core/v1.js';

export const DefaultTerminationGracePeriodSeconds = 30;
export const DefaultSchedulerName = 'default-scheduler';
export const TerminationMessagePathDefault = '/dev/termination-log';

/** parsers.ParseImageName's tag: "latest" when neither a tag nor a digest is given. */
export function imageTag(image: string): string {
  if (image.includes('@')) {
    // A digest reference: its tag (if any) is between the last ':' of the name and '@'.
    const name = image.slice(0, image.indexOf('@'));
    const slash = name.lastIndexOf('/');
    const colon = name.lastIndexOf(':');
    return colon > slash ? name.slice(colon + 1) : '';
  }
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(colon + 1) : 'latest';
}

export function SetDefaults_Probe(p: Probe): void {
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  if (p.httpGet) {
    if (!p.httpGet.path) p.httpGet.path = '/';
    if (!p.httpGet.scheme) p.httpGet.scheme = 'HTTP';
  }
}

export function SetDefaults_Container(c: Container): void {
  // Always pull ":latest" (or untagged) images, reuse others.
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(c.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = TerminationMessagePathDefault;
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  // Go serializes the empty ResourceRequirements struct as `resources: {}`.
  if (!c.resources) c.resources = {};
  for (const port of c.ports ?? []) if (!port.protocol) port.protocol = 'TCP';
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) if (probe) SetDefaults_Probe(probe);
}

/** Defaults every PodSpec gets, in Pods and in templates. */
export function SetDefaults_PodSpec(spec: PodSpec): void {
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!spec.securityContext) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) {
    spec.terminationGracePeriodSeconds = DefaultTerminationGracePeriodSeconds;
  }
  if (!spec.schedulerName) spec.schedulerName = DefaultSchedulerName;
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) SetDefaults_Container(c);
  if (spec.hostNetwork) {
    // With host networking every container port is a host port.
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
      for (const port of c.ports ?? []) if (!port.hostPort) port.hostPort = port.containerPort;
    }
  }
}

/**
 * Defaults only Pods get: enableServiceLinks, requests from limits, and what
 * default admission and the pod strategy add on create (priority 0 with
 * PreemptLowerPriority from the Priority plugin, status.phase Pending and
 * the QoS class).
 */
export function SetDefaults_Pod(pod: Pod): void {
  const spec = (pod.spec ??= { containers: [] });
  SetDefaults_PodSpec(spec);
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const limits = c.resources?.limits;
    if (limits) {
      const requests = (c.resources!.requests ??= {});
      for (const [k, v] of Object.entries(limits)) if (!(k in requests)) requests[k] = v;
    }
  }
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  if (spec.priority === undefined || spec.priority === null) spec.priority = 0;
  if (!spec.preemptionPolicy) spec.preemptionPolicy = 'PreemptLowerPriority';
  const status = ((pod as { status?: PodStatus }).status ??= {});
  if (!status.phase) status.phase = 'Pending';
  if (!status.qosClass) status.qosClass = qosClass(spec);
}

/** v1/helper/qos GetPodQOS, comparing quantities as written. */
export function qosClass(spec: PodSpec): string {
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    const names = ['cpu', 'memory'];
    for (const n of names) {
      if (req[n] !== undefined || lim[n] !== undefined) any = true;
      if (lim[n] === undefined || (req[n] !== undefined && String(req[n]) !== String(lim[n]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

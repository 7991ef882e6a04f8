// Pod and pod-template validation: the core rules of kube-apiserver's
// pkg/apis/core/validation ValidatePodSpec / ValidatePodUpdate that matter for
// what svcnet runs (containers, ports, policies, names), with Kubernetes'
// messages. Volumes, security contexts, resources and affinity are not
// checked here.
import type { Container, Pod, PodSpec, PodTemplateSpec } from 'kubernetes-types/core/v1.js';
import type { FieldError } from '../errors.js';
import { field, invalidEach, Path } from './field.js';
import { deepEqual, ValidateAnnotations, ValidateLabels, ValidateNonnegativeField, ValidateObjectMeta, ValidateObjectMetaUpdate } from './meta.js';
import { IsDNS1123Label, IsValidPortName, IsValidPortNum, NameIsDNSSubdomain } from './names.js';

const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'];
const supportedPullPolicies = ['Always', 'IfNotPresent', 'Never'];
const restartPolicies = ['Always', 'OnFailure', 'Never'];
const dnsPolicies = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const terminationMessagePolicies = ['File', 'FallbackToLogsOnError'];

export interface PodValidationOptions {
  /** True for Pods, false for pod templates (Deployment, ReplicaSet). */
  resourceIsPod: boolean;
}

function validateContainerPorts(ports: Container['ports'], p: Path): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (ports ?? []).forEach((port, i) => {
    const ip = p.index(i);
    const name = port.name ?? '';
    if (name.length > 0) {
      const msgs = IsValidPortName(name);
      if (msgs.length) errs.push(...invalidEach(ip.child('name'), name, msgs));
      else if (names.has(name)) errs.push(field.duplicate(ip.child('name'), name));
      else names.add(name);
    }
    if (!port.containerPort) errs.push(field.required(ip.child('containerPort'), ''));
    else errs.push(...invalidEach(ip.child('containerPort'), port.containerPort, IsValidPortNum(port.containerPort)));
    if (port.hostPort) errs.push(...invalidEach(ip.child('hostPort'), port.hostPort, IsValidPortNum(port.hostPort)));
    const protocol = port.protocol ?? '';
    if (!protocol) errs.push(field.required(ip.child('protocol'), ''));
    else if (!supportedPortProtocols.includes(protocol)) errs.push(field.notSupported(ip.child('protocol'), protocol, supportedPortProtocols));
  });
  return errs;
}

function validateContainers(containers: readonly Container[] | undefined, p: Path, opts: PodValidationOptions): FieldError[] {
  if (!containers || containers.length === 0) return [field.required(p, '')];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  containers.forEach((ctr, i) => {
    const cp = p.index(i);
    const name = ctr.name ?? '';
    if (!name) errs.push(field.required(cp.child('name'), ''));
    else errs.push(...invalidEach(cp.child('name'), name, IsDNS1123Label(name)));
    const image = ctr.image ?? '';
    if (!image) errs.push(field.required(cp.child('image'), ''));
    else if (opts.resourceIsPod && image.trim().length !== image.length) {
      // Templates tolerate it: some tools use " " as a placeholder image.
      errs.push(field.invalid(cp.child('image'), image, 'must not have leading or trailing whitespace'));
    }
    const tmp = ctr.terminationMessagePolicy ?? '';
    if (!tmp) errs.push(field.required(cp.child('terminationMessagePolicy'), ''));
    else if (!terminationMessagePolicies.includes(tmp)) errs.push(field.notSupported(cp.child('terminationMessagePolicy'), tmp, terminationMessagePolicies));
    const pull = ctr.imagePullPolicy ?? '';
    if (!pull) errs.push(field.required(cp.child('imagePullPolicy'), ''));
    else if (!supportedPullPolicies.includes(pull)) errs.push(field.notSupported(cp.child('imagePullPolicy'), pull, supportedPullPolicies));
    errs.push(...validateContainerPorts(ctr.ports, cp.child('ports')));
    if (names.has(name)) errs.push(field.duplicate(cp.child('name'), name));
    else names.add(name);
  });
  return errs;
}

export function ValidatePodSpec(spec: PodSpec | undefined, p: Path, opts: PodValidationOptions): FieldError[] {
  const s: Partial<PodSpec> = spec ?? {};
  const errs = validateContainers(s.containers, p.child('containers'), opts);
  if (s.initContainers?.length) {
    const names = new Set((s.containers ?? []).map((c) => c.name));
    const init = validateContainers(s.initContainers, p.child('initContainers'), opts);
    errs.push(...init);
    s.initContainers.forEach((c, i) => {
      if (names.has(c.name)) errs.push(field.duplicate(p.child('initContainers').index(i).child('name'), c.name));
    });
  }
  const rp = s.restartPolicy ?? '';
  if (!rp) errs.push(field.required(p.child('restartPolicy'), ''));
  else if (!restartPolicies.includes(rp)) errs.push(field.notSupported(p.child('restartPolicy'), rp, restartPolicies));
  const dns = s.dnsPolicy ?? '';
  if (!dns) errs.push(field.required(p.child('dnsPolicy'), ''));
  else if (!dnsPolicies.includes(dns)) errs.push(field.notSupported(p.child('dnsPolicy'), dns, dnsPolicies));
  errs.push(...ValidateLabels(s.nodeSelector, p.child('nodeSelector')));
  if (s.nodeName) errs.push(...invalidEach(p.child('nodeName'), s.nodeName, NameIsDNSSubdomain(s.nodeName, false)));
  if (s.activeDeadlineSeconds !== undefined && s.activeDeadlineSeconds !== null) {
    const v = s.activeDeadlineSeconds;
    if (v < 1 || v > 2147483647) errs.push(field.invalid(p.child('activeDeadlineSeconds'), v, 'must be between 1 and 2147483647, inclusive'));
  }
  if (s.hostname) errs.push(...invalidEach(p.child('hostname'), s.hostname, IsDNS1123Label(s.hostname)));
  if (s.subdomain) errs.push(...invalidEach(p.child('subdomain'), s.subdomain, IsDNS1123Label(s.subdomain)));
  if (s.terminationGracePeriodSeconds !== undefined && s.terminationGracePeriodSeconds !== null) {
    errs.push(...ValidateNonnegativeField(s.terminationGracePeriodSeconds, p.child('terminationGracePeriodSeconds')));
  }
  return errs;
}

export function ValidatePodTemplateSpec(t: PodTemplateSpec | undefined, p: Path): FieldError[] {
  const errs = ValidateLabels(t?.metadata?.labels, p.child('labels'));
  errs.push(...ValidateAnnotations(t?.metadata?.annotations, p.child('annotations')));
  errs.push(...ValidatePodSpec(t?.spec, p.child('spec'), { resourceIsPod: false }));
  if (t?.spec?.ephemeralContainers?.length) {
    errs.push(field.forbidden(p.child('spec', 'ephemeralContainers'), 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}

export function ValidatePodCreate(pod: Pod): FieldError[] {
  const errs = ValidateObjectMeta(pod.metadata, true, NameIsDNSSubdomain, Path.root('metadata'));
  errs.push(...ValidatePodSpec(pod.spec, Path.root('spec'), { resourceIsPod: true }));
  if (pod.spec?.ephemeralContainers?.length) {
    errs.push(field.forbidden(Path.root('spec', 'ephemeralContainers'), 'cannot be set on create'));
  }
  return errs;
}

export const podUpdatableSpecFields = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/**
 * ValidatePodUpdate: a pod's spec is immutable except for images, an
 * activeDeadlineSeconds that only shrinks, and added tolerations.
 * Kubernetes appends a go-cmp diff to the Forbidden message; we append the
 * names of the fields that differ instead.
 */
export function ValidatePodUpdate(pod: Pod, oldPod: Pod): FieldError[] {
  const errs = ValidateObjectMetaUpdate(pod.metadata, oldPod.metadata, Path.root('metadata'));
  const specPath = Path.root('spec');
  const n = pod.spec;
  const o = oldPod.spec;
  if (!n || !o) return errs;
  if ((n.containers ?? []).length !== (o.containers ?? []).length || (n.initContainers ?? []).length !== (o.initContainers ?? []).length) {
    errs.push(field.forbidden(specPath.child('containers'), 'pod updates may not add or remove containers'));
    return errs;
  }
  const ads = n.activeDeadlineSeconds;
  const oldAds = o.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null) {
    // activeDeadlineSeconds may be set, or lowered, but not raised or removed.
    if (oldAds !== undefined && oldAds !== null && ads > oldAds) {
      errs.push(field.invalid(specPath.child('activeDeadlineSeconds'), ads, 'must be less than or equal to previous value'));
    }
  } else if (oldAds !== undefined && oldAds !== null) {
    errs.push(field.invalid(specPath.child('activeDeadlineSeconds'), null, 'must not update from a positive integer to nil value'));
  }
  // The spec with every mutable field taken from the old one must be unchanged.
  const munged: PodSpec = {
    ...n,
    containers: n.containers.map((c, i) => ({ ...c, image: o.containers[i].image })),
    initContainers: n.initContainers?.map((c, i) => ({ ...c, image: o.initContainers![i].image })),
    activeDeadlineSeconds: o.activeDeadlineSeconds,
    tolerations: o.tolerations,
  };
  if (munged.initContainers === undefined) delete munged.initContainers;
  if (munged.activeDeadlineSeconds === undefined) delete munged.activeDeadlineSeconds;
  if (munged.tolerations === undefined) delete munged.tolerations;
  const oldTolerations = o.tolerations ?? [];
  const tolerationsOK = oldTolerations.every((t) => (n.tolerations ?? []).some((u) => deepEqual(t, u)));
  if (!tolerationsOK) {
    errs.push(field.forbidden(specPath.child('tolerations'), 'existing toleration can not be modified except its tolerationSeconds'));
  }
  if (!deepEqual(munged, o)) {
    const changed = [...new Set([...Object.keys(munged), ...Object.keys(o)])]
      .filter((k) => !deepEqual((munged as unknown as Record<string, unknown>)[k], (o as unknown as Record<string, unknown>)[k])).sort();
    errs.push(field.forbidden(specPath, `pod updates may not change fields other than ${podUpdatableSpecFields.join(',')}\n` +
      `changed: ${changed.map((k) => `spec.${k}`).join(', ')}`));
  }
  return errs;
}

// Validation of the other core/v1 kinds svcnet serves (Namespace, Node,
// ConfigMap, Endpoints, Event): the core rules of kube-apiserver's
// pkg/apis/core/validation, with Kubernetes' messages.
import type { ConfigMap, EndpointAddress, EndpointPort, Endpoints, Event, Namespace, Node } from 'kubernetes-types/core/v1.js';
import { goValue, type FieldError } from '../errors.js';
import { field, invalidEach, Path } from './field.js';
import { parseIPSloppy } from './ip.js';
import { ValidateFinalizerName, ValidateImmutableField, validateKubeFinalizerName, ValidateObjectMeta, ValidateObjectMetaUpdate } from './meta.js';
import {
  IsConfigMapKey, IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidCIDR, IsValidIP, IsValidPortNum,
  NameIsDNSLabel, NameIsDNSSubdomain,
} from './names.js';
import { ValidateNonSpecialIP } from './service.js';

const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'];
/** core.MaxSecretSize, which also bounds ConfigMaps: 1 MiB. */
export const MaxConfigMapSize = 1 * 1024 * 1024;

export interface EndpointValidationOptions {
  /**
   * Accept loopback endpoint addresses. Kubernetes never does; svcnet's
   * userspace data plane puts pods on 127.x addresses and needs it.
   */
  allowLoopback?: boolean;
}

export function ValidateNamespace(ns: Namespace): FieldError[] {
  const errs = ValidateObjectMeta(ns.metadata, false, NameIsDNSLabel, Path.root('metadata'));
  (ns.spec?.finalizers ?? []).forEach((f, i) => {
    const p = Path.root('spec', 'finalizers').index(i);
    errs.push(...ValidateFinalizerName(f, p));
    errs.push(...validateKubeFinalizerName(f, p));
  });
  return errs;
}

export function ValidateNamespaceUpdate(ns: Namespace, old: Namespace): FieldError[] {
  return ValidateObjectMetaUpdate(ns.metadata, old.metadata, Path.root('metadata'));
}

export function ValidateNode(node: Node): FieldError[] {
  const errs = ValidateObjectMeta(node.metadata, false, NameIsDNSSubdomain, Path.root('metadata'));
  const cidrs = node.spec?.podCIDRs ?? [];
  const p = Path.root('spec', 'podCIDRs');
  cidrs.forEach((c, i) => errs.push(...invalidEach(p.index(i), c, IsValidCIDR(c))));
  if (cidrs.length > 1) {
    const fams = cidrs.map((c) => parseIPSloppy(c.split('/')[0])?.family);
    const dual = fams.includes('IPv4') && fams.includes('IPv6');
    if (!dual || cidrs.length > 2) errs.push(field.invalid(p, goValue.slice(cidrs), 'may specify no more than one CIDR for each IP family'));
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(c)) errs.push(field.duplicate(p.index(i), c));
      seen.add(c);
    });
  }
  return errs;
}

export function ValidateNodeUpdate(node: Node, old: Node): FieldError[] {
  const errs = ValidateObjectMetaUpdate(node.metadata, old.metadata, Path.root('metadata'));
  // The node IPAM controller may set podCIDRs once, never change them.
  const oldCIDRs = old.spec?.podCIDRs ?? [];
  const newCIDRs = node.spec?.podCIDRs ?? [];
  const msg = 'node updates may not change podCIDR except from "" to valid';
  if (oldCIDRs.length > 0) {
    if (oldCIDRs.length !== newCIDRs.length) errs.push(field.forbidden(Path.root('spec', 'podCIDRs'), msg));
    else oldCIDRs.forEach((c, i) => { if (c !== newCIDRs[i]) errs.push(field.forbidden(Path.root('spec', 'podCIDRs'), msg)); });
  }
  if (old.spec?.providerID && old.spec.providerID !== node.spec?.providerID) {
    errs.push(field.forbidden(Path.root('spec', 'providerID'), 'node updates may not change providerID except from "" to valid'));
  }
  return errs;
}

export function ValidateConfigMap(cm: ConfigMap): FieldError[] {
  const errs = ValidateObjectMeta(cm.metadata, true, NameIsDNSSubdomain, Path.root('metadata'));
  let total = 0;
  for (const [key, value] of Object.entries(cm.data ?? {})) {
    errs.push(...invalidEach(Path.root('data').key(key), key, IsConfigMapKey(key)));
    if (cm.binaryData && key in cm.binaryData) {
      errs.push(field.invalid(Path.root('data').key(key), key, 'duplicate of key present in binaryData'));
    }
    total += Buffer.byteLength(value ?? '');
  }
  for (const [key, value] of Object.entries(cm.binaryData ?? {})) {
    errs.push(...invalidEach(Path.root('binaryData').key(key), key, IsConfigMapKey(key)));
    total += Buffer.from(value ?? '', 'base64').length;
  }
  if (total > MaxConfigMapSize) errs.push(field.tooLong(Path.root(''), MaxConfigMapSize));
  return errs;
}

export function ValidateConfigMapUpdate(cm: ConfigMap, old: ConfigMap): FieldError[] {
  const errs = ValidateObjectMetaUpdate(cm.metadata, old.metadata, Path.root('metadata'));
  if (old.immutable) {
    if (!cm.immutable) errs.push(field.forbidden(Path.root('immutable'), 'field is immutable when `immutable` is set'));
    if (JSON.stringify(cm.data ?? {}) !== JSON.stringify(old.data ?? {})) errs.push(field.forbidden(Path.root('data'), 'field is immutable when `immutable` is set'));
    if (JSON.stringify(cm.binaryData ?? {}) !== JSON.stringify(old.binaryData ?? {})) {
      errs.push(field.forbidden(Path.root('binaryData'), 'field is immutable when `immutable` is set'));
    }
  }
  errs.push(...ValidateConfigMap(cm).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

function validateEndpointAddress(a: EndpointAddress, p: Path, opts: EndpointValidationOptions): FieldError[] {
  const ip = a.ip ?? '';
  const errs = invalidEach(p.child('ip'), ip, IsValidIP(ip));
  if (a.hostname) errs.push(...invalidEach(p.child('hostname'), a.hostname, IsDNS1123Label(a.hostname)));
  if (a.nodeName !== undefined && a.nodeName !== null) errs.push(...invalidEach(p.child('nodeName'), a.nodeName, NameIsDNSSubdomain(a.nodeName, false)));
  // The special-IP checks only make sense for a well-formed address.
  if (errs.length === 0) {
    const special = ValidateNonSpecialIP(ip, p.child('ip'));
    errs.push(...(opts.allowLoopback ? special.filter((e) => !String(e.detail).includes('loopback')) : special));
  }
  return errs;
}

function validateEndpointPort(port: EndpointPort, requireName: boolean, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  const name = port.name ?? '';
  if (requireName && !name) errs.push(field.required(p.child('name'), ''));
  else if (name) errs.push(...invalidEach(p.child('name'), name, IsDNS1123Label(name)));
  errs.push(...invalidEach(p.child('port'), port.port ?? 0, IsValidPortNum(port.port ?? 0)));
  const protocol = port.protocol ?? '';
  if (!protocol) errs.push(field.required(p.child('protocol'), ''));
  else if (!supportedPortProtocols.includes(protocol)) errs.push(field.notSupported(p.child('protocol'), protocol, supportedPortProtocols));
  if (port.appProtocol !== undefined && port.appProtocol !== null) errs.push(...invalidEach(p.child('appProtocol'), port.appProtocol, IsQualifiedName(port.appProtocol)));
  return errs;
}

export function ValidateEndpoints(ep: Endpoints, opts: EndpointValidationOptions = {}): FieldError[] {
  return [...ValidateObjectMeta(ep.metadata, true, NameIsDNSSubdomain, Path.root('metadata')), ...validateEndpointsContent(ep, opts)];
}

/** Everything ValidateEndpoints checks but the metadata. */
function validateEndpointsContent(ep: Endpoints, opts: EndpointValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  (ep.subsets ?? []).forEach((ss, i) => {
    const p = Path.root('subsets').index(i);
    // Ports may be absent (headless services), addresses may not.
    if ((ss.addresses?.length ?? 0) === 0 && (ss.notReadyAddresses?.length ?? 0) === 0) {
      errs.push(field.required(p, 'must specify `addresses` or `notReadyAddresses`'));
    }
    (ss.addresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, p.child('addresses').index(j), opts)));
    (ss.notReadyAddresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, p.child('notReadyAddresses').index(j), opts)));
    (ss.ports ?? []).forEach((port, j) => errs.push(...validateEndpointPort(port, (ss.ports?.length ?? 0) > 1, p.child('ports').index(j))));
  });
  return errs;
}

export function ValidateEndpointsUpdate(ep: Endpoints, old: Endpoints, opts: EndpointValidationOptions = {}): FieldError[] {
  const errs = ValidateObjectMetaUpdate(ep.metadata, old.metadata, Path.root('metadata'));
  // ValidateEndpoints without its metadata part (the update checks metadata its own way).
  errs.push(...validateEndpointsContent(ep, opts));
  return errs;
}

const ReportingInstanceLengthLimit = 128;
const ActionLengthLimit = 128;
const ReasonLengthLimit = 128;
const NoteLengthLimit = 1024;

/** core/v1 Event validation (legacyValidateEvent, as served at /api/v1). */
export function ValidateEvent(ev: Event): FieldError[] {
  const errs = ValidateObjectMeta(ev.metadata, true, NameIsDNSSubdomain, Path.root('metadata'));
  const ns = ev.metadata?.namespace ?? '';
  const involvedNS = ev.involvedObject?.namespace ?? '';
  const nsMismatch = () => field.invalid(Path.root('involvedObject', 'namespace'), involvedNS, 'does not match event.namespace');
  if (!ev.eventTime) {
    // Old-style events: the namespaces must agree ("default" tolerated for cluster-scoped objects).
    if (!involvedNS) {
      if (ns !== '' && ns !== 'default') errs.push(nsMismatch());
    } else if (ns !== involvedNS) {
      errs.push(nsMismatch());
    }
  } else {
    if (!involvedNS && ns !== 'default' && ns !== 'kube-system') errs.push(nsMismatch());
    const rc = ev.reportingComponent ?? '';
    if (!rc) errs.push(field.required(Path.root('reportingComponent'), ''));
    errs.push(...invalidEach(Path.root('reportingComponent'), rc, IsQualifiedName(rc)));
    const ri = ev.reportingInstance ?? '';
    if (!ri) errs.push(field.required(Path.root('reportingInstance'), ''));
    if (ri.length > ReportingInstanceLengthLimit) errs.push(field.invalid(Path.root('reportingInstance'), '', `can have at most ${ReportingInstanceLengthLimit} characters`));
    const action = ev.action ?? '';
    if (!action) errs.push(field.required(Path.root('action'), ''));
    if (action.length > ActionLengthLimit) errs.push(field.invalid(Path.root('action'), '', `can have at most ${ActionLengthLimit} characters`));
    const reason = ev.reason ?? '';
    if (!reason) errs.push(field.required(Path.root('reason'), ''));
    if (reason.length > ReasonLengthLimit) errs.push(field.invalid(Path.root('reason'), '', `can have at most ${ReasonLengthLimit} characters`));
    if ((ev.message ?? '').length > NoteLengthLimit) errs.push(field.invalid(Path.root('message'), '', `can have at most ${NoteLengthLimit} characters`));
  }
  errs.push(...invalidEach(Path.root('namespace'), ns, IsDNS1123Subdomain(ns)));
  return errs;
}

export function ValidateEventUpdate(ev: Event, old: Event): FieldError[] {
  const errs = ValidateObjectMetaUpdate(ev.metadata, old.metadata, Path.root('metadata'));
  // Events may only change their series and counts, not what they are about.
  errs.push(...ValidateImmutableField(ev.involvedObject ?? null, old.involvedObject ?? null, Path.root('involvedObject')));
  errs.push(...ValidateEvent(ev).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

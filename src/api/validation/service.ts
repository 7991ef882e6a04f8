// Service validation, rule for rule and in the same order as kube-apiserver's
// pkg/apis/core/validation ValidateService / ValidateServiceUpdate /
// ValidateServiceStatusUpdate (~v1.32), with Kubernetes' exact messages.
//
// Range checks of clusterIP and nodePort values are not here: the allocators
// report them (`failed to allocate IP …`, `provided port is not in the valid
// range …`), because in kube-apiserver allocation runs before validation.
import type { Service, ServicePort, ServiceSpec, SessionAffinityConfig } from 'kubernetes-types/core/v1.js';
import { goValue, type FieldError } from '../errors.js';
import { field, invalidEach, Path } from './field.js';
import {
  isLinkLocalMulticast, isLinkLocalUnicast, isLoopback, isUnspecified, parseIPSloppy,
} from './ip.js';
import { ValidateLabels, ValidateObjectMeta, ValidateObjectMetaUpdate } from './meta.js';
import {
  IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidCIDR, IsValidIP, IsValidPortName, IsValidPortNum,
  NameIsDNS1035Label,
} from './names.js';

export const ClusterIPNone = 'None';
/** core.MaxClientIPServiceAffinitySeconds: one day. */
export const MaxClientIPServiceAffinitySeconds = 86400;

const AnnotationTopologyMode = 'service.kubernetes.io/topology-mode';
const DeprecatedAnnotationTopologyAwareHints = 'service.kubernetes.io/topology-aware-hints';
const AnnotationLoadBalancerSourceRangesKey = 'service.beta.kubernetes.io/load-balancer-source-ranges';

// The supported values, listed as Kubernetes lists them (sets.List sorts).
const supportedSessionAffinityType = ['ClientIP', 'None'];
const supportedServiceType = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'];
const supportedServiceInternalTrafficPolicy = ['Cluster', 'Local'];
const validExternalTrafficPolicies = ['Cluster', 'Local'];
const supportedServiceIPFamily = ['IPv4', 'IPv6'];
const supportedServiceIPFamilyPolicy = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const supportedLoadBalancerIPMode = ['Proxy', 'VIP'];

function spec(svc: Service | undefined): ServiceSpec {
  return svc?.spec ?? {};
}

/** Exactly one clusterIPs entry, and it is "None". */
export function isHeadlessService(svc: Service | undefined): boolean {
  const ips = svc?.spec?.clusterIPs;
  return !!ips && ips.length === 1 && ips[0] === ClusterIPNone;
}

/** pkg/api/service ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with externalIPs. */
export function externallyAccessible(svc: Service | undefined): boolean {
  const s = spec(svc);
  return s.type === 'LoadBalancer' || s.type === 'NodePort' || (s.type === 'ClusterIP' && (s.externalIPs?.length ?? 0) > 0);
}

/** pkg/api/service RequestsOnlyLocalTraffic. */
export function requestsOnlyLocalTraffic(svc: Service | undefined): boolean {
  const s = spec(svc);
  if (s.type !== 'LoadBalancer' && s.type !== 'NodePort') return false;
  return s.externalTrafficPolicy === 'Local';
}

/** pkg/api/service NeedsHealthCheck: a LoadBalancer with externalTrafficPolicy Local. */
export function needsHealthCheck(svc: Service | undefined): boolean {
  return spec(svc).type === 'LoadBalancer' && requestsOnlyLocalTraffic(svc);
}

/** ValidateNonSpecialIP: for externalIPs and endpoint addresses. */
export function ValidateNonSpecialIP(ipAddress: string, p: Path): FieldError[] {
  const ip = parseIPSloppy(ipAddress);
  if (!ip) return [field.invalid(p, ipAddress, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  if (isUnspecified(ip)) errs.push(field.invalid(p, ipAddress, `may not be unspecified (${ipAddress})`));
  if (isLoopback(ip)) errs.push(field.invalid(p, ipAddress, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (isLinkLocalUnicast(ip)) errs.push(field.invalid(p, ipAddress, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (isLinkLocalMulticast(ip)) errs.push(field.invalid(p, ipAddress, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

/** ValidatePortNumOrName: an int must be a port number, a string an IANA_SVC_NAME. */
export function ValidatePortNumOrName(port: number | string | undefined, p: Path): FieldError[] {
  // An absent IntOrString is the int 0.
  if (typeof port === 'string') return invalidEach(p, port, IsValidPortName(port));
  const n = port ?? 0;
  return invalidEach(p, n, IsValidPortNum(n));
}

function validateServicePort(sp: ServicePort, requireName: boolean, allNames: Set<string>, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  const name = sp.name ?? '';
  if (requireName && name.length === 0) {
    errs.push(field.required(p.child('name'), ''));
  } else if (name.length !== 0) {
    errs.push(...invalidEach(p.child('name'), name, IsDNS1123Label(name)));
    if (allNames.has(name)) errs.push(field.duplicate(p.child('name'), name));
    else allNames.add(name);
  }
  errs.push(...invalidEach(p.child('port'), sp.port ?? 0, IsValidPortNum(sp.port ?? 0)));
  const protocol = sp.protocol ?? '';
  if (protocol.length === 0) errs.push(field.required(p.child('protocol'), ''));
  else if (!supportedPortProtocols.includes(protocol)) errs.push(field.notSupported(p.child('protocol'), protocol, supportedPortProtocols));
  errs.push(...ValidatePortNumOrName(sp.targetPort, p.child('targetPort')));
  if (sp.appProtocol !== undefined) errs.push(...invalidEach(p.child('appProtocol'), sp.appProtocol, IsQualifiedName(sp.appProtocol)));
  // Kubernetes tolerates targetPort on headless services (v1 compatibility).
  return errs;
}

function validateClientIPAffinityConfig(config: SessionAffinityConfig | undefined, p: Path): FieldError[] {
  const why = 'when session affinity type is ClientIP';
  if (!config) return [field.required(p, why)];
  if (!config.clientIP) return [field.required(p.child('clientIP'), why)];
  const t = config.clientIP.timeoutSeconds;
  if (t === undefined || t === null) return [field.required(p.child('clientIP').child('timeoutSeconds'), why)];
  if (t <= 0 || t > MaxClientIPServiceAffinitySeconds) {
    return [field.invalid(p.child('clientIP').child('timeoutSeconds'), t, `must be greater than 0 and less than ${MaxClientIPServiceAffinitySeconds}`)];
  }
  return [];
}

/** `%#v` of the core.ServicePort{Protocol, Port} key that Duplicate reports. */
function goServicePortKey(protocol: string, port: number): string {
  return `core.ServicePort{Name:"", Protocol:${JSON.stringify(protocol)}, AppProtocol:(*string)(nil), Port:${port}, ` +
    'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}';
}

/** A *string / *IPFamilyPolicy as field.Error prints it: quoted, or null. */
function ptrValue(v: string | undefined): string | null {
  return v === undefined || v === null ? null : v;
}

/**
 * ValidateServiceClusterIPsRelatedFields checks clusterIP/clusterIPs,
 * ipFamilies and ipFamilyPolicy on their own. kube-apiserver also runs it
 * before allocating, so allocation never sees malformed input.
 */
export function ValidateServiceClusterIPsRelatedFields(svc: Service): FieldError[] {
  const s = spec(svc);
  // Everything must be unset for ExternalName, which ValidateService checks.
  if (s.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  let hasInvalidIPs = false;
  const specPath = Path.root('spec');
  const clusterIPsField = specPath.child('clusterIPs');
  const ipFamiliesField = specPath.child('ipFamilies');
  const clusterIPs = s.clusterIPs ?? [];
  const families = s.ipFamilies ?? [];
  const ipsValue = () => goValue.slice(s.clusterIPs);

  // clusterIP and clusterIPs[0] must agree (the registry syncs them for old clients).
  if (s.clusterIP) {
    if (clusterIPs.length === 0) errs.push(field.required(clusterIPsField, ''));
    else if (clusterIPs[0] !== s.clusterIP) errs.push(field.invalid(clusterIPsField, ipsValue(), 'first value must match `clusterIP`'));
  } else if (clusterIPs.length !== 0) {
    errs.push(field.invalid(clusterIPsField, ipsValue(), 'must be empty when `clusterIP` is not specified'));
  }

  const seen = new Set<string>();
  families.forEach((fam, i) => {
    if (!supportedServiceIPFamily.includes(fam)) errs.push(field.notSupported(ipFamiliesField.index(i), fam, supportedServiceIPFamily));
    // Being unique is what makes two families dual-stack, in any order.
    if (seen.has(fam)) errs.push(field.duplicate(ipFamiliesField.index(i), fam));
    seen.add(fam);
  });

  if (s.ipFamilyPolicy !== undefined && s.ipFamilyPolicy !== null && !supportedServiceIPFamilyPolicy.includes(s.ipFamilyPolicy)) {
    errs.push(field.notSupported(specPath.child('ipFamilyPolicy'), s.ipFamilyPolicy, supportedServiceIPFamilyPolicy));
  }

  clusterIPs.forEach((ip, i) => {
    // "None" is valid only first and alone.
    if (i === 0 && ip === ClusterIPNone) {
      if (clusterIPs.length > 1) {
        hasInvalidIPs = true;
        errs.push(field.invalid(clusterIPsField, ipsValue(), "'None' must be the first and only value"));
      }
      return;
    }
    const msgs = IsValidIP(ip);
    if (msgs.length) hasInvalidIPs = true;
    errs.push(...invalidEach(clusterIPsField.index(i), ip, msgs));
  });

  if (clusterIPs.length > 2) errs.push(field.invalid(clusterIPsField, ipsValue(), 'may only hold up to 2 values'));

  // Bad IPs would only make the family checks below confusing.
  if (hasInvalidIPs) return errs;

  if (clusterIPs.length > 1) {
    const fams = new Set(clusterIPs.map((ip) => parseIPSloppy(ip)?.family));
    if (!(fams.has('IPv4') && fams.has('IPv6'))) {
      errs.push(field.invalid(clusterIPsField, ipsValue(), 'may specify no more than one IP for each IP family'));
    }
  }

  if (!isHeadlessService(svc) && clusterIPs.length > 0 && families.length > 0) {
    clusterIPs.forEach((ip, i) => {
      if (i > families.length - 1) return;
      const isV6 = parseIPSloppy(ip)?.family === 'IPv6';
      if (families[i] === 'IPv4' && isV6) {
        errs.push(field.invalid(clusterIPsField.index(i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      }
      if (families[i] === 'IPv6' && !isV6) {
        errs.push(field.invalid(clusterIPsField.index(i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
      }
    });
  }
  return errs;
}

function validateLoadBalancerClassField(oldSvc: Service | undefined, svc: Service): FieldError[] {
  const errs: FieldError[] = [];
  const p = Path.root('spec', 'loadBalancerClass');
  const cls = spec(svc).loadBalancerClass;
  if (oldSvc && spec(oldSvc).type === 'LoadBalancer' && spec(svc).type === 'LoadBalancer') {
    const oldCls = spec(oldSvc).loadBalancerClass;
    if ((oldCls ?? null) !== (cls ?? null)) errs.push(field.invalid(p, ptrValue(cls), 'may not change once set'));
  }
  if (spec(svc).type === 'LoadBalancer') {
    if (cls !== undefined && cls !== null) errs.push(...invalidEach(p, cls, IsQualifiedName(cls)));
  } else if (cls !== undefined && cls !== null) {
    errs.push(field.forbidden(p, "may only be used when `type` is 'LoadBalancer'"));
  }
  return errs;
}

function validateServiceExternalTrafficPolicy(svc: Service): FieldError[] {
  const errs: FieldError[] = [];
  const s = spec(svc);
  const p = Path.root('spec');
  const etp = s.externalTrafficPolicy ?? '';
  if (!externallyAccessible(svc)) {
    if (etp !== '') errs.push(field.invalid(p.child('externalTrafficPolicy'), etp, 'may only be set for externally-accessible services'));
  } else if (etp === '') {
    errs.push(field.required(p.child('externalTrafficPolicy'), ''));
  } else if (!validExternalTrafficPolicies.includes(etp)) {
    errs.push(field.notSupported(p.child('externalTrafficPolicy'), etp, validExternalTrafficPolicies));
  }
  const hc = s.healthCheckNodePort ?? 0;
  if (!needsHealthCheck(svc)) {
    if (hc !== 0) {
      errs.push(field.invalid(p.child('healthCheckNodePort'), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
    }
  } else if (hc === 0) {
    errs.push(field.required(p.child('healthCheckNodePort'), ''));
  } else {
    errs.push(...invalidEach(p.child('healthCheckNodePort'), hc, IsValidPortNum(hc)));
  }
  return errs;
}

function validateServiceInternalTrafficFieldsValue(svc: Service): FieldError[] {
  const s = spec(svc);
  const p = Path.root('spec', 'internalTrafficPolicy');
  if (s.internalTrafficPolicy === undefined || s.internalTrafficPolicy === null) {
    // Not forbidden on ExternalName, for compatibility with stored objects.
    if (s.type === 'NodePort' || s.type === 'LoadBalancer' || s.type === 'ClusterIP') return [field.required(p, '')];
    return [];
  }
  if (!supportedServiceInternalTrafficPolicy.includes(s.internalTrafficPolicy)) {
    return [field.notSupported(p, s.internalTrafficPolicy, supportedServiceInternalTrafficPolicy)];
  }
  return [];
}

/** ValidateService: the rules for a Service on create (and, after the update-only rules, on update). */
export function ValidateService(svc: Service): FieldError[] {
  const metaPath = Path.root('metadata');
  const errs = ValidateObjectMeta(svc.metadata, true, NameIsDNS1035Label, metaPath);
  const annotations = svc.metadata?.annotations ?? {};
  const s = spec(svc);
  const ports = s.ports ?? [];
  const headless = isHeadlessService(svc);

  if (AnnotationTopologyMode in annotations && DeprecatedAnnotationTopologyAwareHints in annotations &&
      annotations[AnnotationTopologyMode] !== annotations[DeprecatedAnnotationTopologyAwareHints]) {
    errs.push(field.invalid(metaPath.child('annotations').key(AnnotationTopologyMode), annotations[AnnotationTopologyMode],
      `must match annotations[${DeprecatedAnnotationTopologyAwareHints}] when both are specified`));
  }

  const specPath = Path.root('spec');
  if (ports.length === 0 && !headless && s.type !== 'ExternalName') errs.push(field.required(specPath.child('ports'), ''));

  switch (s.type) {
    case 'LoadBalancer':
      if (headless) errs.push(field.invalid(specPath.child('clusterIPs').index(0), s.clusterIPs![0], "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(field.invalid(specPath.child('clusterIPs').index(0), s.clusterIPs![0], "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if ((s.clusterIPs?.length ?? 0) > 0) errs.push(field.forbidden(specPath.child('clusterIPs'), 'may not be set for ExternalName services'));
      if ((s.ipFamilies?.length ?? 0) > 0) errs.push(field.forbidden(specPath.child('ipFamilies'), 'may not be set for ExternalName services'));
      if (s.ipFamilyPolicy !== undefined && s.ipFamilyPolicy !== null) {
        errs.push(field.forbidden(specPath.child('ipFamilyPolicy'), 'may not be set for ExternalName services'));
      }
      // A CNAME may end with a dot to say it is fully qualified.
      const cname = (s.externalName ?? '').replace(/\.$/, '');
      if (cname.length > 0) errs.push(...invalidEach(specPath.child('externalName'), cname, IsDNS1123Subdomain(cname)));
      else errs.push(field.required(specPath.child('externalName'), ''));
      break;
    }
  }

  const allPortNames = new Set<string>();
  const portsPath = specPath.child('ports');
  ports.forEach((sp, i) => errs.push(...validateServicePort(sp, ports.length > 1, allPortNames, portsPath.index(i))));

  if (s.selector !== undefined && s.selector !== null) errs.push(...ValidateLabels(s.selector, specPath.child('selector')));

  const affinity = s.sessionAffinity ?? '';
  if (affinity.length === 0) errs.push(field.required(specPath.child('sessionAffinity'), ''));
  else if (!supportedSessionAffinityType.includes(affinity)) {
    errs.push(field.notSupported(specPath.child('sessionAffinity'), affinity, supportedSessionAffinityType));
  }
  if (affinity === 'ClientIP') {
    errs.push(...validateClientIPAffinityConfig(s.sessionAffinityConfig, specPath.child('sessionAffinityConfig')));
  } else if (affinity === 'None' && s.sessionAffinityConfig !== undefined && s.sessionAffinityConfig !== null) {
    errs.push(field.forbidden(specPath.child('sessionAffinityConfig'), 'must not be set when session affinity is None'));
  }

  errs.push(...ValidateServiceClusterIPsRelatedFields(svc));

  (s.externalIPs ?? []).forEach((ip, i) => {
    const idx = specPath.child('externalIPs').index(i);
    const msgs = IsValidIP(ip);
    if (msgs.length) errs.push(...invalidEach(idx, ip, msgs));
    else errs.push(...ValidateNonSpecialIP(ip, idx));
  });

  const type = s.type ?? '';
  if (type.length === 0) errs.push(field.required(specPath.child('type'), ''));
  else if (!supportedServiceType.includes(type)) errs.push(field.notSupported(specPath.child('type'), type, supportedServiceType));

  if (type === 'ClusterIP') {
    ports.forEach((sp, i) => {
      if ((sp.nodePort ?? 0) !== 0) errs.push(field.forbidden(portsPath.index(i).child('nodePort'), "may not be used when `type` is 'ClusterIP'"));
    });
  }

  // The same nodePort may serve two protocols, but not twice the same one.
  const nodePorts = new Set<string>();
  ports.forEach((sp, i) => {
    const np = sp.nodePort ?? 0;
    if (np === 0) return;
    const key = `${sp.protocol ?? ''}/${np}`;
    if (nodePorts.has(key)) errs.push(field.duplicate(portsPath.index(i).child('nodePort'), np));
    nodePorts.add(key);
  });

  const portKeys = new Set<string>();
  ports.forEach((sp, i) => {
    const key = `${sp.protocol ?? ''}/${sp.port ?? 0}`;
    if (portKeys.has(key)) errs.push(field.duplicate(portsPath.index(i), goValue.raw(goServicePortKey(sp.protocol ?? '', sp.port ?? 0))));
    portKeys.add(key);
  });

  if ((s.loadBalancerSourceRanges?.length ?? 0) > 0) {
    // Kubernetes spells this path with a capital L.
    const fp = specPath.child('LoadBalancerSourceRanges');
    if (type !== 'LoadBalancer') errs.push(field.forbidden(fp, "may only be used when `type` is 'LoadBalancer'"));
    // Values may be space-padded: a leftover of the annotation era.
    s.loadBalancerSourceRanges!.forEach((v, i) => {
      const value = v.trim();
      errs.push(...invalidEach(fp.index(i), value, IsValidCIDR(value)));
    });
  } else if (AnnotationLoadBalancerSourceRangesKey in annotations) {
    const fp = Path.root('metadata', 'annotations').key(AnnotationLoadBalancerSourceRangesKey);
    if (type !== 'LoadBalancer') errs.push(field.forbidden(fp, "may only be used when `type` is 'LoadBalancer'"));
    const val = annotations[AnnotationLoadBalancerSourceRangesKey].trim();
    if (val !== '') {
      for (const part of val.split(',')) {
        const value = part.trim();
        errs.push(...invalidEach(fp, value, IsValidCIDR(value)));
      }
    }
  }

  if (s.allocateLoadBalancerNodePorts !== undefined && s.allocateLoadBalancerNodePorts !== null && type !== 'LoadBalancer') {
    errs.push(field.forbidden(specPath.child('allocateLoadBalancerNodePorts'), "may only be used when `type` is 'LoadBalancer'"));
  }
  if (type === 'LoadBalancer' && (s.allocateLoadBalancerNodePorts === undefined || s.allocateLoadBalancerNodePorts === null)) {
    // Kubernetes reports this one without the `spec.` prefix.
    errs.push(field.required(Path.root('allocateLoadBalancerNodePorts'), ''));
  }

  errs.push(...validateLoadBalancerClassField(undefined, svc));
  errs.push(...validateServiceExternalTrafficPolicy(svc));
  errs.push(...validateServiceInternalTrafficFieldsValue(svc));

  if (s.trafficDistribution !== undefined && s.trafficDistribution !== null && s.trafficDistribution !== 'PreferClose') {
    errs.push(field.notSupported(specPath.child('trafficDistribution'), s.trafficDistribution, ['PreferClose']));
  }
  return errs;
}

export const ValidateServiceCreate = ValidateService;

/** Users may add or remove the secondary clusterIP, never change the primary one (except to/from ExternalName). */
function validateUpgradeDowngradeClusterIPs(oldSvc: Service, svc: Service): FieldError[] {
  const errs: FieldError[] = [];
  if (spec(svc).type === 'ExternalName' || spec(oldSvc).type === 'ExternalName') return errs;
  if (isHeadlessService(oldSvc) && isHeadlessService(svc)) return errs;
  const oldIPs = spec(oldSvc).clusterIPs ?? [];
  const newIPs = spec(svc).clusterIPs ?? [];
  const p = Path.root('spec', 'clusterIPs');
  const value = () => goValue.slice(spec(svc).clusterIPs);
  if (oldIPs.length === newIPs.length) {
    oldIPs.forEach((ip, i) => {
      if (ip !== newIPs[i]) errs.push(field.invalid(p.index(i), value(), 'may not change once set'));
    });
  } else if (oldIPs.length > newIPs.length) {
    if (newIPs.length === 0) errs.push(field.invalid(p.index(0), value(), 'primary clusterIP can not be unset'));
    if (oldIPs.length > 0 && newIPs.length > 0 && newIPs[0] !== oldIPs[0]) errs.push(field.invalid(p.index(0), value(), 'may not change once set'));
    // Releasing the secondary IP needs an explicit SingleStack.
    if (newIPs.length === 1 && spec(svc).ipFamilyPolicy !== 'SingleStack') {
      errs.push(field.invalid(Path.root('spec', 'ipFamilyPolicy'), ptrValue(spec(svc).ipFamilyPolicy),
        "must be set to 'SingleStack' when releasing the secondary clusterIP"));
    }
  } else if (oldIPs.length > 0 && newIPs[0] !== oldIPs[0]) {
    errs.push(field.invalid(p.index(0), value(), 'may not change once set'));
  }
  return errs;
}

function validateUpgradeDowngradeIPFamilies(oldSvc: Service, svc: Service): FieldError[] {
  const errs: FieldError[] = [];
  if (spec(svc).type === 'ExternalName' || spec(oldSvc).type === 'ExternalName') return errs;
  const oldHeadless = isHeadlessService(oldSvc);
  const newHeadless = isHeadlessService(svc);
  // Headless services, and changes to/from headless, may change families.
  if (oldHeadless !== newHeadless || newHeadless) return errs;
  const oldFams = spec(oldSvc).ipFamilies ?? [];
  const newFams = spec(svc).ipFamilies ?? [];
  const p = Path.root('spec', 'ipFamilies');
  const famValue = () => goValue.slice(spec(svc).ipFamilies, 'core.IPFamily');
  // Kubernetes reports clusterIPs as the value of two of these ipFamilies errors.
  const ipsValue = () => goValue.slice(spec(svc).clusterIPs);
  if (oldFams.length === newFams.length) {
    oldFams.forEach((f, i) => {
      if (f !== newFams[i]) errs.push(field.invalid(p.index(0), famValue(), 'may not change once set'));
    });
  } else if (oldFams.length > newFams.length) {
    if ((spec(svc).clusterIPs?.length ?? 0) === 0) errs.push(field.invalid(p.index(0), famValue(), 'primary ipFamily can not be unset'));
    if (newFams.length > 0 && newFams[0] !== oldFams[0]) errs.push(field.invalid(p.index(0), ipsValue(), 'may not change once set'));
    if (newFams.length === 1 && spec(svc).ipFamilyPolicy !== 'SingleStack') {
      errs.push(field.invalid(Path.root('spec', 'ipFamilyPolicy'), ptrValue(spec(svc).ipFamilyPolicy),
        "must be set to 'SingleStack' when releasing the secondary ipFamily"));
    }
  } else if (oldFams.length > 0 && newFams.length > 0 && newFams[0] !== oldFams[0]) {
    errs.push(field.invalid(p.index(0), ipsValue(), 'may not change once set'));
  }
  return errs;
}

/** ValidateServiceUpdate: update-only rules first, then every ValidateService rule on the new object. */
export function ValidateServiceUpdate(svc: Service, oldSvc: Service): FieldError[] {
  const errs = ValidateObjectMetaUpdate(svc.metadata, oldSvc.metadata, Path.root('metadata'));
  errs.push(...validateUpgradeDowngradeClusterIPs(oldSvc, svc));
  errs.push(...validateUpgradeDowngradeIPFamilies(oldSvc, svc));
  errs.push(...validateLoadBalancerClassField(oldSvc, svc));
  if (needsHealthCheck(oldSvc) && needsHealthCheck(svc) && (spec(svc).healthCheckNodePort ?? 0) !== (spec(oldSvc).healthCheckNodePort ?? 0)) {
    errs.push(field.forbidden(Path.root('spec', 'healthCheckNodePort'), 'field is immutable'));
  }
  errs.push(...ValidateService(svc));
  return errs;
}

/** ValidateServiceStatusUpdate: metadata rules and the load-balancer status. */
export function ValidateServiceStatusUpdate(svc: Service, oldSvc: Service): FieldError[] {
  const errs = ValidateObjectMetaUpdate(svc.metadata, oldSvc.metadata, Path.root('metadata'));
  const ingrPath = Path.root('status', 'loadBalancer', 'ingress');
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  if (spec(svc).type !== 'LoadBalancer' && ingress.length !== 0) {
    errs.push(field.forbidden(ingrPath, "may only be used when `spec.type` is 'LoadBalancer'"));
    return errs;
  }
  ingress.forEach((ing, i) => {
    const ip = ing.ip ?? '';
    const idx = ingrPath.index(i);
    if (ip) errs.push(...invalidEach(idx.child('ip'), ip, IsValidIP(ip)));
    if (ing.ipMode === undefined || ing.ipMode === null) {
      if (ip) errs.push(field.required(idx.child('ipMode'), 'must be specified when `ip` is set'));
    } else if (!ip) {
      errs.push(field.forbidden(idx.child('ipMode'), 'may not be specified when `ip` is not set'));
    } else if (!supportedLoadBalancerIPMode.includes(ing.ipMode)) {
      errs.push(field.notSupported(idx.child('ipMode'), ing.ipMode, supportedLoadBalancerIPMode));
    }
    if (ing.hostname) {
      errs.push(...invalidEach(idx.child('hostname'), ing.hostname, IsDNS1123Subdomain(ing.hostname)));
      if (parseIPSloppy(ing.hostname)) errs.push(field.invalid(idx.child('hostname'), ing.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

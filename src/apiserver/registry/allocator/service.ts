// The Service registry's allocation logic, as pure functions: kube-apiserver's
// pkg/registry/core/service/storage (alloc.go, storage.go's beginCreate /
// beginUpdate, normalizeClusterIPs, patchAllocatedValues, defaultOnRead) and
// the strategy's dropTypeDependentFields (~v1.32).
//
// Everything takes values and returns values. An allocation either succeeds
// with the filled-in Service and the new allocator state, or fails and
// leaves nothing allocated (the caller keeps its old state): this is
// Kubernetes' commit/revert transaction, with "revert" meaning "drop the new
// state". Releases Kubernetes defers to commit are applied to the returned
// state, so persisting it in the same Store transaction as the Service is
// the commit.
//
// Order of the create path (generic registry Create + the Service REST hooks):
//   normalizeClusterIPs → allocate (family init, clusterIPs, nodePorts,
//   healthCheckNodePort) → PrepareForCreate → ValidateService.
// Update path:
//   defaultOnRead(old) → patchAllocatedValues → normalizeClusterIPs →
//   allocate → PrepareForUpdate (dropTypeDependentFields) → ValidateServiceUpdate.
// admitService runs either one whole.
import type { Service, ServicePort, ServiceSpec, ServiceStatus } from 'kubernetes-types/core/v1.js';
import type { FieldError } from '../../../api/errors.js';
import { goValue } from '../../../api/errors.js';
import { field, Path } from '../../../api/validation/field.js';
import { parseCIDRSloppy, parseIPSloppy, type IPFamily } from '../../../api/validation/ip.js';
import {
  ClusterIPNone, needsHealthCheck, ValidateService, ValidateServiceClusterIPsRelatedFields, ValidateServiceUpdate,
} from '../../../api/validation/service.js';
import type { Rand } from './bitmap.js';
import {
  allocateIP, allocateNextIP, newIPRange, releaseIP, restoreIPRange, snapshotIPRange, withRange,
  type DualStackIPRanges, type RangeAllocation,
} from './ip.js';
import {
  allocateNextPort, allocatePort, DefaultServiceNodePortRange, newPortAllocator, releasePort, restorePortAllocator,
  snapshotPortAllocator, type PortAllocator,
} from './port.js';

export const DefaultServiceClusterIPRange = '10.96.0.0/16';
/** kube-apiserver refuses service CIDRs with more than 20 host bits: the bitmap is stored whole. */
const maxCIDRBits = 20;

/** Everything the Service registry allocates from, as one value. */
export interface ServiceAllocatorState {
  readonly ip: DualStackIPRanges;
  readonly nodePorts: PortAllocator;
}

/** The JSON form of ServiceAllocatorState (one RangeAllocation per range, primary family first). */
export interface ServiceAllocatorSnapshot {
  serviceIPs: RangeAllocation[];
  serviceNodePorts: RangeAllocation;
}

export interface ServiceAllocatorConfig {
  /** --service-cluster-ip-range: one CIDR, or two of different families. Default 10.96.0.0/16. */
  serviceClusterIPRange?: string;
  /** --service-node-port-range. Default 30000-32767. */
  serviceNodePortRange?: string;
}

/**
 * The allocators for a cluster's flags, empty. Throws an Error with
 * kube-apiserver's flag-validation message when the flags are unusable.
 */
export function newServiceAllocatorState(config: ServiceAllocatorConfig = {}): ServiceAllocatorState {
  const flag = config.serviceClusterIPRange ?? DefaultServiceClusterIPRange;
  const parts = flag.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new Error('--service-cluster-ip-range must contain at least one valid cidr');
  if (parts.length > 2) throw new Error('--service-cluster-ip-range must not contain more than two entries');
  const cidrs = parts.map((p) => {
    const c = parseCIDRSloppy(p);
    // Go's net.ParseCIDR error text.
    if (!c) throw new Error(`invalid CIDR address: ${p}`);
    return c;
  });
  cidrs.forEach((c, i) => {
    if (c.bits - c.prefix > maxCIDRBits) {
      const flagName = i === 0 ? '--service-cluster-ip-range' : '--service-cluster-ip-range[1]';
      throw new Error(`specified ${flagName} is too large; for ${c.bits}-bit addresses, the mask must be >= ${c.bits - maxCIDRBits}`);
    }
  });
  if (cidrs.length === 2 && cidrs[0].network.family === cidrs[1].network.family) {
    throw new Error('--service-cluster-ip-range[0] and --service-cluster-ip-range[1] must be of different IP family');
  }
  let ip: DualStackIPRanges = { primaryFamily: cidrs[0].network.family, byFamily: {} };
  for (const p of parts) ip = withRange(ip, newIPRange(p));
  return { ip, nodePorts: newPortAllocator(config.serviceNodePortRange ?? DefaultServiceNodePortRange) };
}

export function snapshotServiceAllocators(s: ServiceAllocatorState): ServiceAllocatorSnapshot {
  const fams: IPFamily[] = [s.ip.primaryFamily, s.ip.primaryFamily === 'IPv4' ? 'IPv6' : 'IPv4'];
  return {
    serviceIPs: fams.filter((f) => s.ip.byFamily[f]).map((f) => snapshotIPRange(s.ip.byFamily[f]!)),
    serviceNodePorts: snapshotPortAllocator(s.nodePorts),
  };
}

export function restoreServiceAllocators(snap: ServiceAllocatorSnapshot): ServiceAllocatorState {
  const ranges = snap.serviceIPs.map(restoreIPRange);
  if (ranges.length === 0) throw new Error('--service-cluster-ip-range must contain at least one valid cidr');
  let ip: DualStackIPRanges = { primaryFamily: ranges[0].family, byFamily: {} };
  for (const r of ranges) ip = withRange(ip, r);
  return { ip, nodePorts: restorePortAllocator(snap.serviceNodePorts) };
}

/** Why an allocation failed: a 422 with field errors, or a 500 with a message. */
export type AllocationFailure =
  | { reason: 'Invalid'; errors: FieldError[] }
  /** Rendered by errors.internal(message): `Internal error occurred: <message>`. */
  | { reason: 'InternalError'; message: string };

export type AllocationResult =
  | { ok: true; service: Service; state: ServiceAllocatorState }
  | { ok: false; failure: AllocationFailure };

// ---- small helpers over the Service shape -------------------------------

type Spec = ServiceSpec;

function specOf(svc: Service): Spec {
  return ((svc as { spec?: Spec }).spec ??= {});
}

function setStatus(svc: Service, status: ServiceStatus | undefined): void {
  if (status === undefined) delete (svc as { status?: ServiceStatus }).status;
  else (svc as { status?: ServiceStatus }).status = status;
}

function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

function otherFamily(f: IPFamily): IPFamily {
  return f === 'IPv4' ? 'IPv6' : 'IPv4';
}

function familyOf(ip: string): IPFamily | 'unknown' {
  return parseIPSloppy(ip)?.family ?? 'unknown';
}

function sameStringSlice(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function needsClusterIP(svc: Service): boolean {
  return specOf(svc).type !== 'ExternalName';
}

function needsNodePort(svc: Service): boolean {
  const t = specOf(svc).type;
  return t === 'NodePort' || t === 'LoadBalancer';
}

function shouldAllocateNodePorts(svc: Service): boolean {
  const s = specOf(svc);
  if (s.type === 'NodePort') return true;
  // Defaulting makes allocateLoadBalancerNodePorts non-nil for LoadBalancers.
  if (s.type === 'LoadBalancer') return s.allocateLoadBalancerNodePorts !== false;
  return false;
}

function sameClusterIPs(a: Service, b: Service): boolean {
  return sameStringSlice(specOf(a).clusterIPs, specOf(b).clusterIPs);
}

function sameIPFamilies(a: Service, b: Service): boolean {
  return sameStringSlice(specOf(a).ipFamilies, specOf(b).ipFamilies);
}

function collectServiceNodePorts(svc: Service): number[] {
  return (specOf(svc).ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n !== 0);
}

function invalid(errors: FieldError[]): { ok: false; failure: AllocationFailure } {
  return { ok: false, failure: { reason: 'Invalid', errors } };
}

function internal(message: string): { ok: false; failure: AllocationFailure } {
  return { ok: false, failure: { reason: 'InternalError', message } };
}

// ---- field fix-ups (storage.go / strategy.go) -----------------------------

/**
 * normalizeClusterIPs keeps clusterIP and clusterIPs in step for clients that
 * only know one of them. Mutates `newSvc`.
 */
export function normalizeClusterIPs(newSvc: Service, oldSvc?: Service): void {
  const n = specOf(newSvc);
  if (!oldSvc) {
    // An old client set only the singular field.
    if (n.clusterIP && (n.clusterIPs?.length ?? 0) === 0) n.clusterIPs = [n.clusterIP];
    return;
  }
  const o = specOf(oldSvc);
  // An old client patching something else dropped clusterIPs.
  if ((o.clusterIPs?.length ?? 0) > 0 && (n.clusterIPs?.length ?? 0) === 0 && (o.clusterIP ?? '') === (n.clusterIP ?? '')) {
    n.clusterIPs = o.clusterIPs!.slice();
  }
  if ((o.clusterIP ?? '') !== (n.clusterIP ?? '')) {
    if (o.clusterIP && !n.clusterIP) {
      // Clearing the singular field clears the plural one, unless the user changed that too.
      if (sameClusterIPs(oldSvc, newSvc)) delete n.clusterIPs;
    } else if (sameClusterIPs(oldSvc, newSvc)) {
      n.clusterIPs = [n.clusterIP ?? ''];
    }
  }
}

/**
 * patchAllocatedValues: a client re-sending the YAML it created the Service
 * from (without the allocated clusterIP or nodePorts) keeps what was
 * allocated, so `apply` is idempotent. Mutates `newSvc`.
 */
export function patchAllocatedValues(newSvc: Service, oldSvc: Service): void {
  const n = specOf(newSvc);
  const o = specOf(oldSvc);
  if (needsClusterIP(oldSvc) && needsClusterIP(newSvc)) {
    if (!n.clusterIP) n.clusterIP = o.clusterIP;
    if ((n.clusterIPs?.length ?? 0) === 0 && (o.clusterIPs?.length ?? 0) > 0) n.clusterIPs = o.clusterIPs!.slice();
  }
  if (needsNodePort(oldSvc) && needsNodePort(newSvc)) {
    // Ports still used by the new spec cannot be handed to another port.
    const newUsed = new Set(collectServiceNodePorts(newSvc));
    const used = new Set(collectServiceNodePorts(oldSvc).filter((p) => newUsed.has(p)));
    // Ports are matched by name: the user may have changed anything else.
    const byName = new Map<string, number>();
    for (const p of o.ports ?? []) byName.set(p.name ?? '', p.nodePort ?? 0);
    for (const p of n.ports ?? []) {
      if ((p.nodePort ?? 0) === 0) {
        const oldVal = byName.get(p.name ?? '') ?? 0;
        if (!used.has(oldVal) && oldVal !== 0) p.nodePort = oldVal;
      }
    }
  }
  if (needsHCNodePort(oldSvc) && needsHCNodePort(newSvc) && (n.healthCheckNodePort ?? 0) === 0 && o.healthCheckNodePort) {
    n.healthCheckNodePort = o.healthCheckNodePort;
  }
}

function needsHCNodePort(svc: Service): boolean {
  const s = specOf(svc);
  return s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
}

/**
 * dropTypeDependentFields (strategy.go): on a type change, clear the fields
 * that no longer apply *if the user left them unchanged* (a changed value is
 * intent, and validation judges it). Mutates `newSvc`.
 */
export function dropTypeDependentFields(newSvc: Service, oldSvc: Service): void {
  const n = specOf(newSvc);
  const o = specOf(oldSvc);
  if (needsClusterIP(oldSvc) && !needsClusterIP(newSvc)) {
    if ((o.clusterIP ?? '') === (n.clusterIP ?? '') && sameClusterIPs(oldSvc, newSvc)) {
      delete n.clusterIP;
      delete n.clusterIPs;
    }
    if (sameIPFamilies(oldSvc, newSvc)) delete n.ipFamilies;
    if ((o.ipFamilyPolicy ?? '') === (n.ipFamilyPolicy ?? '')) delete n.ipFamilyPolicy;
  }
  if (needsNodePort(oldSvc) && !needsNodePort(newSvc)) {
    // Users may remove or move NodePorts, but not add new ones, for this to apply.
    const oldPorts = new Set(collectServiceNodePorts(oldSvc));
    if (collectServiceNodePorts(newSvc).every((p) => oldPorts.has(p))) {
      for (const p of n.ports ?? []) delete p.nodePort;
    }
  }
  if (needsHCNodePort(oldSvc) && !needsHCNodePort(newSvc) && (o.healthCheckNodePort ?? 0) === (n.healthCheckNodePort ?? 0)) {
    delete n.healthCheckNodePort;
  }
  if (o.type === 'LoadBalancer' && n.type !== 'LoadBalancer') {
    if (n.allocateLoadBalancerNodePorts !== undefined && o.allocateLoadBalancerNodePorts !== undefined &&
        n.allocateLoadBalancerNodePorts === o.allocateLoadBalancerNodePorts) {
      delete n.allocateLoadBalancerNodePorts;
    }
    if ((o.loadBalancerClass ?? null) === (n.loadBalancerClass ?? null)) delete n.loadBalancerClass;
  }
  if (externallyAccessible(oldSvc) && !externallyAccessible(newSvc) && (o.externalTrafficPolicy ?? '') === (n.externalTrafficPolicy ?? '')) {
    delete n.externalTrafficPolicy;
  }
  // The load balancer goes away asynchronously; the user need not see that.
  if (n.type !== 'LoadBalancer') setStatus(newSvc, { ...((newSvc.status as ServiceStatus | undefined) ?? {}), loadBalancer: {} });
}

function externallyAccessible(svc: Service): boolean {
  const s = specOf(svc);
  return s.type === 'LoadBalancer' || s.type === 'NodePort' || (s.type === 'ClusterIP' && (s.externalIPs?.length ?? 0) > 0);
}

/** The strategy's PrepareForCreate: users cannot set status. Go renders the empty status as `loadBalancer: {}`. */
export function prepareServiceForCreate(svc: Service): void {
  setStatus(svc, { loadBalancer: {} });
}

/** The strategy's PrepareForUpdate: status comes from the stored object, then type-dependent fields are dropped. */
export function prepareServiceForUpdate(newSvc: Service, oldSvc: Service): void {
  setStatus(newSvc, clone(oldSvc.status as ServiceStatus | undefined));
  dropTypeDependentFields(newSvc, oldSvc);
}

/**
 * defaultOnReadService: objects stored before these fields existed get
 * them on read (ipFamilies from clusterIPs, and the policy). Mutates `svc`.
 */
export function defaultOnReadService(svc: Service, primaryFamily: IPFamily): void {
  normalizeClusterIPs(svc);
  const s = specOf(svc);
  if (s.type === 'ExternalName') {
    // It used to be defaulted for every type; it means nothing here.
    delete s.internalTrafficPolicy;
    return;
  }
  if ((s.ipFamilies?.length ?? 0) > 0) return;
  if (s.clusterIP === ClusterIPNone) {
    if (Object.keys(s.selector ?? {}).length === 0) {
      // Headless without selector: the endpoints may be of either family.
      s.ipFamilyPolicy = 'RequireDualStack';
      s.ipFamilies = [primaryFamily, otherFamily(primaryFamily)];
    } else {
      s.ipFamilyPolicy = 'SingleStack';
      s.ipFamilies = [primaryFamily];
    }
  } else {
    s.ipFamilies = (s.clusterIPs ?? []).map((ip) => (familyOf(ip) === 'IPv6' ? 'IPv6' : 'IPv4'));
    if (s.ipFamilies.length === 1) s.ipFamilyPolicy = 'SingleStack';
    else if (s.ipFamilies.length === 2) s.ipFamilyPolicy = 'RequireDualStack';
  }
}

// ---- allocation (alloc.go) ------------------------------------------------

/** A PreferDualStack service whose IP fields are untouched is never upgraded or downgraded by a cluster change. */
function isMatchingPreferDualStackClusterIPFields(svc: Service, oldSvc: Service | undefined): boolean {
  if (!oldSvc) return false;
  const n = specOf(svc);
  const o = specOf(oldSvc);
  if (n.ipFamilyPolicy === undefined || n.ipFamilyPolicy === null) return false;
  if (o.type !== n.type) return false;
  if (n.type !== 'ClusterIP' && n.type !== 'NodePort' && n.type !== 'LoadBalancer') return false;
  if (n.ipFamilyPolicy !== 'PreferDualStack') return false;
  if (o.ipFamilyPolicy !== undefined && o.ipFamilyPolicy !== 'PreferDualStack') return false;
  return sameClusterIPs(oldSvc, svc) && sameIPFamilies(oldSvc, svc);
}

/**
 * initIPFamilyFields: set ipFamilyPolicy and ipFamilies from the request,
 * the old object and the cluster's families. Mutates `svc`.
 */
function initIPFamilyFields(svc: Service, oldSvc: Service | undefined, ip: DualStackIPRanges): FieldError[] {
  const s = specOf(svc);
  if (s.type === 'ExternalName') return [];
  if (isMatchingPreferDualStackClusterIPFields(svc, oldSvc)) return [];

  // No static default: a PUT without a policy adopts the old one, so that
  // single/dual stack only ever changes on explicit request.
  if (s.ipFamilyPolicy === undefined || s.ipFamilyPolicy === null) {
    const oldPolicy = oldSvc ? specOf(oldSvc).ipFamilyPolicy : undefined;
    if (oldPolicy) s.ipFamilyPolicy = oldPolicy;
    else if (s.clusterIP === ClusterIPNone && Object.keys(s.selector ?? {}).length === 0) s.ipFamilyPolicy = 'RequireDualStack';
    else s.ipFamilyPolicy = 'SingleStack';
  }

  const pre = ValidateServiceClusterIPsRelatedFields(svc);
  if (pre.length) return pre;

  const el: FieldError[] = [];
  const policyPath = Path.root('spec', 'ipFamilyPolicy');
  if (oldSvc) {
    if (s.ipFamilyPolicy === 'SingleStack') {
      // Unchanged fields plus SingleStack is clear intent to drop the secondary.
      if (sameClusterIPs(oldSvc, svc) && (s.clusterIPs?.length ?? 0) > 1) s.clusterIPs = s.clusterIPs!.slice(0, 1);
      if (sameIPFamilies(oldSvc, svc) && (s.ipFamilies?.length ?? 0) > 1) s.ipFamilies = s.ipFamilies!.slice(0, 1);
    } else {
      const o = specOf(oldSvc);
      if ((s.clusterIPs?.length ?? 0) > 0 && s.clusterIPs!.length < (o.clusterIPs?.length ?? 0)) {
        el.push(field.invalid(policyPath, s.ipFamilyPolicy, "must be 'SingleStack' to release the secondary cluster IP"));
      }
      if ((s.ipFamilies?.length ?? 0) > 0 && s.ipFamilies!.length < (o.ipFamilies?.length ?? 0)) {
        el.push(field.invalid(policyPath, s.ipFamilyPolicy, "must be 'SingleStack' to release the secondary IP family"));
      }
    }
  }
  if (s.ipFamilyPolicy === 'SingleStack') {
    if ((s.clusterIPs?.length ?? 0) === 2) {
      el.push(field.invalid(policyPath, s.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
    }
    if ((s.ipFamilies?.length ?? 0) === 2) {
      el.push(field.invalid(policyPath, s.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
    }
  }
  // ipFamilies follow the given clusterIPs.
  const clusterIPs = s.clusterIPs ?? [];
  for (let i = 0; i < clusterIPs.length; i++) {
    if (clusterIPs[i] === ClusterIPNone) break;
    const fam = familyOf(clusterIPs[i]);
    if (i >= (s.ipFamilies?.length ?? 0)) {
      if (fam === 'unknown' || !ip.byFamily[fam]) {
        el.push(field.invalid(Path.root('spec', 'clusterIPs').index(i), goValue.slice(s.clusterIPs), `${fam} is not configured on this cluster`));
      } else {
        s.ipFamilies = [...(s.ipFamilies ?? []), fam];
      }
    }
  }
  if (el.length) return el;

  // Headless without selector may hold both families even on a single-stack cluster.
  if (s.clusterIP === ClusterIPNone && Object.keys(s.selector ?? {}).length === 0) {
    if ((s.ipFamilies?.length ?? 0) === 0) s.ipFamilies = [ip.primaryFamily];
    if (s.ipFamilies!.length < 2 && s.ipFamilyPolicy !== 'SingleStack') {
      s.ipFamilies = [...s.ipFamilies!, otherFamily(s.ipFamilies![0] as IPFamily)];
    }
    return [];
  }

  const configured = Object.keys(ip.byFamily).length;
  if (s.ipFamilyPolicy === 'RequireDualStack' && configured < 2) {
    el.push(field.invalid(policyPath, s.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
  }
  (s.ipFamilies ?? []).forEach((fam, i) => {
    if (!ip.byFamily[fam as IPFamily]) el.push(field.invalid(Path.root('spec', 'ipFamilies').index(i), fam, 'not configured on this cluster'));
  });
  if (el.length) return el;

  if ((s.ipFamilies?.length ?? 0) === 0) s.ipFamilies = [ip.primaryFamily];
  if (s.ipFamilyPolicy !== 'SingleStack' && s.ipFamilies!.length === 1 && configured === 2) {
    s.ipFamilies = [...s.ipFamilies!, otherFamily(s.ipFamilies![0] as IPFamily)];
  }
  return [];
}

type IPStep = { ok: true; ip: DualStackIPRanges } | { ok: false; failure: AllocationFailure };

/** allocIPs: each family's requested IP (or "" for any), into clusterIPs. Mutates `svc`. */
function allocIPs(svc: Service, toAlloc: [IPFamily, string][], ipState: DualStackIPRanges, rand: Rand): IPStep {
  const s = specOf(svc);
  let ip = ipState;
  for (const [family, want] of toAlloc) {
    const range = ip.byFamily[family]!;
    if (want === '') {
      const r = allocateNextIP(range, rand);
      if (!r.ok) return internal(`failed to allocate a serviceIP: ${r.error.message}`);
      ip = withRange(ip, r.range);
      setClusterIP(s, family, r.ip);
    } else {
      if (!parseIPSloppy(want)) return internal(`failed to parse service IP ${JSON.stringify(want)}`);
      const r = allocateIP(range, want);
      if (!r.ok) {
        return invalid([field.invalid(Path.root('spec', 'clusterIPs'), goValue.slice(s.clusterIPs), `failed to allocate IP ${want}: ${r.error.message}`)]);
      }
      ip = withRange(ip, r.range);
      setClusterIP(s, family, want);
    }
  }
  return { ok: true, ip };
}

function setClusterIP(s: Spec, family: IPFamily, value: string): void {
  (s.ipFamilies ?? []).forEach((f, i) => {
    if (f !== family) return;
    s.clusterIPs![i] = value;
    if (i === 0) s.clusterIP = value;
  });
}

/** allocClusterIPs: fill every family's clusterIP (ExternalName and headless get none). */
function allocClusterIPs(svc: Service, ipState: DualStackIPRanges, rand: Rand): IPStep {
  const s = specOf(svc);
  if (s.type === 'ExternalName') return { ok: true, ip: ipState };
  if ((s.clusterIPs?.length ?? 0) > 0 && s.clusterIPs![0] === ClusterIPNone) return { ok: true, ip: ipState };
  s.clusterIPs ??= [];
  const toAlloc: [IPFamily, string][] = [];
  (s.ipFamilies ?? []).forEach((fam, i) => {
    if (i > s.clusterIPs!.length - 1) s.clusterIPs!.push('');
    toAlloc.push([fam as IPFamily, s.clusterIPs![i]]);
  });
  return allocIPs(svc, toAlloc, ipState, rand);
}

function releaseIPs(ipState: DualStackIPRanges, toRelease: [IPFamily, string][]): DualStackIPRanges {
  let ip = ipState;
  for (const [family, addr] of toRelease) {
    const range = ip.byFamily[family];
    // A family the cluster no longer has: nothing to release.
    if (!range) continue;
    ip = withRange(ip, releaseIP(range, addr));
  }
  return ip;
}

interface PortOp {
  ports: PortAllocator;
  /** Released only on success (ReleaseDeferred). */
  deferred: number[];
}

function findRequestedNodePort(port: number, ports: readonly ServicePort[]): number {
  for (const sp of ports) if (sp.port === port && (sp.nodePort ?? 0) !== 0) return sp.nodePort!;
  return 0;
}

/**
 * initNodePorts (create): one nodePort per service port *number*, so the TCP
 * and UDP ports of one number share their nodePort, as Kubernetes does.
 */
function initNodePorts(svc: Service, op: PortOp, rand: Rand): AllocationFailure | undefined {
  const ports = specOf(svc).ports ?? [];
  const byPortNumber = new Map<number, number>();
  for (let i = 0; i < ports.length; i++) {
    const sp = ports[i];
    // Without allocation (allocateLoadBalancerNodePorts: false), still honour requests.
    if ((sp.nodePort ?? 0) === 0 && !shouldAllocateNodePorts(svc)) continue;
    const already = byPortNumber.get(sp.port) ?? 0;
    if (already === 0) {
      const np = findRequestedNodePort(sp.port, ports);
      if (np !== 0) {
        const r = allocatePort(op.ports, np);
        if (!r.ok) return { reason: 'Invalid', errors: [field.invalid(Path.root('spec', 'ports').index(i).child('nodePort'), np, r.error.message)] };
        op.ports = r.allocator;
        sp.nodePort = np;
        byPortNumber.set(sp.port, np);
      } else {
        const r = allocateNextPort(op.ports, rand);
        if (!r.ok) return { reason: 'InternalError', message: `failed to allocate a nodePort: ${r.error.message}` };
        op.ports = r.allocator;
        sp.nodePort = r.port;
        byPortNumber.set(sp.port, r.port);
      }
    } else if ((sp.nodePort ?? 0) !== already) {
      if ((sp.nodePort ?? 0) === 0) {
        sp.nodePort = already;
      } else {
        const r = allocatePort(op.ports, sp.nodePort!);
        if (!r.ok) return { reason: 'Invalid', errors: [field.invalid(Path.root('spec', 'ports').index(i).child('nodePort'), sp.nodePort, r.error.message)] };
        op.ports = r.allocator;
      }
    }
  }
  return undefined;
}

function allocHealthCheckNodePort(svc: Service, op: PortOp, rand: Rand): AllocationFailure | undefined {
  const s = specOf(svc);
  const hc = s.healthCheckNodePort ?? 0;
  if (hc !== 0) {
    const r = allocatePort(op.ports, hc);
    if (!r.ok) return { reason: 'InternalError', message: `failed to allocate requested HealthCheck NodePort ${hc}: ${r.error.message}` };
    op.ports = r.allocator;
  } else {
    const r = allocateNextPort(op.ports, rand);
    // Kubernetes prints the (zero) shadowed port variable here.
    if (!r.ok) return { reason: 'InternalError', message: `failed to allocate a HealthCheck NodePort 0: ${r.error.message}` };
    op.ports = r.allocator;
    s.healthCheckNodePort = r.port;
  }
  return undefined;
}

/** `%v` of the ServiceNodePort struct in the "duplicate nodePort" error. */
function goNodePort(protocol: string, nodePort: number): string {
  return `{${protocol} ${nodePort}}`;
}

/** updateNodePorts: allocate nodePorts new to this service, release the ones it dropped. */
function updateNodePorts(svc: Service, oldSvc: Service, op: PortOp, rand: Rand): AllocationFailure | undefined {
  const oldNums = collectServiceNodePorts(oldSvc);
  const seen: string[] = [];
  const allocatedNow = new Set<number>();
  const ports = specOf(svc).ports ?? [];
  for (let i = 0; i < ports.length; i++) {
    const sp = ports[i];
    if ((sp.nodePort ?? 0) === 0 && !shouldAllocateNodePorts(svc)) continue;
    const protocol = sp.protocol ?? '';
    if ((sp.nodePort ?? 0) !== 0) {
      const np = sp.nodePort!;
      if (!oldNums.includes(np) && !allocatedNow.has(np)) {
        const r = allocatePort(op.ports, np);
        if (!r.ok) return { reason: 'Invalid', errors: [field.invalid(Path.root('spec', 'ports').index(i).child('nodePort'), np, r.error.message)] };
        op.ports = r.allocator;
        allocatedNow.add(np);
      }
    } else {
      const r = allocateNextPort(op.ports, rand);
      if (!r.ok) return { reason: 'InternalError', message: `failed to allocate a nodePort: ${r.error.message}` };
      op.ports = r.allocator;
      sp.nodePort = r.port;
    }
    const key = goNodePort(protocol, sp.nodePort!);
    // Kubernetes returns this as a plain error, which the API server reports as a 500.
    if (seen.includes(key)) return { reason: 'InternalError', message: `duplicate nodePort: ${key}` };
    seen.push(key);
  }
  const newNums = collectServiceNodePorts(svc);
  for (const p of oldNums) if (!newNums.includes(p)) op.deferred.push(p);
  return undefined;
}

/** updateHealthCheckNodePort: allocate when Local starts, release when it ends. */
function updateHealthCheckNodePort(svc: Service, oldSvc: Service, op: PortOp, rand: Rand): AllocationFailure | undefined {
  const needed = needsHealthCheck(oldSvc);
  const needs = needsHealthCheck(svc);
  if (!needed && needs) return allocHealthCheckNodePort(svc, op, rand);
  if (needed && !needs) op.deferred.push(specOf(oldSvc).healthCheckNodePort ?? 0);
  return undefined;
}

function commitPorts(op: PortOp): PortAllocator {
  let ports = op.ports;
  for (const p of op.deferred) ports = releasePort(ports, p);
  return ports;
}

/**
 * Allocation for a create (alloc.go allocateCreate), after
 * normalizeClusterIPs. Returns a new Service; `svc` is not modified.
 */
export function allocateServiceCreate(svc: Service, state: ServiceAllocatorState, rand: Rand = Math.random): AllocationResult {
  const out = clone(svc);
  const famErrs = initIPFamilyFields(out, undefined, state.ip);
  if (famErrs.length) return invalid(famErrs);
  const ipStep = allocClusterIPs(out, state.ip, rand);
  if (!ipStep.ok) return ipStep;
  const op: PortOp = { ports: state.nodePorts, deferred: [] };
  const s = specOf(out);
  if (s.type === 'NodePort' || s.type === 'LoadBalancer') {
    const f = initNodePorts(out, op, rand);
    if (f) return { ok: false, failure: f };
  }
  if (needsHealthCheck(out)) {
    const f = allocHealthCheckNodePort(out, op, rand);
    if (f) return { ok: false, failure: f };
  }
  return { ok: true, service: out, state: { ip: ipStep.ip, nodePorts: commitPorts(op) } };
}

/** updateClusterIPs: type changes to/from ExternalName, dual-stack upgrade and downgrade. */
function updateClusterIPs(svc: Service, oldSvc: Service, state: DualStackIPRanges, rand: Rand): { ok: true; ip: DualStackIPRanges; release: [IPFamily, string][] } | { ok: false; failure: AllocationFailure } {
  const n = specOf(svc);
  const o = specOf(oldSvc);
  if (isMatchingPreferDualStackClusterIPFields(svc, oldSvc)) return { ok: true, ip: state, release: [] };
  // From ExternalName: allocate everything.
  if (o.type === 'ExternalName' && n.type !== 'ExternalName') {
    const r = allocClusterIPs(svc, state, rand);
    return r.ok ? { ok: true, ip: r.ip, release: [] } : r;
  }
  // Headless services own no IPs.
  if ((o.clusterIPs?.length ?? 0) > 0 && o.clusterIPs![0] === ClusterIPNone) return { ok: true, ip: state, release: [] };
  // To ExternalName: release everything the old object held.
  if (o.type !== 'ExternalName' && n.type === 'ExternalName') {
    const release: [IPFamily, string][] = (o.ipFamilies ?? []).map((f, i) => [f as IPFamily, o.clusterIPs?.[i] ?? '']);
    return { ok: true, ip: state, release: release.filter(([, ip]) => ip !== '') };
  }
  const upgraded = (o.ipFamilies?.length ?? 0) === 1 && (n.ipFamilies?.length ?? 0) === 2;
  const downgraded = (o.ipFamilies?.length ?? 0) === 2 && (n.ipFamilies?.length ?? 0) === 1;
  if (upgraded) {
    n.clusterIPs ??= [];
    if (n.clusterIPs.length < 2) n.clusterIPs.push('');
    const r = allocIPs(svc, [[n.ipFamilies![1] as IPFamily, n.clusterIPs[1]]], state, rand);
    return r.ok ? { ok: true, ip: r.ip, release: [] } : r;
  }
  if (downgraded) {
    // clusterIPs were trimmed to one by initIPFamilyFields; the old secondary goes back.
    return { ok: true, ip: state, release: [[o.ipFamilies![1] as IPFamily, o.clusterIPs?.[1] ?? '']] };
  }
  return { ok: true, ip: state, release: [] };
}

/**
 * Allocation for an update (alloc.go allocateUpdate), after
 * patchAllocatedValues and normalizeClusterIPs. Returns a new Service;
 * neither argument is modified.
 */
export function allocateServiceUpdate(svc: Service, oldSvc: Service, state: ServiceAllocatorState, rand: Rand = Math.random): AllocationResult {
  const out = clone(svc);
  const famErrs = initIPFamilyFields(out, oldSvc, state.ip);
  if (famErrs.length) return invalid(famErrs);
  const ipStep = updateClusterIPs(out, oldSvc, state.ip, rand);
  if (!ipStep.ok) return ipStep;

  const op: PortOp = { ports: state.nodePorts, deferred: [] };
  const n = specOf(out);
  const o = specOf(oldSvc);
  if ((o.type === 'NodePort' || o.type === 'LoadBalancer') && (n.type === 'ExternalName' || n.type === 'ClusterIP')) {
    op.deferred.push(...collectServiceNodePorts(oldSvc));
  }
  if (n.type === 'NodePort' || n.type === 'LoadBalancer') {
    const f = updateNodePorts(out, oldSvc, op, rand);
    if (f) return { ok: false, failure: f };
  }
  const hc = updateHealthCheckNodePort(out, oldSvc, op, rand);
  if (hc) return { ok: false, failure: hc };

  return { ok: true, service: out, state: { ip: releaseIPs(ipStep.ip, ipStep.release), nodePorts: commitPorts(op) } };
}

/** releaseAllocatedResources (on delete): the Service's clusterIPs, nodePorts and healthCheckNodePort. */
export function releaseServiceAllocations(svc: Service, state: ServiceAllocatorState): ServiceAllocatorState {
  const s = specOf(clone(svc));
  let ip = state.ip;
  const headless = (s.clusterIPs?.length ?? 0) > 0 && s.clusterIPs![0] === ClusterIPNone;
  if (s.type !== 'ExternalName' && !headless) {
    ip = releaseIPs(ip, (s.clusterIPs ?? []).map((a) => [familyOf(a) === 'IPv6' ? 'IPv6' : 'IPv4', a]));
  }
  let ports = state.nodePorts;
  for (const p of collectServiceNodePorts(svc)) ports = releasePort(ports, p);
  if (needsHealthCheck(svc) && (s.healthCheckNodePort ?? 0) > 0) ports = releasePort(ports, s.healthCheckNodePort!);
  return { ip, nodePorts: ports };
}

// ---- the whole registry path ---------------------------------------------

export interface AdmitServiceInput {
  /** The defaulted request object (metadata already filled by the generic registry: name, namespace, uid, resourceVersion…). */
  service: Service;
  /** The stored object, for an update; absent for a create. */
  oldService?: Service;
  state: ServiceAllocatorState;
  rand?: Rand;
}

/**
 * The Service registry's create or update, in kube-apiserver's order:
 * allocation (which may already fail), then the strategy's Prepare*, then
 * validation. On success the caller stores `service` and `state` together;
 * on failure nothing was allocated.
 */
export function admitService(input: AdmitServiceInput): AllocationResult {
  const rand = input.rand ?? Math.random;
  const svc = clone(input.service);
  if (!input.oldService) {
    normalizeClusterIPs(svc);
    const r = allocateServiceCreate(svc, input.state, rand);
    if (!r.ok) return r;
    prepareServiceForCreate(r.service);
    const errs = ValidateService(r.service);
    return errs.length ? invalid(errs) : r;
  }
  const old = clone(input.oldService);
  defaultOnReadService(old, input.state.ip.primaryFamily);
  patchAllocatedValues(svc, old);
  normalizeClusterIPs(svc, old);
  const r = allocateServiceUpdate(svc, old, input.state, rand);
  if (!r.ok) return r;
  prepareServiceForUpdate(r.service, old);
  const errs = ValidateServiceUpdate(r.service, old);
  return errs.length ? invalid(errs) : r;
}

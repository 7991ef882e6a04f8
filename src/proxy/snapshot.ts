// The proxy's model of the cluster as one node sees it: every ServicePort that needs
// proxying, with the endpoints this node may send its traffic to. It is a value built
// from Services and EndpointSlices (and the node's own name, IPs and labels); the
// renderers turn it into kernel rules and the userspace proxy into sockets.
//
// Endpoint selection follows kube-proxy (pkg/proxy/endpointslicecache.go,
// pkg/proxy/topology.go CategorizeEndpoints, pkg/proxy/serviceport.go):
// - usable endpoints are the Ready ones; when a policy has none, the serving and
//   terminating ones take their place (KEP-1669), decided separately for the Cluster
//   and the Local policy;
// - Local policies keep only this node's endpoints; "has endpoints" is cluster-wide, so
//   a Local service with endpoints elsewhere drops (not rejects) on this node;
// - topology (zone) hints are honoured when every ready endpoint carries one and one
//   names this node's zone;
// - everything is computed per IP family, as kube-proxy runs one proxier per family.

import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { canonicalIP, ipFamilyOf, parseCIDRSloppy, formatCIDR } from '../api/validation/ip.js';
import { joinHostPort, servicePortNameString } from './names.js';
import { deepEqual } from '../api/validation/meta.js';

export type IPFamily = 'IPv4' | 'IPv6';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export const ipFamilies: readonly IPFamily[] = ['IPv4', 'IPv6'];

/** Labels kube-proxy's informers exclude (its list/watch label selector). */
export const labelServiceProxyName = 'service.kubernetes.io/service-proxy-name';
export const labelHeadless = 'service.kubernetes.io/headless';
export const labelServiceName = 'kubernetes.io/service-name';
export const labelTopologyZone = 'topology.kubernetes.io/zone';

/** Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const defaultStickyMaxAgeSeconds = 10800;

export interface SnapshotEndpoint {
  ip: string;
  port: number;
  family: IPFamily;
  /** `ip:port` or `[ip]:port`: kube-proxy's Endpoint.String(), the sort and dedup key. */
  key: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  zoneHints: string[];
  isLocal: boolean;
}

/** One IP family's view of a ServicePort: the addresses of that family and the endpoints chosen. */
export interface ServicePortFamily {
  family: IPFamily;
  clusterIP: string;
  externalIPs: string[];
  /** LoadBalancer ingress IPs of this family with ipMode VIP (or unset). */
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  /** NodePort, external IPs or LB IPs exist for this family. */
  externallyAccessible: boolean;
  /** ExternalTrafficPolicy Local and externally accessible (kube-proxy's ExternalPolicyLocal()). */
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** Cluster-policy endpoints are needed: internal policy Cluster, or any external access (short-circuit). */
  usesClusterEndpoints: boolean;
  usesLocalEndpoints: boolean;
  /** All endpoints of this family, deduplicated and sorted by key. */
  endpoints: SnapshotEndpoint[];
  /** Endpoints used with Cluster policy (empty when the policy is unused). */
  clusterEndpoints: SnapshotEndpoint[];
  /** Endpoints used with Local policy: this node's ones (empty when unused). */
  localEndpoints: SnapshotEndpoint[];
  /** Union of the two, sorted: the endpoints this node can route to. */
  reachableEndpoints: SnapshotEndpoint[];
  /** The service has usable endpoints somewhere in the cluster. */
  hasEndpoints: boolean;
  /** ClusterIP traffic has somewhere to go (false: REJECT when no endpoints at all, DROP when only non-local). */
  hasInternalEndpoints: boolean;
  /** External traffic from outside has somewhere to go. */
  hasExternalEndpoints: boolean;
}

export interface ServicePortSnapshot {
  /** `ns/name:port/TCP`: unique key of the service port (kube-proxy's ServicePortName incl. protocol). */
  id: string;
  /** `ns/name:port` (`ns/name` when unnamed): kube-proxy's ServicePortName.String(). */
  name: string;
  namespace: string;
  service: string;
  portName: string;
  protocol: Protocol;
  port: number;
  /** 0 when the port has no NodePort. */
  nodePort: number;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  sessionAffinity: 'None' | 'ClientIP';
  /** Affinity timeout; 0 when sessionAffinity is None. */
  stickyMaxAgeSeconds: number;
  externalTrafficPolicy: 'Cluster' | 'Local';
  internalTrafficPolicy: 'Cluster' | 'Local';
  /** 0 unless type LoadBalancer with externalTrafficPolicy Local. */
  healthCheckNodePort: number;
  /** Every endpoint of every family, deduplicated and sorted (family, key). */
  endpoints: SnapshotEndpoint[];
  /** Per IP family that has a clusterIP, IPv4 first. */
  families: ServicePortFamily[];
}

export interface ProxySnapshot {
  nodeName: string;
  nodeIPs: string[];
  nodeLabels: Record<string, string>;
  /** Sorted by name, then protocol. */
  servicePorts: ServicePortSnapshot[];
}

export interface BuildSnapshotInput {
  services: Service[];
  slices: EndpointSlice[];
  nodeName: string;
  nodeIPs: string[];
  nodeLabels?: Record<string, string>;
}

function normalizeProtocol(p: string | undefined): Protocol | undefined {
  const v = p ?? 'TCP';
  return v === 'TCP' || v === 'UDP' || v === 'SCTP' ? v : undefined;
}

function canonicalIPs(ips: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const s of ips ?? []) {
    const c = canonicalIP(s.trim());
    if (c !== undefined && !out.includes(c)) out.push(c);
  }
  return out;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareEndpoints(a: SnapshotEndpoint, b: SnapshotEndpoint): number {
  return compareStrings(a.family, b.family) || compareStrings(a.key, b.key);
}

/** kube-proxy's ShouldSkipService plus the informer's label selector. */
function shouldSkipService(svc: Service): boolean {
  const spec = svc.spec;
  if (!spec) return true;
  if (spec.type === 'ExternalName') return true;
  const clusterIP = spec.clusterIP ?? spec.clusterIPs?.[0] ?? '';
  if (clusterIP === '' || clusterIP === 'None') return true;
  if (svc.metadata?.labels?.[labelServiceProxyName] !== undefined) return true;
  return false;
}

function externalPolicyIsLocal(svc: Service): boolean {
  const spec = svc.spec ?? {};
  if (spec.type !== 'LoadBalancer' && spec.type !== 'NodePort' && !(spec.externalIPs?.length)) return false;
  return spec.externalTrafficPolicy === 'Local';
}

/** Endpoints of one ServicePort gathered from the service's slices, deduplicated by (ip, port). */
function collectEndpoints(
  sp: ServicePort, protocol: Protocol, slices: readonly EndpointSlice[], nodeName: string,
): SnapshotEndpoint[] {
  const portName = sp.name ?? '';
  const byKey = new Map<string, SnapshotEndpoint>();
  for (const slice of slices) {
    const labels = slice.metadata?.labels ?? {};
    if (labels[labelHeadless] !== undefined || labels[labelServiceProxyName] !== undefined) continue;
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    for (const epPort of slice.ports ?? []) {
      if (epPort.port === undefined || epPort.port === null) continue;
      if ((epPort.name ?? '') !== portName || (epPort.protocol ?? 'TCP') !== protocol) continue;
      for (const ep of slice.endpoints ?? []) {
        if (!ep.addresses?.length) continue;
        // Kubernetes only ever uses the first address of an endpoint.
        const ip = canonicalIP(ep.addresses[0]);
        if (ip === undefined) continue;
        const family = ipFamilyOf(ip);
        if (family === undefined || family !== slice.addressType) continue;
        const ready = ep.conditions?.ready ?? true;
        const serving = ep.conditions?.serving ?? ready;
        const terminating = ep.conditions?.terminating ?? false;
        const key = `${family}|${joinHostPort(ip, epPort.port)}`;
        const info: SnapshotEndpoint = {
          ip,
          port: epPort.port,
          family,
          key: joinHostPort(ip, epPort.port),
          ready,
          serving,
          terminating,
          ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
          ...(ep.zone ? { zone: ep.zone } : {}),
          zoneHints: (ep.hints?.forZones ?? []).map((z) => z.name).sort(),
          isLocal: nodeName !== '' && ep.nodeName === nodeName,
        };
        // The same IP may briefly appear twice (a slice move, or a pod IP reused while
        // the old pod terminates): prefer the non-terminating one, as kube-proxy does.
        if (!byKey.has(key) || !terminating) byKey.set(key, info);
      }
    }
  }
  return [...byKey.values()].sort(compareEndpoints);
}

/** kube-proxy's topologyModeFromHints, zone hints only (kubernetes-types 1.30 has no node hints). */
function useZoneHints(endpoints: readonly SnapshotEndpoint[], zone: string | undefined): boolean {
  let anyReady = false;
  let allHinted = true;
  let hasForZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    anyReady = true;
    if (ep.zoneHints.length === 0) allHinted = false;
    else if (zone !== undefined && ep.zoneHints.includes(zone)) hasForZone = true;
  }
  return anyReady && allHinted && hasForZone;
}

interface Categorized {
  clusterEndpoints: SnapshotEndpoint[];
  localEndpoints: SnapshotEndpoint[];
  reachableEndpoints: SnapshotEndpoint[];
  hasEndpoints: boolean;
}

/** kube-proxy's CategorizeEndpoints. */
export function categorizeEndpoints(
  endpoints: readonly SnapshotEndpoint[],
  uses: { cluster: boolean; local: boolean },
  nodeLabels: Record<string, string>,
): Categorized {
  const out: Categorized = { clusterEndpoints: [], localEndpoints: [], reachableEndpoints: [], hasEndpoints: false };
  if (endpoints.length === 0) return out;
  const zone = nodeLabels[labelTopologyZone];
  let zoneMode = false;
  if (uses.cluster) {
    zoneMode = useZoneHints(endpoints, zone);
    out.clusterEndpoints = endpoints.filter((ep) => ep.ready && (!zoneMode || (zone !== undefined && ep.zoneHints.includes(zone))));
    // No ready endpoints anywhere (topology already fell back): use serving+terminating ones.
    if (out.clusterEndpoints.length === 0) out.clusterEndpoints = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (out.clusterEndpoints.length > 0) out.hasEndpoints = true;
  }
  if (!uses.local) {
    out.reachableEndpoints = out.clusterEndpoints;
    return out;
  }
  let localReady = false;
  let localServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      out.hasEndpoints = true;
      if (ep.isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      out.hasEndpoints = true;
      if (ep.isLocal) localServingTerminating = true;
    }
  }
  if (localReady) out.localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (localServingTerminating) out.localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  if (!uses.cluster) {
    out.reachableEndpoints = out.localEndpoints;
    return out;
  }
  const merged = new Map<string, SnapshotEndpoint>();
  for (const ep of out.clusterEndpoints) merged.set(ep.key, ep);
  for (const ep of out.localEndpoints) merged.set(ep.key, ep);
  out.reachableEndpoints = [...merged.values()].sort(compareEndpoints);
  return out;
}

function buildServicePorts(
  svc: Service, slices: readonly EndpointSlice[], nodeName: string, nodeLabels: Record<string, string>,
): ServicePortSnapshot[] {
  const spec = svc.spec ?? {};
  const namespace = svc.metadata?.namespace ?? 'default';
  const serviceName = svc.metadata?.name ?? '';
  const clusterIPs = canonicalIPs(spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP ?? '']);
  const externalIPs = canonicalIPs(spec.externalIPs);
  const lbIPs = canonicalIPs(
    (svc.status?.loadBalancer?.ingress ?? [])
      // ipMode Proxy means the load balancer delivers to the node/pod itself, so the
      // VIP must not be short-circuited by the node (KEP-1860).
      .filter((ing) => ing.ip && (ing.ipMode === undefined || ing.ipMode === 'VIP'))
      .map((ing) => ing.ip as string),
  );
  const sourceRanges: string[] = [];
  for (const r of spec.loadBalancerSourceRanges ?? []) {
    const c = parseCIDRSloppy(r.trim());
    if (c) sourceRanges.push(formatCIDR(c));
  }
  const sessionAffinity = spec.sessionAffinity === 'ClientIP' ? 'ClientIP' : 'None';
  const stickyMaxAgeSeconds = sessionAffinity === 'ClientIP'
    ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? defaultStickyMaxAgeSeconds
    : 0;
  const externalPolicyLocal = externalPolicyIsLocal(svc);
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const healthCheckNodePort = spec.type === 'LoadBalancer' && externalPolicyLocal ? spec.healthCheckNodePort ?? 0 : 0;
  const mySlices = slices
    .filter((s) => (s.metadata?.namespace ?? 'default') === namespace && s.metadata?.labels?.[labelServiceName] === serviceName)
    .sort((a, b) => compareStrings(a.metadata?.name ?? '', b.metadata?.name ?? ''));

  const out: ServicePortSnapshot[] = [];
  for (const sp of spec.ports ?? []) {
    const protocol = normalizeProtocol(sp.protocol);
    if (!protocol || !sp.port) continue;
    const portName = sp.name ?? '';
    const name = servicePortNameString(namespace, serviceName, portName);
    const endpoints = collectEndpoints(sp, protocol, mySlices, nodeName);
    const nodePort = sp.nodePort ?? 0;
    const families: ServicePortFamily[] = [];
    for (const family of ipFamilies) {
      const clusterIP = clusterIPs.find((ip) => ipFamilyOf(ip) === family);
      if (clusterIP === undefined) continue;
      const famExternal = externalIPs.filter((ip) => ipFamilyOf(ip) === family);
      const famLB = lbIPs.filter((ip) => ipFamilyOf(ip) === family);
      const famRanges = sourceRanges.filter((r) => ipFamilyOf(r.split('/')[0]) === family);
      const externallyAccessible = nodePort !== 0 || famLB.length > 0 || famExternal.length > 0;
      const famExternalLocal = externalPolicyLocal && externallyAccessible;
      const usesClusterEndpoints = !internalPolicyLocal || externallyAccessible;
      const usesLocalEndpoints = internalPolicyLocal || famExternalLocal;
      const famEndpoints = endpoints.filter((ep) => ep.family === family);
      const cat = categorizeEndpoints(famEndpoints, { cluster: usesClusterEndpoints, local: usesLocalEndpoints }, nodeLabels);
      families.push({
        family,
        clusterIP,
        externalIPs: famExternal,
        loadBalancerIPs: famLB,
        loadBalancerSourceRanges: famRanges,
        externallyAccessible,
        externalPolicyLocal: famExternalLocal,
        internalPolicyLocal,
        usesClusterEndpoints,
        usesLocalEndpoints,
        endpoints: famEndpoints,
        ...cat,
        hasInternalEndpoints: cat.hasEndpoints && (!internalPolicyLocal || cat.localEndpoints.length > 0),
        hasExternalEndpoints: cat.hasEndpoints && (!famExternalLocal || cat.localEndpoints.length > 0),
      });
    }
    if (families.length === 0) continue;
    out.push({
      id: `${name}/${protocol}`,
      name,
      namespace,
      service: serviceName,
      portName,
      protocol,
      port: sp.port,
      nodePort,
      clusterIPs,
      externalIPs,
      loadBalancerIPs: lbIPs,
      loadBalancerSourceRanges: sourceRanges,
      sessionAffinity,
      stickyMaxAgeSeconds,
      externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
      internalTrafficPolicy: internalPolicyLocal ? 'Local' : 'Cluster',
      healthCheckNodePort,
      endpoints,
      families,
    });
  }
  return out;
}

/** `namespace/service` an EndpointSlice belongs to (its kubernetes.io/service-name label), if any. */
export function sliceServiceKey(slice: EndpointSlice): string | undefined {
  const svc = slice.metadata?.labels?.[labelServiceName];
  return svc === undefined ? undefined : `${slice.metadata?.namespace ?? 'default'}/${svc}`;
}

/** `namespace/name` of a Service, as the slices that name it are indexed. */
export function serviceKey(svc: Service): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/**
 * The service ports of one Service, from the EndpointSlices that name it (`slices` may
 * hold others: they are ignored). Empty for a Service kube-proxy skips. Pure: the
 * incremental builder calls it for the services that changed only.
 */
export function buildServicePortsOf(
  svc: Service, slices: readonly EndpointSlice[], nodeName: string, nodeLabels: Record<string, string>,
): ServicePortSnapshot[] {
  if (shouldSkipService(svc)) return [];
  return buildServicePorts(svc, slices, nodeName, nodeLabels);
}

function compareServicePorts(a: ServicePortSnapshot, b: ServicePortSnapshot): number {
  return compareStrings(a.name, b.name) || compareStrings(a.protocol, b.protocol);
}

/**
 * Builds the node's view of every proxied ServicePort. Services that kube-proxy skips
 * (headless, ExternalName, no clusterIP, a foreign service-proxy-name) are left out; a
 * malformed port is skipped, never fatal.
 */
export function buildSnapshot(input: BuildSnapshotInput): ProxySnapshot {
  const nodeLabels = { ...(input.nodeLabels ?? {}) };
  // Index the slices by service once: O(services + slices), not their product.
  const byService = new Map<string, EndpointSlice[]>();
  for (const sl of input.slices) {
    const k = sliceServiceKey(sl);
    if (k === undefined) continue;
    const list = byService.get(k);
    if (list) list.push(sl);
    else byService.set(k, [sl]);
  }
  const servicePorts: ServicePortSnapshot[] = [];
  for (const svc of input.services) {
    for (const sp of buildServicePortsOf(svc, byService.get(serviceKey(svc)) ?? [], input.nodeName, nodeLabels)) servicePorts.push(sp);
  }
  servicePorts.sort(compareServicePorts);
  return {
    nodeName: input.nodeName,
    nodeIPs: canonicalIPs(input.nodeIPs),
    nodeLabels,
    servicePorts,
  };
}

/**
 * The snapshot kept up to date service by service (the sync loop's): `set` the service
 * ports of each Service that changed, then `snapshot()`. Unchanged service ports keep
 * their identity from one snapshot to the next, which is what lets the renderers and
 * diffSnapshots skip them cheaply; when no service port appeared or went away, the
 * sorted list is patched in place instead of re-sorted.
 */
export class SnapshotCache {
  private readonly byService = new Map<string, ServicePortSnapshot[]>();
  private sorted: ServicePortSnapshot[] | undefined;
  private index = new Map<string, number>();
  private patches: ServicePortSnapshot[] = [];

  /** The service ports of one Service ([] or none: removed). Returns whether anything changed. */
  set(key: string, ports: ServicePortSnapshot[] | undefined): boolean {
    const old = this.byService.get(key) ?? [];
    const now = ports ?? [];
    if (old.length === now.length && old.every((sp, i) => sp === now[i] || servicePortEqual(sp, now[i]!))) return false;
    if (now.length) this.byService.set(key, now);
    else this.byService.delete(key);
    if (this.sorted && old.length === now.length && old.every((sp, i) => sp.id === now[i]!.id)) this.patches.push(...now);
    else this.sorted = undefined;
    return true;
  }

  /** Forgets every service (node name or labels changed: everything is rebuilt). */
  clear(): void {
    this.byService.clear();
    this.sorted = undefined;
    this.patches = [];
  }

  snapshot(node: { nodeName: string; nodeIPs: readonly string[]; nodeLabels?: Record<string, string> }): ProxySnapshot {
    if (!this.sorted) {
      const all: ServicePortSnapshot[] = [];
      for (const ports of this.byService.values()) for (const sp of ports) all.push(sp);
      all.sort(compareServicePorts);
      this.sorted = all;
      this.index = new Map(all.map((sp, i) => [sp.id, i]));
      this.patches = [];
    } else if (this.patches.length) {
      // Earlier snapshots keep their own array.
      this.sorted = this.sorted.slice();
      for (const sp of this.patches) this.sorted[this.index.get(sp.id)!] = sp;
      this.patches = [];
    }
    return { nodeName: node.nodeName, nodeIPs: canonicalIPs(node.nodeIPs), nodeLabels: { ...(node.nodeLabels ?? {}) }, servicePorts: this.sorted };
  }
}

/** Whether two service ports are the same (identity first, then structure). */
export function servicePortEqual(a: ServicePortSnapshot, b: ServicePortSnapshot): boolean {
  return a === b || deepEqual(a, b);
}

/** Sorted list of the service ports (ids) of one IP family. */
export function familyServicePorts(snapshot: ProxySnapshot, family: IPFamily): { sp: ServicePortSnapshot; fam: ServicePortFamily }[] {
  const out: { sp: ServicePortSnapshot; fam: ServicePortFamily }[] = [];
  for (const sp of snapshot.servicePorts) {
    const fam = sp.families.find((f) => f.family === family);
    if (fam) out.push({ sp, fam });
  }
  return out;
}

export interface SnapshotDiff {
  /** Service port ids present only in the new snapshot. */
  added: string[];
  /** Service port ids present only in the old snapshot. */
  removed: string[];
  /** Service port ids whose addresses, policies or endpoints changed. */
  changed: string[];
  /** All of the above, sorted: the service ports a partial sync must rewrite. */
  servicePorts: string[];
  /** `ns/name` of the Services touched (kube-proxy's partial-sync granularity). */
  services: string[];
  /** Node name, IPs or labels changed: every service may be affected, sync fully. */
  nodeChanged: boolean;
}

/** Which service ports differ between two snapshots (for partial syncs and conntrack cleanup). */
export function diffSnapshots(a: ProxySnapshot, b: ProxySnapshot): SnapshotDiff {
  const before = new Map(a.servicePorts.map((sp) => [sp.id, sp]));
  const after = new Map(b.servicePorts.map((sp) => [sp.id, sp]));
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  const services = new Set<string>();
  for (const [id, sp] of after) {
    const old = before.get(id);
    if (!old) {
      added.push(id);
      services.add(`${sp.namespace}/${sp.service}`);
    } else if (!servicePortEqual(old, sp)) {
      changed.push(id);
      services.add(`${sp.namespace}/${sp.service}`);
    }
  }
  for (const [id, sp] of before) {
    if (!after.has(id)) {
      removed.push(id);
      services.add(`${sp.namespace}/${sp.service}`);
    }
  }
  const nodeChanged = a.nodeName !== b.nodeName || !deepEqual(a.nodeIPs, b.nodeIPs) || !deepEqual(a.nodeLabels, b.nodeLabels);
  return {
    added: added.sort(),
    removed: removed.sort(),
    changed: changed.sort(),
    servicePorts: [...added, ...removed, ...changed].sort(),
    services: [...services].sort(),
    nodeChanged,
  };
}

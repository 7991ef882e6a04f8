// The repair loops of kube-apiserver (pkg/registry/core/service/ipallocator/
// controller/repair.go and portallocator/controller/repair.go) as one pure
// function: from every Service and the stored allocator state, rebuild the
// state the Services imply and report what was wrong, with the events'
// reasons and messages.
//
// A value allocated in the store but used by no Service may belong to a
// create in flight, so it is not freed at once: like Kubernetes, it is kept
// for numRepairsBeforeLeakCleanup runs (counted in `leaks`, which the caller
// passes from one run to the next) and only then released.
import type { Service } from 'kubernetes-types/core/v1.js';
import { formatIP, parseIPSloppy, type IPFamily } from '../../../api/validation/ip.js';
import { ClusterIPNone } from '../../../api/validation/service.js';
import { allocateIP, newIPRange, allocatedIPs, hasIP, releaseIP, withRange, type DualStackIPRanges, type IPRange } from './ip.js';
import { allocatePort, allocatedPorts, hasPort, newPortAllocator, releasePort, type PortAllocator } from './port.js';
import type { ServiceAllocatorState } from './service.js';

export const numRepairsBeforeLeakCleanup = 3;

export type RepairReason =
  | 'ClusterIPNotValid' | 'ClusterIPNotAllocated' | 'ClusterIPAlreadyAllocated' | 'ClusterIPOutOfRange' | 'ServiceCIDRFull'
  | 'PortNotAllocated' | 'PortAlreadyAllocated' | 'PortOutOfRange' | 'PortRangeFull'
  /** Not events in Kubernetes, only log lines: a value no Service uses. */
  | 'ClusterIPLeaked' | 'PortLeaked';

export interface RepairFinding {
  reason: RepairReason;
  /** The event message (or, for leaks, the log line) Kubernetes writes. */
  message: string;
  /** The Service the event is about; absent for leaks, which have none. */
  service?: { namespace: string; name: string; uid?: string };
  /** Whether Kubernetes records this as a Warning event on the Service. */
  event: boolean;
}

/** Countdown per leaked value, carried from one repair run to the next. */
export interface RepairLeaks {
  /** By IP text. */
  readonly ips: Readonly<Record<string, number>>;
  /** By port number (as text). */
  readonly ports: Readonly<Record<string, number>>;
}

export const noLeaks: RepairLeaks = { ips: {}, ports: {} };

export interface RepairResult {
  /** The state to store: exactly what the Services use, plus leaks still counting down. */
  state: ServiceAllocatorState;
  leaks: RepairLeaks;
  findings: RepairFinding[];
  /** Set when a range is full: Kubernetes stops the repair run with this error. */
  error?: string;
}

function ref(svc: Service): RepairFinding['service'] {
  return { namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '', uid: svc.metadata?.uid };
}

/** helper.IsServiceIPSet: a clusterIP that is neither empty nor None. */
function isServiceIPSet(svc: Service): boolean {
  const ip = svc.spec?.clusterIP ?? '';
  return ip !== '' && ip !== ClusterIPNone;
}

/** Rebuilds the ClusterIP ranges (ipallocator/controller/repair.go, dual-stack form). */
function repairClusterIPs(services: readonly Service[], stored: DualStackIPRanges, leaksIn: Readonly<Record<string, number>>,
  findings: RepairFinding[]): { ip: DualStackIPRanges; leaks: Record<string, number>; error?: string } {
  const leaks: Record<string, number> = { ...leaksIn };
  const storedByFamily: Partial<Record<IPFamily, IPRange>> = { ...stored.byFamily };
  let rebuilt: DualStackIPRanges = { primaryFamily: stored.primaryFamily, byFamily: {} };
  for (const r of Object.values(stored.byFamily)) if (r) rebuilt = withRange(rebuilt, newIPRange(r.cidr));

  for (const svc of services) {
    if (!isServiceIPSet(svc)) continue;
    for (const raw of svc.spec?.clusterIPs ?? []) {
      const parsed = parseIPSloppy(raw);
      if (!parsed) {
        // Kubernetes formats the nil net.IP it failed to parse: "<nil>".
        findings.push({ reason: 'ClusterIPNotValid', message: 'Cluster IP <nil> is not a valid IP; please recreate service', service: ref(svc), event: true });
        continue;
      }
      const ip = formatIP(parsed);
      const family = parsed.family;
      const actual = rebuilt.byFamily[family];
      if (!actual) {
        findings.push({ reason: 'ClusterIPNotValid', service: ref(svc), event: true,
          message: `Cluster IP ${ip}(${family}) is of ip family that is no longer configured on cluster; please recreate service` });
        continue;
      }
      const r = allocateIP(actual, ip);
      if (r.ok) {
        rebuilt = withRange(rebuilt, r.range);
        const st = storedByFamily[family]!;
        if (hasIP(st, ip)) storedByFamily[family] = releaseIP(st, ip); // what remains in `stored` is leaked
        else findings.push({ reason: 'ClusterIPNotAllocated', message: `Cluster IP [${family}]:${ip} is not allocated; repairing`, service: ref(svc), event: true });
        delete leaks[ip];
      } else if (r.error.code === 'AlreadyAllocated') {
        findings.push({ reason: 'ClusterIPAlreadyAllocated', service: ref(svc), event: true,
          message: `Cluster IP [${family}]:${ip} was assigned to multiple services; please recreate service` });
      } else if (r.error.code === 'NotInRange') {
        findings.push({ reason: 'ClusterIPOutOfRange', service: ref(svc), event: true,
          message: `Cluster IP [${family}]:${ip} is not within the service CIDR ${actual.cidr}; please recreate service` });
      } else {
        const message = `Service CIDR ${actual.cidr} is full; you must widen the CIDR in order to create new services for Cluster IP [${family}]:${ip}`;
        findings.push({ reason: 'ServiceCIDRFull', message, service: ref(svc), event: true });
        return { ip: stored, leaks: { ...leaksIn }, error: `the service CIDR ${actual.cidr} is full; you must widen the CIDR in order to create new services for Cluster IP [${family}]:${ip}` };
      }
    }
  }

  // Whatever is still allocated in the stored ranges is used by no Service.
  for (const family of Object.keys(storedByFamily) as IPFamily[]) {
    for (const ip of allocatedIPs(storedByFamily[family]!)) {
      let count = leaks[ip];
      if (count === undefined) {
        findings.push({ reason: 'ClusterIPLeaked', message: `the cluster IP ${ip} may have leaked: flagging for later clean up`, event: false });
        count = numRepairsBeforeLeakCleanup - 1;
      }
      if (count > 0) {
        // Pretend it is still in use until the count runs out.
        leaks[ip] = count - 1;
        const r = allocateIP(rebuilt.byFamily[family]!, ip);
        if (r.ok) rebuilt = withRange(rebuilt, r.range);
      } else {
        findings.push({ reason: 'ClusterIPLeaked', message: `the cluster IP ${ip} appears to have leaked: cleaning up`, event: false });
      }
    }
  }
  return { ip: rebuilt, leaks };
}

/** The nodePorts and healthCheckNodePort of a Service, each number once (TCP and UDP may share one). */
function serviceNodePorts(svc: Service): number[] {
  const out: number[] = [];
  for (const p of svc.spec?.ports ?? []) if (p.nodePort && !out.includes(p.nodePort)) out.push(p.nodePort);
  if (svc.spec?.healthCheckNodePort) out.push(svc.spec.healthCheckNodePort);
  return out;
}

/** Rebuilds the NodePort allocator (portallocator/controller/repair.go). */
function repairNodePorts(services: readonly Service[], stored: PortAllocator, leaksIn: Readonly<Record<string, number>>,
  findings: RepairFinding[]): { ports: PortAllocator; leaks: Record<string, number>; error?: string } {
  const leaks: Record<string, number> = { ...leaksIn };
  let remaining = stored;
  let rebuilt = newPortAllocator(stored.range);
  for (const svc of services) {
    for (const port of serviceNodePorts(svc)) {
      const r = allocatePort(rebuilt, port);
      if (r.ok) {
        rebuilt = r.allocator;
        if (hasPort(remaining, port)) remaining = releasePort(remaining, port);
        else findings.push({ reason: 'PortNotAllocated', message: `Port ${port} is not allocated; repairing`, service: ref(svc), event: true });
        delete leaks[String(port)];
      } else if (r.error.code === 'AlreadyAllocated') {
        findings.push({ reason: 'PortAlreadyAllocated', message: `Port ${port} was assigned to multiple services; please recreate service`, service: ref(svc), event: true });
      } else if (r.error.code === 'NotInRange') {
        findings.push({ reason: 'PortOutOfRange', message: `Port ${port} is not within the port range ${stored.range}; please recreate service`, service: ref(svc), event: true });
      } else {
        findings.push({ reason: 'PortRangeFull', message: `Port range ${stored.range} is full; you must widen the port range in order to create new services`, service: ref(svc), event: true });
        return { ports: stored, leaks: { ...leaksIn }, error: `the port range ${stored.range} is full; you must widen the port range in order to create new services` };
      }
    }
  }
  for (const port of allocatedPorts(remaining)) {
    let count = leaks[String(port)];
    if (count === undefined) {
      findings.push({ reason: 'PortLeaked', message: `the node port ${port} may have leaked: flagging for later clean up`, event: false });
      count = numRepairsBeforeLeakCleanup - 1;
    }
    if (count > 0) {
      leaks[String(port)] = count - 1;
      const r = allocatePort(rebuilt, port);
      if (r.ok) rebuilt = r.allocator;
    } else {
      findings.push({ reason: 'PortLeaked', message: `the node port ${port} appears to have leaked: cleaning up`, event: false });
    }
  }
  return { ports: rebuilt, leaks };
}

/**
 * One repair run over every Service (as listed at one revision) and the
 * allocator state stored at that revision. Store the returned state and pass
 * the returned leaks to the next run.
 */
export function repairServiceAllocations(services: readonly Service[], state: ServiceAllocatorState, leaks: RepairLeaks = noLeaks): RepairResult {
  const findings: RepairFinding[] = [];
  const ipRes = repairClusterIPs(services, state.ip, leaks.ips, findings);
  const portRes = repairNodePorts(services, state.nodePorts, leaks.ports, findings);
  const result: RepairResult = {
    state: { ip: ipRes.error ? state.ip : ipRes.ip, nodePorts: portRes.error ? state.nodePorts : portRes.ports },
    leaks: { ips: ipRes.leaks, ports: portRes.leaks },
    findings,
  };
  const error = ipRes.error ?? portRes.error;
  if (error) result.error = error;
  return result;
}

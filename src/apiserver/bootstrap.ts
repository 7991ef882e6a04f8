// What exists from the start on a fresh cluster, and the repair pass run
// before serving: the four system namespaces (kube-apiserver's system
// namespaces controller), the `kubernetes` Service at the first IP of the
// service range, and the allocator repair (kube-apiserver's ipallocator and
// portallocator repair controllers) with its findings recorded as Events.
import type { Service } from 'kubernetes-types/core/v1.js';
import { StatusError } from '../api/errors.js';
import { numRepairsBeforeLeakCleanup, repairServiceAllocations, type RepairFinding, type RepairLeaks } from './registry/allocator/repair.js';
import { snapshotServiceAllocators } from './registry/allocator/service.js';
import { newIPRange } from './registry/allocator/ip.js';
import { formatIP, parseCIDRSloppy } from '../api/validation/ip.js';
import { loadAllocatorState, SERVICE_RANGES_KEY } from './registry/service.js';
import { nowTimestamp, randomSuffix } from './registry/generic.js';
import type { ApiServer } from './server.js';
import { logger } from '../log.js';

export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function ignoreExists(e: unknown): void {
  if (!(e instanceof StatusError && e.code === 409)) throw e;
}

export async function ensureSystemNamespaces(api: ApiServer): Promise<void> {
  const reg = api.registry('', 'namespaces');
  for (const name of systemNamespaces) {
    await reg.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }).catch(ignoreExists);
  }
}

/**
 * The n-th address of the (primary) service range: network + n. The network
 * address is never handed out, so `kubernetes` lives at n = 1 and DNS at n = 10.
 */
export function serviceRangeIP(serviceClusterIPRange: string, n: number): string {
  const primary = serviceClusterIPRange.split(',')[0]!.trim();
  newIPRange(primary); // throws kube's message for an unusable range
  const cidr = parseCIDRSloppy(primary)!;
  const bytes = Uint8Array.from(cidr.network.bytes);
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i]! + carry;
    bytes[i] = v & 255;
    carry = v >> 8;
  }
  return formatIP({ family: cidr.network.family, bytes });
}

/** The first usable IP of the (primary) service range: where `kubernetes` lives. */
export function kubernetesServiceIP(serviceClusterIPRange: string): string {
  return serviceRangeIP(serviceClusterIPRange, 1);
}

/**
 * The `kubernetes` Service in `default`: ClusterIP at the range's first IP,
 * port 443 (https) to the API server's port; kept in step when the port changes.
 */
export async function ensureKubernetesService(api: ApiServer, apiserverPort: number): Promise<void> {
  const reg = api.registry('', 'services');
  const ip = kubernetesServiceIP(api.config.serviceClusterIPRange);
  const ports = [{ name: 'https', protocol: 'TCP', port: 443, targetPort: apiserverPort }];
  const existing = await reg.tryGet('default', 'kubernetes');
  if (!existing) {
    await reg.create({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP: ip, ports, sessionAffinity: 'None' },
    }, { fieldManager: 'kube-apiserver' }).catch(async (e: unknown) => {
      // Another API server on the same etcd may have created it meanwhile: its
      // IP is then taken, which fails this create as Invalid rather than 409.
      if (!(await reg.tryGet('default', 'kubernetes'))) throw e;
    });
    await ensureKubernetesEndpoints(api, apiserverPort);
    return;
  }
  await ensureKubernetesEndpoints(api, apiserverPort);
  const cur = (existing['spec'] as { ports?: { targetPort?: unknown }[] }).ports?.[0]?.targetPort;
  if (cur !== apiserverPort) {
    await reg.guaranteedUpdate('default', 'kubernetes', (s) => {
      (s['spec'] as { ports: unknown }).ports = ports;
      return s;
    }, { fieldManager: 'kube-apiserver' });
  }
}

/**
 * Rebuilds the allocator state from the Services before serving. A value no
 * Service uses is a real leak and is released now (the running repair loop
 * waits numRepairsBeforeLeakCleanup rounds instead): allocations are written
 * in the same txn as their Service, and the state is read *before* the
 * Services, so anything another API server on the same etcd allocates or
 * releases meanwhile moves the state's modRevision, the compare fails and the
 * repair starts over. (Read after the list, a Service created in between would
 * have its IP and ports freed while in use.)
 */
export async function repairAllocations(api: ApiServer): Promise<RepairFinding[]> {
  const reg = api.registry('', 'services');
  let findings: RepairFinding[];
  for (let attempt = 0; ; attempt++) {
    const kv = await api.store.get(SERVICE_RANGES_KEY);
    const { items } = await reg.list(undefined);
    let state = loadAllocatorState(kv, api.config);
    let leaks: RepairLeaks | undefined;
    findings = [];
    for (let round = 0; round <= numRepairsBeforeLeakCleanup; round++) {
      const r = repairServiceAllocations(items as unknown as Service[], state, leaks);
      state = r.state;
      leaks = r.leaks;
      if (round === 0) findings.push(...r.findings);
    }
    const value = JSON.stringify(snapshotServiceAllocators(state));
    if (kv?.value === value) break;
    const res = await api.store.txn({ compare: [{ key: SERVICE_RANGES_KEY, modRevision: kv?.modRevision ?? 0 }], success: [{ type: 'put', key: SERVICE_RANGES_KEY, value }] });
    if (res.succeeded) break;
    if (attempt >= 20) throw new Error('allocation state kept changing during repair');
  }
  const events = api.registry('', 'events');
  for (const f of findings) {
    logger.warn('allocation repair', { reason: f.reason, message: f.message });
    if (!f.event || !f.service) continue;
    const now = nowTimestamp();
    await events.create({
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: `${f.service.name}.${randomSuffix(10)}`, namespace: f.service.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Service', namespace: f.service.namespace, name: f.service.name, uid: f.service.uid },
      reason: f.reason, message: f.message, type: 'Warning', count: 1,
      firstTimestamp: now, lastTimestamp: now,
      source: { component: f.reason.startsWith('Port') ? 'portallocator-repair-controller' : 'ipallocator-repair-controller' },
      reportingComponent: f.reason.startsWith('Port') ? 'portallocator-repair-controller' : 'ipallocator-repair-controller',
      reportingInstance: '',
    }).catch((e) => logger.warn('could not record repair event', { err: String(e) }));
  }
  return findings;
}

/**
 * The `kubernetes` Service's Endpoints and EndpointSlice, as kube-apiserver's
 * endpoint reconciler keeps them: the API server's own address and port. It
 * listens on loopback here, which validation refuses for user objects, so the
 * apiserver writes them as internal objects (reachable from the host, not
 * from pods in their own namespaces).
 */
export async function ensureKubernetesEndpoints(api: ApiServer, apiserverPort: number, address = '127.0.0.1'): Promise<void> {
  const eps = api.registry('', 'endpoints');
  const slices = api.registry('discovery.k8s.io', 'endpointslices');
  const subsets = [{ addresses: [{ ip: address }], ports: [{ name: 'https', port: apiserverPort, protocol: 'TCP' }] }];
  const labels = { 'endpointslice.kubernetes.io/skip-mirror': 'true' };
  for (const [reg, obj] of [
    [eps, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', namespace: 'default', labels }, subsets }],
    [slices, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
      ports: [{ name: 'https', port: apiserverPort, protocol: 'TCP' }],
    }],
  ] as const) {
    await reg.delete('default', 'kubernetes', { gracePeriodSeconds: 0 }).catch(() => undefined);
    await reg.create(structuredClone(obj) as unknown as Parameters<typeof reg.create>[0], { fieldManager: 'kube-apiserver', internal: true }).catch(ignoreExists);
  }
}

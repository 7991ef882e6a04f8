// svcnet's built-in load-balancer provider (in the manner of MetalLB's
// controller): it answers the "asynchronous request" a LoadBalancer Service
// makes, by writing status.loadBalancer.ingress with an address from the
// pools configured in kube-system/svcnet-lb-pools. Services of another
// loadBalancerClass are left alone (they stay <pending> unless their provider
// answers). The node proxies then route traffic for that address.
import type { Service } from 'kubernetes-types/core/v1.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import { canonicalIP, parseIPSloppy, type IPFamily } from '../../api/validation/ip.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import { parseTime, splitKey } from '../replicaset/util.js';
import { allocate, type Decision, type LBService } from './allocator.js';
import { parsePoolConfig, poolContains, PoolsConfigMapName, PoolsConfigMapNamespace, PoolsDataKey, type PoolConfig } from './pools.js';

const servicesRes = findResource('', 'v1', 'services')!;
const configMapsRes = findResource('', 'v1', 'configmaps')!;

export const DefaultLoadBalancerClass = 'svcnet.io/lb';
/** The key that re-examines every service (pools changed, or an address may have been freed). */
export const AllServicesKey = '*';

export const Annotations = {
  loadBalancerIPs: ['svcnet.io/loadBalancerIPs', 'metallb.universe.tf/loadBalancerIPs'],
  addressPool: ['svcnet.io/address-pool', 'metallb.universe.tf/address-pool'],
  allowSharedIP: ['svcnet.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip'],
} as const;

export interface LoadBalancerOptions {
  /** The spec.loadBalancerClass served, besides services that leave it unset. */
  loadBalancerClass?: string;
  /** Where the pools are configured. */
  configMapNamespace?: string;
  configMapName?: string;
}

function annotation(s: Service, names: readonly string[]): string | undefined {
  const a = s.metadata?.annotations ?? {};
  for (const n of names) if (a[n] !== undefined && a[n] !== '') return a[n];
  return undefined;
}

function ingressIPs(s: Service): string[] {
  return (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip);
}

function keyOf(s: Service): string {
  return `${s.metadata?.namespace}/${s.metadata?.name}`;
}

/** Turns a Service into what the allocator reads. */
export function describeService(s: Service): LBService {
  const spec = s.spec ?? {};
  let families = (spec.ipFamilies ?? []).filter((f): f is IPFamily => f === 'IPv4' || f === 'IPv6');
  if (families.length === 0) {
    const fromClusterIPs = (spec.clusterIPs ?? []).map((ip) => parseIPSloppy(ip)?.family).filter((f): f is IPFamily => !!f);
    families = fromClusterIPs.length ? fromClusterIPs : ['IPv4'];
  }
  const d: LBService = {
    key: keyOf(s),
    namespace: s.metadata?.namespace ?? '',
    labels: s.metadata?.labels ?? {},
    creation: parseTime(s.metadata?.creationTimestamp) ?? 0,
    families,
    secondaryOptional: spec.ipFamilyPolicy !== 'RequireDualStack',
    ports: (spec.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
    externalTrafficPolicy: spec.externalTrafficPolicy ?? 'Cluster',
    selector: JSON.stringify(Object.entries(spec.selector ?? {}).sort()),
    current: ingressIPs(s).map((ip) => canonicalIP(ip) ?? ip),
    deleting: !!s.metadata?.deletionTimestamp,
  };
  const requested = annotation(s, Annotations.loadBalancerIPs) ?? (spec.loadBalancerIP || undefined);
  if (requested) {
    const ips = requested.split(',').map((x) => x.trim()).filter(Boolean);
    const bad = ips.filter((x) => canonicalIP(x) === undefined);
    if (bad.length) d.requestError = `invalid requested IP ${bad.map((x) => `"${x}"`).join(', ')}`;
    else d.requested = ips.map((x) => canonicalIP(x)!);
  }
  const pool = annotation(s, Annotations.addressPool);
  if (pool) d.pool = pool;
  const share = annotation(s, Annotations.allowSharedIP);
  if (share) d.sharingKey = share;
  return d;
}

function event(s: Service, type: 'Normal' | 'Warning', reason: string, message: string): EventRecord {
  return {
    involvedObject: { apiVersion: 'v1', kind: 'Service', namespace: s.metadata?.namespace, name: s.metadata?.name ?? '', uid: s.metadata?.uid, resourceVersion: s.metadata?.resourceVersion },
    type, reason, message,
  };
}

function statusAction(s: Service, ips: string[]): Action {
  const loadBalancer = ips.length ? { ingress: ips.map((ip) => ({ ip, ipMode: 'VIP' })) } : { ingress: null };
  return {
    verb: 'patch', resource: servicesRes, namespace: s.metadata?.namespace, name: s.metadata?.name ?? '', subresource: 'status',
    patchType: 'merge', patch: { metadata: { resourceVersion: s.metadata?.resourceVersion }, status: { loadBalancer } },
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function loadBalancerController(opts: LoadBalancerOptions = {}): Reconciler {
  const lbClass = opts.loadBalancerClass ?? DefaultLoadBalancerClass;
  const cmNamespace = opts.configMapNamespace ?? PoolsConfigMapNamespace;
  const cmName = opts.configMapName ?? PoolsConfigMapName;

  const served = (s: Service): boolean => s.spec?.type === 'LoadBalancer' && (!s.spec.loadBalancerClass || s.spec.loadBalancerClass === lbClass);

  /** The plan for one service, given the allocation; `quiet` drops failure events when nothing changes (the `*` key). */
  function planFor(s: Service, decisions: Map<string, Decision>, config: PoolConfig | undefined, quiet: boolean): { actions: Action[]; events: EventRecord[] } {
    const actions: Action[] = [];
    const events: EventRecord[] = [];
    const current = ingressIPs(s).map((ip) => canonicalIP(ip) ?? ip);
    const hasIngress = (s.status?.loadBalancer?.ingress ?? []).length > 0;
    if (!served(s)) {
      if (!hasIngress) return { actions, events };
      if (s.spec?.type !== 'LoadBalancer') {
        actions.push(statusAction(s, []));
        events.push(event(s, 'Normal', 'IPReleased', `Released IP ${current.join(', ')}: the service is no longer of type LoadBalancer`));
      } else if (config && !config.errors.length && current.length && current.every((ip) => config.pools.some((p) => poolContains(p, parseIPSloppy(ip)!)))) {
        // Another class now, holding addresses from our pools: they were ours.
        actions.push(statusAction(s, []));
        events.push(event(s, 'Normal', 'IPReleased', `Released IP ${current.join(', ')}: loadBalancerClass is "${s.spec?.loadBalancerClass}", not "${lbClass}"`));
      }
      return { actions, events };
    }
    if (!config || config.errors.length) {
      // Without a usable configuration nothing is taken away; pending services hear why.
      if (!quiet && current.length === 0) {
        const why = !config
          ? `no address pools are configured (ConfigMap ${cmNamespace}/${cmName} not found)`
          : `the address pool configuration in ConfigMap ${cmNamespace}/${cmName} is invalid`;
        events.push(event(s, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${keyOf(s)}": ${why}`));
      }
      return { actions, events };
    }
    const d = decisions.get(keyOf(s));
    if (!d) return { actions, events };
    const changed = !sameList(d.ips, current) || (hasIngress && current.length !== (s.status?.loadBalancer?.ingress ?? []).length);
    if (changed) actions.push(statusAction(s, d.ips));
    if (changed || !quiet) for (const e of d.events) events.push(event(s, e.type, e.reason, e.message));
    return { actions, events };
  }

  function readConfig(cache: Cache): PoolConfig | undefined {
    const cm = cache.get(configMapsRes, cmNamespace, cmName);
    if (!cm) return undefined;
    return parsePoolConfig((cm['data'] as Record<string, string> | undefined)?.[PoolsDataKey]);
  }

  return {
    name: 'svcnet-lb-controller',
    watches: [servicesRes, configMapsRes],
    keysFor(r: ResourceInfo, obj: KObject, old?: KObject): string[] {
      if (r.plural === 'configmaps') {
        return obj.metadata?.namespace === cmNamespace && obj.metadata?.name === cmName ? [AllServicesKey] : [];
      }
      const keys = [`${obj.metadata?.namespace}/${obj.metadata?.name}`];
      // A change to a service holding addresses may free one that a pending service is waiting for.
      if ([obj, old].some((o) => o && ingressIPs(o as Service).length > 0)) keys.push(AllServicesKey);
      return keys;
    },
    reconcile(key: string, cache: Cache): Plan {
      const config = readConfig(cache);
      const services = cache.list(servicesRes) as unknown as Service[];
      const decisions = config && !config.errors.length
        ? allocate(services.filter(served).map(describeService), config.pools)
        : new Map<string, Decision>();
      const actions: Action[] = [];
      const events: EventRecord[] = [];
      if (key === AllServicesKey) {
        if (config?.errors.length) {
          const cm = cache.get(configMapsRes, cmNamespace, cmName)!;
          events.push({
            involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: cmNamespace, name: cmName, uid: cm.metadata?.uid, resourceVersion: cm.metadata?.resourceVersion },
            type: 'Warning', reason: 'InvalidConfiguration',
            message: `address pools not applied, assignments left as they are: ${config.errors.join('; ')}`,
          });
        }
        for (const s of services) {
          const p = planFor(s, decisions, config, true);
          actions.push(...p.actions);
          events.push(...p.events);
        }
        return { actions, events };
      }
      const { namespace, name } = splitKey(key);
      const s = cache.get(servicesRes, namespace, name) as Service | undefined;
      if (!s) return { actions };
      const p = planFor(s, decisions, config, false);
      return { actions: p.actions, events: p.events };
    },
  };
}

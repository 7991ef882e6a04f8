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
import { parseTime } from '../replicaset/util.js';
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

/**
 * A decision this controller has made and is writing: the addresses a
 * service will hold once its status patch lands. The cache cannot show it
 * yet, and a reconcile that read only the cache could hand the same address
 * to another service (a second worker, or the next key, runs before the
 * write is seen; the runner does not even enqueue the echo of its own
 * write). So every reconcile reads the cache *and* these decisions, and adds
 * its own before it returns: reconcile calls run one at a time, so the next
 * one always sees them. The table is in memory only; it starts empty, which
 * is "the cache is the truth" (after a restart, what the services' statuses
 * say is kept).
 */
export interface Assignment {
  readonly uid: string;
  /** The resourceVersion the decision was made on; the status patch is pinned to it. */
  readonly resourceVersion: string;
  /** The key whose plan carries the write. */
  readonly by: string;
  /** The addresses the service holds once the write lands. */
  readonly ips: readonly string[];
  /** What it may hold until then (the cache's addresses, earlier decisions in flight): nobody else gets them meanwhile. */
  readonly held: readonly string[];
}

/** Decisions in flight, by `namespace/name`. */
export type Assignments = ReadonlyMap<string, Assignment>;

/**
 * Drops the decisions the cache has caught up with: the service is gone (its
 * addresses with it), or its resourceVersion is no longer the one the write
 * was pinned to — the write landed and the cache shows it, or it failed with
 * a conflict and the cache shows what is there instead. A write that failed
 * otherwise stays in the table (its addresses stay reserved) until the key
 * that carried it, requeued by the runner, decides again.
 */
export function settleAssignments(table: Assignments, services: readonly Service[]): Map<string, Assignment> {
  const byKey = new Map(services.map((s) => [keyOf(s), s]));
  const out = new Map<string, Assignment>();
  for (const [k, a] of table) {
    const s = byKey.get(k);
    if (s && s.metadata?.uid === a.uid && s.metadata?.resourceVersion === a.resourceVersion) out.set(k, a);
  }
  return out;
}

export interface LoadBalancerPlan {
  plan: Plan;
  /** The table to reconcile the next key with. */
  assignments: Map<string, Assignment>;
}

function currentIPs(s: Service): string[] {
  return ingressIPs(s).map((ip) => canonicalIP(ip) ?? ip);
}

/**
 * The pure core: desired (specs, pools) + observed (statuses) + decisions in
 * flight → the plan, and the decisions after it.
 *
 * Any key settles every service (the allocation is one replay of all of
 * them), and its plan writes every status that must change and is not
 * already being written by another key's plan: the key's own service first,
 * then the others. Failure events are reported for the key's own service
 * (every attempt); other services' events only come with a write. The key
 * `*` is every service quietly, plus the ConfigMap's InvalidConfiguration.
 *
 * An address a write takes away stays reserved until the cache shows it gone;
 * the plan then asks to run again once its writes are visible
 * (requeueAfterMs 0), to give that address to whoever waits for it.
 */
export function reconcileLoadBalancers(key: string, cache: Cache, assignments: Assignments, opts: LoadBalancerOptions = {}): LoadBalancerPlan {
  const lbClass = opts.loadBalancerClass ?? DefaultLoadBalancerClass;
  const cmNamespace = opts.configMapNamespace ?? PoolsConfigMapNamespace;
  const cmName = opts.configMapName ?? PoolsConfigMapName;
  const served = (s: Service): boolean => s.spec?.type === 'LoadBalancer' && (!s.spec.loadBalancerClass || s.spec.loadBalancerClass === lbClass);

  const cm = cache.get(configMapsRes, cmNamespace, cmName);
  const config: PoolConfig | undefined = cm ? parsePoolConfig((cm['data'] as Record<string, string> | undefined)?.[PoolsDataKey]) : undefined;
  const services = cache.list(servicesRes) as unknown as Service[];
  const table = settleAssignments(assignments, services);

  const held = new Map<string, string[]>();
  const hold = (ip: string, k: string): void => {
    const l = held.get(ip);
    if (!l) held.set(ip, [k]); else if (!l.includes(k)) l.push(k);
  };
  for (const s of services) for (const ip of currentIPs(s)) hold(ip, keyOf(s));
  for (const [k, a] of table) for (const ip of [...a.ips, ...a.held]) hold(ip, k);

  const decisions = config && !config.errors.length
    ? allocate(services.filter(served).map((s) => {
      const d = describeService(s);
      const a = table.get(d.key);
      return a ? { ...d, current: [...a.ips] } : d;
    }), config.pools, held)
    : new Map<string, Decision>();

  /** What the service's status should list (undefined: leave it), and the events that go with it. */
  function desired(s: Service, quiet: boolean): { ips?: string[]; events: EventRecord[] } {
    const current = currentIPs(s);
    const hasIngress = (s.status?.loadBalancer?.ingress ?? []).length > 0;
    if (!served(s)) {
      if (!hasIngress) return { events: [] };
      if (s.spec?.type !== 'LoadBalancer') {
        return { ips: [], events: [event(s, 'Normal', 'IPReleased', `Released IP ${current.join(', ')}: the service is no longer of type LoadBalancer`)] };
      }
      if (config && !config.errors.length && current.length && current.every((ip) => config.pools.some((p) => poolContains(p, parseIPSloppy(ip)!)))) {
        // Another class now, holding addresses from our pools: they were ours.
        return { ips: [], events: [event(s, 'Normal', 'IPReleased', `Released IP ${current.join(', ')}: loadBalancerClass is "${s.spec?.loadBalancerClass}", not "${lbClass}"`)] };
      }
      return { events: [] };
    }
    if (!config || config.errors.length) {
      // Without a usable configuration nothing is taken away; pending services hear why.
      if (quiet || current.length) return { events: [] };
      const why = !config
        ? `no address pools are configured (ConfigMap ${cmNamespace}/${cmName} not found)`
        : `the address pool configuration in ConfigMap ${cmNamespace}/${cmName} is invalid`;
      return { events: [event(s, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${keyOf(s)}": ${why}`)] };
    }
    const d = decisions.get(keyOf(s));
    if (!d) return { events: [] };
    return { ips: d.ips, events: d.events.map((e) => event(s, e.type, e.reason, e.message)) };
  }

  const actions: Action[] = [];
  const events: EventRecord[] = [];
  let releases = false;
  if (key === AllServicesKey && config?.errors.length) {
    events.push({
      involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: cmNamespace, name: cmName, uid: cm!.metadata?.uid, resourceVersion: cm!.metadata?.resourceVersion },
      type: 'Warning', reason: 'InvalidConfiguration',
      message: `address pools not applied, assignments left as they are: ${config.errors.join('; ')}`,
    });
  }
  const own = key === AllServicesKey ? undefined : services.find((s) => keyOf(s) === key);
  for (const s of own ? [own, ...services.filter((x) => x !== own)] : services) {
    const k = keyOf(s);
    const quiet = s !== own;
    const want = desired(s, quiet);
    if (want.ips === undefined) {
      events.push(...want.events);
      continue;
    }
    const current = currentIPs(s);
    const inFlight = table.get(k);
    // Another key's plan is writing this very decision (and reported it).
    if (inFlight && inFlight.by !== key && sameList(inFlight.ips, want.ips)) continue;
    const malformed = current.length !== (s.status?.loadBalancer?.ingress ?? []).length;
    const write = !sameList(want.ips, current) || malformed || (inFlight !== undefined && !sameList(inFlight.ips, want.ips));
    if (write) {
      actions.push(statusAction(s, want.ips));
      const before = [...current, ...(inFlight?.ips ?? []), ...(inFlight?.held ?? [])];
      table.set(k, {
        uid: s.metadata?.uid ?? '', resourceVersion: s.metadata?.resourceVersion ?? '', by: key,
        ips: want.ips, held: [...new Set(before)],
      });
      if (before.some((ip) => !want.ips!.includes(ip))) releases = true;
    }
    if (write || !quiet) events.push(...want.events);
  }
  const plan: Plan = { actions, events };
  if (releases) plan.requeueAfterMs = 0;
  return { plan, assignments: table };
}

export function loadBalancerController(opts: LoadBalancerOptions = {}): Reconciler {
  const cmNamespace = opts.configMapNamespace ?? PoolsConfigMapNamespace;
  const cmName = opts.configMapName ?? PoolsConfigMapName;
  /** Decisions in flight (see Assignment): the only state, owned by this controller instance. */
  let assignments: Assignments = new Map();

  return {
    name: 'svcnet-lb-controller',
    watches: [servicesRes, configMapsRes],
    keysFor(r: ResourceInfo, obj: KObject): string[] {
      if (r.plural === 'configmaps') {
        return obj.metadata?.namespace === cmNamespace && obj.metadata?.name === cmName ? [AllServicesKey] : [];
      }
      // Any key settles every service: one that went or changed frees its addresses for the others in the same pass.
      return [`${obj.metadata?.namespace}/${obj.metadata?.name}`];
    },
    reconcile(key: string, cache: Cache): Plan {
      const r = reconcileLoadBalancers(key, cache, assignments, opts);
      assignments = r.assignments;
      return r.plan;
    },
  };
}

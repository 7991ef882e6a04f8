// The address allocator. There is no allocation store: the state is what the
// served services' statuses say. Every call replays the whole allocation in a
// fixed order (oldest service first), so any reconcile, after any restart,
// with any key, reaches the same answer and never hands one address out twice.
//
// Pass 1 keeps what services already hold, when it is still valid for them
// (right family, in a pool they may use, what they asked for, and not also
// held by an older service they cannot share with). Pass 2 gives addresses to
// what is missing: the requested IPs, or the first free address of the
// pool(s) they may use, preferring an address already shared under the same
// sharing key.
//
// `held` lists, per address, every service that may still hold it in the
// world: what the cache shows, and what writes in flight may leave (see
// loadbalancer.ts). An address some service is giving up stays out of reach
// of the others until the release is seen, so the two never hold it at once.
import type { IPFamily } from '../../api/validation/ip.js';
import { parseIPSloppy } from '../../api/validation/ip.js';
import { firstFree, poolAllows, poolContains, poolFamilies, type Pool } from './pools.js';

export interface ServicePortKey {
  port: number;
  protocol: string;
}

/** What the allocator needs to know about a served LoadBalancer Service. */
export interface LBService {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** creationTimestamp (ms): older services win conflicts. */
  creation: number;
  /** spec.ipFamilies, primary first. */
  families: IPFamily[];
  /** PreferDualStack may go without its secondary family. */
  secondaryOptional: boolean;
  /** Explicitly requested addresses (canonical text). */
  requested?: string[];
  /** Why the request could not be read, if it could not. */
  requestError?: string;
  /** A pool asked for by annotation. */
  pool?: string;
  sharingKey?: string;
  ports: ServicePortKey[];
  externalTrafficPolicy: string;
  /** Canonical text of spec.selector (Local-policy services share only with identical selectors). */
  selector: string;
  /** Current status.loadBalancer.ingress IPs, canonical. */
  current: string[];
  /** Being deleted: keeps what it holds, gets nothing new. */
  deleting: boolean;
}

export interface LBEvent {
  type: 'Normal' | 'Warning';
  reason: 'IPAllocated' | 'AllocationFailed' | 'IPReleased' | 'IPConflict';
  message: string;
}

export interface Decision {
  /** The addresses the service's status should list, in ipFamilies order. */
  ips: string[];
  events: LBEvent[];
}

/** Go's %q of a []string: ["a" "b"] (MetalLB's `Assigned IP %q`). */
export function goQuoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

function familyOf(ip: string): IPFamily | undefined {
  return parseIPSloppy(ip)?.family;
}

/** Why two services may not share an address, or undefined when they may. */
export function sharingConflict(a: LBService, b: LBService): string | undefined {
  if (!a.sharingKey || !b.sharingKey) return 'neither service allows sharing';
  if (a.sharingKey !== b.sharingKey) return `their sharing keys differ ("${a.sharingKey}" vs "${b.sharingKey}")`;
  if (a.externalTrafficPolicy !== b.externalTrafficPolicy) return 'their externalTrafficPolicy differs';
  if (a.externalTrafficPolicy === 'Local' && a.selector !== b.selector) return 'Local-policy services must select the same pods to share';
  for (const p of a.ports) {
    if (b.ports.some((q) => q.port === p.port && q.protocol === p.protocol)) return `both use port ${p.protocol}/${p.port}`;
  }
  return undefined;
}

class Claims {
  private readonly byIP = new Map<string, LBService[]>();

  holders(ip: string): readonly LBService[] {
    return this.byIP.get(ip) ?? [];
  }

  /** The first holder `svc` cannot share `ip` with, and why. */
  conflict(svc: LBService, ip: string): { with: LBService; why: string } | undefined {
    for (const h of this.holders(ip)) {
      if (h === svc) continue;
      const why = sharingConflict(svc, h);
      if (why) return { with: h, why };
    }
    return undefined;
  }

  add(svc: LBService, ip: string): void {
    const l = this.byIP.get(ip);
    if (l) l.push(svc); else this.byIP.set(ip, [svc]);
  }

  taken(ip: string): boolean {
    return this.byIP.has(ip);
  }

  /** Addresses held under this sharing key, oldest holder first. */
  sharedUnder(key: string): string[] {
    return [...this.byIP].filter(([, hs]) => hs.some((h) => h.sharingKey === key)).map(([ip]) => ip);
  }
}

function order(a: LBService, b: LBService): number {
  return a.creation - b.creation || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/** The pools an address of this service may come from (kept or requested, autoAssign aside). */
function usablePools(svc: LBService, pools: readonly Pool[]): Pool[] {
  return pools.filter((p) => (!svc.pool || p.name === svc.pool) && poolAllows(p, svc.namespace, svc.labels));
}

function poolOf(ip: string, pools: readonly Pool[]): Pool | undefined {
  const parsed = parseIPSloppy(ip);
  return parsed ? pools.find((p) => poolContains(p, parsed)) : undefined;
}

/** Per address, the keys of the services that may hold it (cache or writes in flight). */
export type HeldAddresses = ReadonlyMap<string, readonly string[]>;

export function allocate(services: readonly LBService[], pools: readonly Pool[], held: HeldAddresses = new Map()): Map<string, Decision> {
  const sorted = [...services].sort(order);
  const claims = new Claims();
  /** Services other than `svc` that may hold `ip` without keeping it in this allocation (they are releasing it, or are not ours). */
  const blockers = (svc: LBService, ip: string): string[] =>
    (held.get(ip) ?? []).filter((k) => k !== svc.key && !claims.holders(ip).some((h) => h.key === k));
  const out = new Map<string, Decision>();
  const kept = new Map<LBService, string[]>();

  // Pass 1: keep what is still valid.
  for (const svc of sorted) {
    const d: Decision = { ips: [], events: [] };
    out.set(svc.key, d);
    const keep: string[] = [];
    const usable = usablePools(svc, pools);
    for (const ip of svc.current) {
      const fam = familyOf(ip);
      let why: string | undefined;
      let conflict: { with: LBService; why: string } | undefined;
      if (!fam || !svc.families.includes(fam)) why = `the service no longer asks for ${fam ?? 'this'} addresses`;
      else if (keep.some((k) => familyOf(k) === fam)) why = `the service has another ${fam} address`;
      else if (svc.requested && !svc.requested.includes(ip)) why = 'the service requests other addresses';
      else if (!usable.some((p) => poolContains(p, parseIPSloppy(ip)!))) {
        const p = poolOf(ip, pools);
        why = p ? `pool "${p.name}" may not be used by this service` : 'the address is in no pool';
      } else {
        conflict = claims.conflict(svc, ip);
      }
      if (conflict) {
        d.events.push({ type: 'Warning', reason: 'IPConflict', message: `IP ${ip} is also assigned to older service ${conflict.with.key} (${conflict.why}); releasing it` });
      } else if (why) {
        d.events.push({ type: 'Normal', reason: 'IPReleased', message: `Released IP ${ip}: ${why}` });
      } else {
        keep.push(ip);
        claims.add(svc, ip);
      }
    }
    kept.set(svc, keep);
  }

  // Pass 2: allocate what is missing.
  for (const svc of sorted) {
    const d = out.get(svc.key)!;
    const keep = kept.get(svc)!;
    const fail = (why: string): void => {
      d.events.push({ type: 'Warning', reason: 'AllocationFailed', message: `Failed to allocate IP for "${svc.key}": ${why}` });
    };
    const byFamily = (ips: string[]): string[] => svc.families.flatMap((f) => ips.filter((ip) => familyOf(ip) === f));
    if (svc.deleting) { d.ips = byFamily(keep); continue; }
    const fresh: string[] = [];
    let error: string | undefined;
    if (svc.requestError) {
      error = svc.requestError;
    } else if (svc.requested) {
      const usable = usablePools(svc, pools);
      for (const ip of svc.requested) {
        if (keep.includes(ip)) continue;
        const fam = familyOf(ip)!;
        if (!svc.families.includes(fam)) { error = `requested IP ${ip} is ${fam} but the service's ipFamilies are ${svc.families.join(',')}`; break; }
        if (!usable.some((p) => poolContains(p, parseIPSloppy(ip)!))) {
          const p = poolOf(ip, pools);
          error = p ? `requested IP ${ip} is in pool "${p.name}", which this service may not use` : `requested IP ${ip} is not in any address pool`;
          break;
        }
        const c = claims.conflict(svc, ip);
        if (c) { error = `requested IP ${ip} is already in use by ${c.with.key} (${c.why})`; break; }
        const b = blockers(svc, ip);
        if (b.length) { error = `requested IP ${ip} is still held by ${b.join(', ')}`; break; }
        fresh.push(ip);
      }
      const fams = new Set((svc.requested ?? []).map(familyOf));
      if (!error && fams.size !== svc.requested.length) error = 'at most one requested IP per family';
    } else {
      let candidates: Pool[];
      if (svc.pool) {
        const p = pools.find((x) => x.name === svc.pool);
        if (!p) error = `pool "${svc.pool}" does not exist`;
        else if (!poolAllows(p, svc.namespace, svc.labels)) error = `pool "${svc.pool}" may not be used by this service (namespace or label selector)`;
        candidates = p ? [p] : [];
      } else {
        candidates = pools.filter((p) => p.autoAssign && poolAllows(p, svc.namespace, svc.labels));
        if (candidates.length === 0) error = pools.length === 0 ? 'no address pools are configured' : 'no address pool matches this service';
      }
      if (!error) {
        svc.families.forEach((fam, i) => {
          if (error || keep.some((k) => familyOf(k) === fam)) return;
          const optional = i > 0 && svc.secondaryOptional;
          const withFamily = candidates.filter((p) => poolFamilies(p).has(fam));
          let ip: string | undefined;
          if (svc.sharingKey) {
            ip = claims.sharedUnder(svc.sharingKey).find((x) => familyOf(x) === fam && withFamily.some((p) => poolContains(p, parseIPSloppy(x)!))
              && !claims.conflict(svc, x) && blockers(svc, x).length === 0);
          }
          for (const p of withFamily) {
            if (ip) break;
            ip = firstFree(p, fam, (x) => claims.taken(x) || fresh.includes(x) || blockers(svc, x).length > 0);
          }
          if (ip) { fresh.push(ip); return; }
          if (optional) return;
          error = withFamily.length === 0
            ? `no address pool has ${fam} addresses`
            : `no available IPs in pool${withFamily.length > 1 ? 's' : ''} ${withFamily.map((p) => `"${p.name}"`).join(', ')}`;
        });
      }
    }
    if (error) {
      fail(error);
      d.ips = byFamily(keep);
      continue;
    }
    for (const ip of fresh) claims.add(svc, ip);
    d.ips = byFamily([...keep, ...fresh]);
    if (fresh.length) d.events.push({ type: 'Normal', reason: 'IPAllocated', message: `Assigned IP ${goQuoteList(d.ips)}` });
  }
  return out;
}

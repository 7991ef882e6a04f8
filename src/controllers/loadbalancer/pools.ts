// Address pools for the load-balancer controller: parsed from the ConfigMap
// `kube-system/svcnet-lb-pools`, data key `pools` (YAML or JSON; see README.md).
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';
import { parse as parseYAML } from 'yaml';
import { labelSelectorAsRequirements, matches, type Requirement } from '../../api/labels.js';
import {
  bigIntToIP, formatIP, ipToBigInt, parseCIDRSloppy, parseIPSloppy, type IPFamily, type ParsedIP,
} from '../../api/validation/ip.js';

export const PoolsConfigMapNamespace = 'kube-system';
export const PoolsConfigMapName = 'svcnet-lb-pools';
export const PoolsDataKey = 'pools';

/** One contiguous block of addresses, inclusive. */
export interface IPRange {
  readonly family: IPFamily;
  readonly first: bigint;
  readonly last: bigint;
  /** As written in the config. */
  readonly text: string;
}

export interface Pool {
  readonly name: string;
  readonly ranges: readonly IPRange[];
  /** Whether services without an explicit request get addresses from this pool. */
  readonly autoAssign: boolean;
  /** Skip IPv4 addresses ending in .0 and .255 (some clients drop them). */
  readonly avoidBuggyIPs: boolean;
  /** Only services in these namespaces may use the pool (all when absent). */
  readonly namespaces?: readonly string[];
  /** Only services whose labels match may use the pool (all when absent). */
  readonly serviceSelector?: readonly Requirement[];
}

export interface PoolConfig {
  readonly pools: readonly Pool[];
  /** Problems found; a config with errors is not used (see the README). */
  readonly errors: readonly string[];
}

/** The pool spec as users write it. */
export interface PoolSpec {
  name?: unknown;
  addresses?: unknown;
  autoAssign?: unknown;
  avoidBuggyIPs?: unknown;
  namespaces?: unknown;
  serviceSelector?: unknown;
}

/** "10.0.0.0/28", "192.168.0.200-192.168.0.250" or a single address. */
export function parseRange(text: string): IPRange | string {
  const s = text.trim();
  if (s.includes('/')) {
    const c = parseCIDRSloppy(s);
    if (!c) return `invalid CIDR "${text}"`;
    const first = ipToBigInt(c.network);
    const size = 1n << BigInt(c.bits - c.prefix);
    return { family: c.network.family, first, last: first + size - 1n, text: s };
  }
  const dash = s.indexOf('-');
  if (dash >= 0) {
    const a = parseIPSloppy(s.slice(0, dash).trim());
    const b = parseIPSloppy(s.slice(dash + 1).trim());
    if (!a || !b) return `invalid IP range "${text}"`;
    if (a.family !== b.family) return `IP range "${text}" mixes IPv4 and IPv6`;
    const first = ipToBigInt(a);
    const last = ipToBigInt(b);
    if (last < first) return `IP range "${text}" ends before it starts`;
    return { family: a.family, first, last, text: s };
  }
  const ip = parseIPSloppy(s);
  if (!ip) return `invalid address "${text}" (want a CIDR, a range a-b or an IP)`;
  const v = ipToBigInt(ip);
  return { family: ip.family, first: v, last: v, text: s };
}

function stringList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  return v as string[];
}

/** Parses the ConfigMap's `pools` text. Never throws. */
export function parsePoolConfig(text: string | undefined): PoolConfig {
  if (text === undefined) return { pools: [], errors: [`data key "${PoolsDataKey}" is missing`] };
  let doc: unknown;
  try {
    doc = parseYAML(text);
  } catch (e) {
    return { pools: [], errors: [`cannot parse "${PoolsDataKey}": ${(e as Error).message.split('\n')[0]}`] };
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && Array.isArray((doc as { pools?: unknown }).pools)) doc = (doc as { pools: unknown }).pools;
  if (doc === null || doc === undefined) return { pools: [], errors: [] };
  if (!Array.isArray(doc)) return { pools: [], errors: [`"${PoolsDataKey}" must be a list of pools`] };
  const errors: string[] = [];
  const pools: Pool[] = [];
  const names = new Set<string>();
  doc.forEach((raw: unknown, i: number) => {
    const where = `pools[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) { errors.push(`${where}: must be an object`); return; }
    const p = raw as PoolSpec;
    if (typeof p.name !== 'string' || !p.name) { errors.push(`${where}.name: required`); return; }
    if (names.has(p.name)) errors.push(`${where}.name: duplicate pool "${p.name}"`);
    names.add(p.name);
    const addrs = stringList(p.addresses);
    if (!addrs || addrs.length === 0) { errors.push(`${where}.addresses: a non-empty list of strings is required`); return; }
    const ranges: IPRange[] = [];
    for (const a of addrs) {
      const r = parseRange(a);
      if (typeof r === 'string') errors.push(`${where}.addresses: ${r}`);
      else ranges.push(r);
    }
    if (p.autoAssign !== undefined && typeof p.autoAssign !== 'boolean') errors.push(`${where}.autoAssign: must be true or false`);
    if (p.avoidBuggyIPs !== undefined && typeof p.avoidBuggyIPs !== 'boolean') errors.push(`${where}.avoidBuggyIPs: must be true or false`);
    const namespaces = stringList(p.namespaces);
    if (p.namespaces !== undefined && !namespaces) errors.push(`${where}.namespaces: must be a list of strings`);
    let serviceSelector: Requirement[] | undefined;
    if (p.serviceSelector !== undefined && p.serviceSelector !== null) {
      try {
        serviceSelector = labelSelectorAsRequirements(p.serviceSelector as LabelSelector) ?? undefined;
      } catch (e) {
        errors.push(`${where}.serviceSelector: ${(e as Error).message}`);
      }
    }
    const pool: Pool = {
      name: p.name, ranges, autoAssign: p.autoAssign !== false, avoidBuggyIPs: p.avoidBuggyIPs === true,
      ...(namespaces ? { namespaces } : {}), ...(serviceSelector ? { serviceSelector } : {}),
    };
    pools.push(pool);
  });
  // Overlapping pools would let one address be handed out twice under two names.
  const all = pools.flatMap((p) => p.ranges.map((r) => ({ p, r })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.r.family === b.r.family && a.r.first <= b.r.last && b.r.first <= a.r.last) {
        errors.push(`addresses "${a.r.text}" (pool "${a.p.name}") and "${b.r.text}" (pool "${b.p.name}") overlap`);
      }
    }
  }
  return { pools, errors };
}

export function poolContains(p: Pool, ip: ParsedIP): boolean {
  const v = ipToBigInt(ip);
  return p.ranges.some((r) => r.family === ip.family && r.first <= v && v <= r.last);
}

/** Whether a service in `namespace` with `labels` may take addresses from the pool. */
export function poolAllows(p: Pool, namespace: string, labels: Readonly<Record<string, string>>): boolean {
  if (p.namespaces && !p.namespaces.includes(namespace)) return false;
  if (p.serviceSelector && !matches(p.serviceSelector, labels)) return false;
  return true;
}

function buggy(family: IPFamily, v: bigint): boolean {
  if (family !== 'IPv4') return false;
  const last = v & 0xffn;
  return last === 0n || last === 255n;
}

/** The lowest address of `family` in the pool that `taken` does not hold. */
export function firstFree(p: Pool, family: IPFamily, taken: (ip: string) => boolean): string | undefined {
  for (const r of p.ranges) {
    if (r.family !== family) continue;
    // Walk from the start; only taken addresses are skipped, so the walk is
    // bounded by the number of services, not by the size of the range.
    for (let v = r.first; v <= r.last; v++) {
      if (p.avoidBuggyIPs && buggy(family, v)) continue;
      const ip = formatIP(bigIntToIP(v, family));
      if (!taken(ip)) return ip;
    }
  }
  return undefined;
}

/** The address families the pool has addresses of. */
export function poolFamilies(p: Pool): Set<IPFamily> {
  return new Set(p.ranges.map((r) => r.family));
}

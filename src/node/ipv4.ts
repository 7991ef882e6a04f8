// IPv4 arithmetic for the node agent (pod CIDRs, LAN addresses). Pure; the
// agent only ever deals with IPv4 (single-stack, as the default kind cluster).
import { NodeError } from './errors.js';

export interface Cidr4 {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) throw new NodeError('BAD_CIDR', `invalid IPv4 address "${s}"`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new NodeError('BAD_CIDR', `invalid IPv4 address "${s}"`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function isIPv4(s: string): boolean {
  try { parseIPv4(s); return true; } catch { return false; }
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n`; host bits must be zero (as Go's net.ParseCIDR network). */
export function parseCidr4(s: string): Cidr4 {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || Number(m[2]) > 32) throw new NodeError('BAD_CIDR', `invalid CIDR "${s}"`);
  const prefix = Number(m[2]);
  const ip = parseIPv4(m[1]!);
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) throw new NodeError('BAD_CIDR', `CIDR "${s}" has host bits set`);
  return { base, prefix };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr4): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr4, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : parseIPv4(ip);
  return ((n & maskOf(c.prefix)) >>> 0) === c.base;
}

/** The address at `offset` inside the CIDR (0 = network address). */
export function nthAddress(c: Cidr4, offset: number): string {
  if (offset < 0 || offset >= cidrSize(c)) throw new NodeError('BAD_CIDR', `offset ${offset} outside ${formatCidr4(c)}`);
  return formatIPv4((c.base + offset) >>> 0);
}

/** The `index`-th subnet of size /`prefix` inside `c` (e.g. 10.244.0.0/16 → /24 number 3 = 10.244.3.0/24). */
export function nthSubnet(c: Cidr4, prefix: number, index: number): Cidr4 {
  if (prefix < c.prefix || prefix > 32) throw new NodeError('BAD_CIDR', `/${prefix} does not fit in ${formatCidr4(c)}`);
  const count = 2 ** (prefix - c.prefix);
  if (index < 0 || index >= count) throw new NodeError('BAD_CIDR', `${formatCidr4(c)} has only ${count} /${prefix} subnets`);
  return { base: (c.base + index * 2 ** (32 - prefix)) >>> 0, prefix };
}

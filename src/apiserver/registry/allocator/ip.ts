// The ClusterIP allocator over one CIDR, as kube-apiserver's
// pkg/registry/core/service/ipallocator Range (bitmap.go), as pure functions
// over an immutable value. Persist it with snapshotIPRange (the
// RangeAllocation {range, data} Kubernetes keeps in etcd) and restoreIPRange.
//
// Layout (for 10.0.0.0/24): offset 0 is 10.0.0.1, the last is 10.0.0.254. The
// network address, and for IPv4 the broadcast address, are never handed out
// nor accepted. IPv6 ranges are capped at 65536 addresses, as Kubernetes caps
// the bitmap: addresses beyond the first 2^16 of a large range are "not in
// the valid range".
import {
  bigIntToIP, formatCIDR, formatIP, ipToBigInt, parseCIDRSloppy, parseIPSloppy, type IPFamily,
} from '../../../api/validation/ip.js';
import {
  bitmapFromBase64, bitmapToBase64, clearBit, hasBit, newBitmap, pickClear, setBit, setBits, type Bitmap, type Rand,
} from './bitmap.js';

export interface IPRange {
  /** The CIDR as Go prints it, e.g. 10.96.0.0/16. */
  readonly cidr: string;
  readonly family: IPFamily;
  /** First allocatable address (network + 1), as text. */
  readonly base: string;
  /** Number of allocatable addresses. */
  readonly max: number;
  /** KEP-3070: dynamic allocation prefers offsets >= this. */
  readonly offset: number;
  readonly bitmap: Bitmap;
}

/** api.RangeAllocation's payload: what is stored, JSON-ready. */
export interface RangeAllocation {
  range: string;
  /** base64 of the bitmap bytes, as in a RangeAllocation's `data`. */
  data: string;
}

export type AllocatorErrorCode = 'AlreadyAllocated' | 'NotInRange' | 'Full';

export interface AllocatorError {
  code: AllocatorErrorCode;
  /** Kubernetes' error text, e.g. "provided IP is already allocated". */
  message: string;
}

export type IPAllocateResult = { ok: true; range: IPRange; ip: string } | { ok: false; error: AllocatorError };

export const ErrIPFull: AllocatorError = { code: 'Full', message: 'range is full' };
export const ErrIPAllocated: AllocatorError = { code: 'AlreadyAllocated', message: 'provided IP is already allocated' };
function errIPNotInRange(ip: string, cidr: string): AllocatorError {
  return { code: 'NotInRange', message: `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${cidr}` };
}

/** netutils.RangeSize: addresses in the CIDR (0 for a /0 or /1 IPv4, /127+ IPv6 edge cases). */
function rangeSize(bits: number, prefix: number): bigint {
  const host = bits - prefix;
  if ((bits === 32 && host >= 31) || (bits === 128 && host >= 127)) return 0n;
  if (host >= 63) return (1n << 63n) - 1n;
  return 1n << BigInt(host);
}

/** calculateRangeOffset: min(max(16, size/16), 256), and 0 for ranges of 16 or fewer. */
export function ipRangeOffset(size: bigint): number {
  if (size <= 16n) return 0;
  const offset = size / 16n;
  if (offset < 16n) return 16;
  if (offset > 256n) return 256;
  return Number(offset);
}

/** A new, empty range over `cidr` (e.g. "10.96.0.0/16"). Throws on an invalid CIDR. */
export function newIPRange(cidr: string): IPRange {
  const c = parseCIDRSloppy(cidr);
  if (!c) throw new Error(`invalid CIDR address: ${cidr}`);
  const size = rangeSize(c.bits, c.prefix);
  let max: bigint = size;
  if (c.network.family === 'IPv6') {
    // The bitmap is kept whole in storage; 2^16 addresses are plenty.
    if (max > 65536n) max = 65536n;
  } else {
    max -= 1n; // the broadcast address
  }
  max -= 1n; // the network address
  if (max < 0n) max = 0n;
  const base = bigIntToIP(ipToBigInt(c.network) + 1n, c.network.family);
  return {
    cidr: formatCIDR(c),
    family: c.network.family,
    base: formatIP(base),
    max: Number(max),
    offset: ipRangeOffset(size),
    bitmap: newBitmap(Number(max)),
  };
}

// The base address as an integer, per range base: parsing it on every
// operation would dominate the cost of an allocation.
const baseCache = new Map<string, bigint>();
function baseOf(r: IPRange): bigint {
  let b = baseCache.get(r.base);
  if (b === undefined) {
    b = ipToBigInt(parseIPSloppy(r.base)!);
    baseCache.set(r.base, b);
  }
  return b;
}

/** The bitmap offset of `ip` in the range, or undefined when it is not an allocatable address of it. */
function offsetOf(r: IPRange, ip: string): { offset: number; text: string } | { offset: undefined; text: string } {
  const p = parseIPSloppy(ip);
  if (!p) return { offset: undefined, text: ip };
  const text = formatIP(p);
  if (p.family !== r.family) return { offset: undefined, text };
  const d = ipToBigInt(p) - baseOf(r);
  if (d < 0n || d >= BigInt(r.max)) return { offset: undefined, text };
  return { offset: Number(d), text };
}

function ipAt(r: IPRange, offset: number): string {
  return formatIP(bigIntToIP(baseOf(r) + BigInt(offset), r.family));
}

/** Reserves a requested IP (Range.Allocate). */
export function allocateIP(r: IPRange, ip: string): IPAllocateResult {
  const { offset, text } = offsetOf(r, ip);
  if (offset === undefined) return { ok: false, error: errIPNotInRange(text, r.cidr) };
  if (hasBit(r.bitmap, offset)) return { ok: false, error: ErrIPAllocated };
  return { ok: true, range: { ...r, bitmap: setBit(r.bitmap, offset) }, ip: text };
}

/** Reserves any free IP (Range.AllocateNext), upper band first. */
export function allocateNextIP(r: IPRange, rand: Rand): IPAllocateResult {
  const at = pickClear(r.bitmap, r.offset, rand);
  if (at < 0) return { ok: false, error: ErrIPFull };
  return { ok: true, range: { ...r, bitmap: setBit(r.bitmap, at) }, ip: ipAt(r, at) };
}

/** Releases an IP; releasing a free or out-of-range IP is a no-op, as in Kubernetes. */
export function releaseIP(r: IPRange, ip: string): IPRange {
  const { offset } = offsetOf(r, ip);
  if (offset === undefined || !hasBit(r.bitmap, offset)) return r;
  return { ...r, bitmap: clearBit(r.bitmap, offset) };
}

export function hasIP(r: IPRange, ip: string): boolean {
  const { offset } = offsetOf(r, ip);
  return offset !== undefined && hasBit(r.bitmap, offset);
}

/** Whether `ip` is an allocatable address of the range (not the network or broadcast address). */
export function ipInRange(r: IPRange, ip: string): boolean {
  return offsetOf(r, ip).offset !== undefined;
}

/** The bitmap offset of an allocatable IP, or -1. Offsets below `r.offset` are the lower (static) band. */
export function ipOffset(r: IPRange, ip: string): number {
  return offsetOf(r, ip).offset ?? -1;
}

export function allocatedIPs(r: IPRange): string[] {
  return [...setBits(r.bitmap)].map((o) => ipAt(r, o));
}

export function freeIPCount(r: IPRange): number { return r.max - r.bitmap.count; }
export function usedIPCount(r: IPRange): number { return r.bitmap.count; }

export function snapshotIPRange(r: IPRange): RangeAllocation {
  return { range: r.cidr, data: bitmapToBase64(r.bitmap) };
}

/** Rebuilds a range from its snapshot. Throws when the snapshot's range is not a CIDR. */
export function restoreIPRange(s: RangeAllocation): IPRange {
  const r = newIPRange(s.range);
  return { ...r, bitmap: bitmapFromBase64(r.max, s.data) };
}

/** The ClusterIP ranges of a cluster: one per family, the first one primary (dual-stack when two). */
export interface DualStackIPRanges {
  readonly primaryFamily: IPFamily;
  readonly byFamily: Readonly<Partial<Record<IPFamily, IPRange>>>;
}

export function withRange(d: DualStackIPRanges, r: IPRange): DualStackIPRanges {
  return { ...d, byFamily: { ...d.byFamily, [r.family]: r } };
}

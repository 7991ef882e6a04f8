// The NodePort allocator over --service-node-port-range, as kube-apiserver's
// pkg/registry/core/service/portallocator, as pure functions over an
// immutable value. KEP-3668: dynamic allocation prefers ports at or above
// base + min(max(16, size/32), 128) (30086 for 30000-32767), leaving the
// lower band to users who ask for a specific port.
import {
  bitmapFromBase64, bitmapToBase64, clearBit, hasBit, newBitmap, pickClear, setBit, setBits, type Bitmap, type Rand,
} from './bitmap.js';
import type { AllocatorError, RangeAllocation } from './ip.js';

export interface PortRange {
  readonly base: number;
  readonly size: number;
}

export interface PortAllocator {
  /** As PortRange.String() prints it: "30000-32767". */
  readonly range: string;
  readonly base: number;
  readonly size: number;
  readonly offset: number;
  readonly bitmap: Bitmap;
}

export type PortAllocateResult = { ok: true; allocator: PortAllocator; port: number } | { ok: false; error: AllocatorError };

export const DefaultServiceNodePortRange = '30000-32767';
export const ErrPortFull: AllocatorError = { code: 'Full', message: 'range is full' };
export const ErrPortAllocated: AllocatorError = { code: 'AlreadyAllocated', message: 'provided port is already allocated' };
function errPortNotInRange(range: string): AllocatorError {
  return { code: 'NotInRange', message: `provided port is not in the valid range. The range of valid ports is ${range}` };
}

function atoi(s: string): number {
  // Go's strconv.Atoi: an optional sign and decimal digits, nothing else.
  if (!/^[+-]?[0-9]+$/.test(s)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  return parseInt(s, 10);
}

/**
 * net.PortRange.Set: "min-max", "min+offset" (inclusive at both ends) or a
 * single port. Throws with apimachinery's messages.
 */
export function parsePortRange(value: string): PortRange {
  const v = value.trim();
  if (v === '') return { base: 0, size: 0 };
  const hyphen = v.indexOf('-');
  const plus = v.indexOf('+');
  let low: number;
  let high: number;
  if (hyphen === -1 && plus === -1) {
    low = high = atoi(v);
  } else if (hyphen !== -1 && plus === -1) {
    low = atoi(v.slice(0, hyphen));
    high = atoi(v.slice(hyphen + 1));
  } else if (plus !== -1 && hyphen === -1) {
    low = atoi(v.slice(0, plus));
    high = low + atoi(v.slice(plus + 1));
  } else {
    throw new Error(`unable to parse port range: ${v}`);
  }
  if (low > 65535 || high > 65535) throw new Error(`the port range cannot be greater than 65535: ${v}`);
  if (high < low) throw new Error(`end port cannot be less than start port: ${v}`);
  return { base: low, size: 1 + high - low };
}

export function formatPortRange(pr: PortRange): string {
  return pr.size === 0 ? '' : `${pr.base}-${pr.base + pr.size - 1}`;
}

/** calculateRangeOffset for ports: min(max(16, size/32), 128), 0 for 16 ports or fewer. */
export function portRangeOffset(size: number): number {
  if (size <= 16) return 0;
  const offset = Math.floor(size / 32);
  if (offset < 16) return 16;
  if (offset > 128) return 128;
  return offset;
}

/** A new, empty allocator over a range such as "30000-32767" or "30000+2767". */
export function newPortAllocator(range: string | PortRange = DefaultServiceNodePortRange): PortAllocator {
  const pr = typeof range === 'string' ? parsePortRange(range) : range;
  return { range: formatPortRange(pr), base: pr.base, size: pr.size, offset: portRangeOffset(pr.size), bitmap: newBitmap(pr.size) };
}

function offsetOf(a: PortAllocator, port: number): number | undefined {
  if (!Number.isInteger(port) || port < a.base || port >= a.base + a.size) return undefined;
  return port - a.base;
}

export function allocatePort(a: PortAllocator, port: number): PortAllocateResult {
  const o = offsetOf(a, port);
  if (o === undefined) return { ok: false, error: errPortNotInRange(a.range) };
  if (hasBit(a.bitmap, o)) return { ok: false, error: ErrPortAllocated };
  return { ok: true, allocator: { ...a, bitmap: setBit(a.bitmap, o) }, port };
}

export function allocateNextPort(a: PortAllocator, rand: Rand): PortAllocateResult {
  const at = pickClear(a.bitmap, a.offset, rand);
  if (at < 0) return { ok: false, error: ErrPortFull };
  return { ok: true, allocator: { ...a, bitmap: setBit(a.bitmap, at) }, port: a.base + at };
}

/** Releasing a free or out-of-range port is a no-op, as in Kubernetes. */
export function releasePort(a: PortAllocator, port: number): PortAllocator {
  const o = offsetOf(a, port);
  if (o === undefined || !hasBit(a.bitmap, o)) return a;
  return { ...a, bitmap: clearBit(a.bitmap, o) };
}

export function hasPort(a: PortAllocator, port: number): boolean {
  const o = offsetOf(a, port);
  return o !== undefined && hasBit(a.bitmap, o);
}

export function portInRange(a: PortAllocator, port: number): boolean {
  return offsetOf(a, port) !== undefined;
}

export function allocatedPorts(a: PortAllocator): number[] {
  return [...setBits(a.bitmap)].map((o) => a.base + o);
}

export function freePortCount(a: PortAllocator): number { return a.size - a.bitmap.count; }
export function usedPortCount(a: PortAllocator): number { return a.bitmap.count; }

export function snapshotPortAllocator(a: PortAllocator): RangeAllocation {
  return { range: a.range, data: bitmapToBase64(a.bitmap) };
}

export function restorePortAllocator(s: RangeAllocation): PortAllocator {
  const a = newPortAllocator(s.range);
  return { ...a, bitmap: bitmapFromBase64(a.size, s.data) };
}

// An immutable allocation bitmap: kube-apiserver's
// pkg/registry/core/service/allocator AllocationBitmap, as a value.
//
// Each item (an IP offset, a port offset) is one bit. To keep operations
// O(1)-ish while every state stays a value that can be kept, compared or
// thrown away, the bitmap is cut into chunks of CHUNK_BITS bits that states
// share: setting a bit copies one chunk and the (small) chunk index, never the
// whole map. Each chunk keeps its count of set bits, so a search skips full
// chunks without looking at their words.
//
// Dynamic allocation follows KEP-3070 / KEP-3668 (randomScanStrategyWithOffset):
// a random start in the upper band [offset, size), a forward scan wrapping
// inside that band, and only when it is full the same in the lower band
// [0, offset). Randomness is injected so tests are deterministic.

export const CHUNK_BITS = 1024;
const WORDS_PER_CHUNK = CHUNK_BITS / 32;

/** A source of randomness in [0, 1), like Math.random. */
export type Rand = () => number;

export interface Bitmap {
  /** Number of items (bits). */
  readonly size: number;
  /** Number of set bits. */
  readonly count: number;
  /** Chunks of WORDS_PER_CHUNK words; `null` is an all-zero chunk. Never mutated once published. */
  readonly chunks: readonly (Uint32Array | null)[];
  /** Set bits per chunk. Never mutated once published. */
  readonly chunkCounts: Int32Array;
}

export function newBitmap(size: number): Bitmap {
  const n = Math.ceil(size / CHUNK_BITS);
  return { size, count: 0, chunks: new Array<Uint32Array | null>(n).fill(null), chunkCounts: new Int32Array(n) };
}

export function hasBit(b: Bitmap, i: number): boolean {
  if (i < 0 || i >= b.size) return false;
  const chunk = b.chunks[Math.floor(i / CHUNK_BITS)];
  if (!chunk) return false;
  const w = (i % CHUNK_BITS) >>> 5;
  return ((chunk[w] >>> (i & 31)) & 1) === 1;
}

function withBit(b: Bitmap, i: number, on: boolean): Bitmap {
  if (i < 0 || i >= b.size || hasBit(b, i) === on) return b;
  const ci = Math.floor(i / CHUNK_BITS);
  const chunks = b.chunks.slice();
  const chunk = chunks[ci] ? chunks[ci]!.slice() : new Uint32Array(WORDS_PER_CHUNK);
  const w = (i % CHUNK_BITS) >>> 5;
  chunk[w] = on ? (chunk[w] | (1 << (i & 31))) >>> 0 : (chunk[w] & ~(1 << (i & 31))) >>> 0;
  const chunkCounts = b.chunkCounts.slice();
  chunkCounts[ci] += on ? 1 : -1;
  chunks[ci] = chunkCounts[ci] === 0 ? null : chunk;
  return { size: b.size, count: b.count + (on ? 1 : -1), chunks, chunkCounts };
}

export function setBit(b: Bitmap, i: number): Bitmap { return withBit(b, i, true); }
export function clearBit(b: Bitmap, i: number): Bitmap { return withBit(b, i, false); }

function chunkCapacity(b: Bitmap, ci: number): number {
  return Math.min(CHUNK_BITS, b.size - ci * CHUNK_BITS);
}

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** The first clear bit in [from, to), or -1. */
export function firstClear(b: Bitmap, from: number, to: number): number {
  let i = Math.max(0, from);
  const end = Math.min(to, b.size);
  while (i < end) {
    const ci = Math.floor(i / CHUNK_BITS);
    const chunkStart = ci * CHUNK_BITS;
    const chunkEnd = Math.min(chunkStart + CHUNK_BITS, end);
    const chunk = b.chunks[ci];
    if (!chunk) return i;
    if (b.chunkCounts[ci] === chunkCapacity(b, ci)) {
      i = chunkStart + CHUNK_BITS;
      continue;
    }
    while (i < chunkEnd) {
      const w = (i - chunkStart) >>> 5;
      const bit = i & 31;
      // Clear bits of this word at or above `bit`.
      const free = (~chunk[w] & (0xffffffff << bit)) >>> 0;
      if (free !== 0) {
        const found = chunkStart + w * 32 + lowestBit(free);
        return found < chunkEnd ? found : -1;
      }
      i = chunkStart + (w + 1) * 32;
    }
    i = chunkEnd;
  }
  return -1;
}

/** The first clear bit in [lo, hi) scanning from `start` and wrapping to lo, or -1. */
function scanWrap(b: Bitmap, lo: number, hi: number, start: number): number {
  const a = firstClear(b, start, hi);
  if (a >= 0) return a;
  return firstClear(b, lo, start);
}

function randInt(rand: Rand, n: number): number {
  // Clamp: a Rand may return 1 - ε rounding to n.
  return Math.min(n - 1, Math.max(0, Math.floor(rand() * n)));
}

/**
 * randomScanStrategyWithOffset.AllocateBit: the item to hand out next, or -1
 * when the map is full. The upper band is used first; the lower band
 * [0, offset) is kept for static requests until the upper one is exhausted.
 */
export function pickClear(b: Bitmap, offset: number, rand: Rand): number {
  if (b.count >= b.size) return -1;
  const sub = b.size - offset;
  if (sub > 0) {
    const at = scanWrap(b, offset, b.size, offset + randInt(rand, sub));
    if (at >= 0) return at;
  }
  if (offset > 0) return scanWrap(b, 0, offset, randInt(rand, offset));
  return -1;
}

/** Every set bit, in increasing order. */
export function* setBits(b: Bitmap): Generator<number> {
  for (let ci = 0; ci < b.chunks.length; ci++) {
    const chunk = b.chunks[ci];
    if (!chunk) continue;
    for (let w = 0; w < WORDS_PER_CHUNK; w++) {
      let word = chunk[w];
      while (word !== 0) {
        const bit = lowestBit(word);
        yield ci * CHUNK_BITS + w * 32 + bit;
        word = (word & ~(1 << bit)) >>> 0;
      }
    }
  }
}

/** Number of set bits in [from, to). */
export function countRange(b: Bitmap, from: number, to: number): number {
  let n = 0;
  for (const i of setBits(b)) {
    if (i >= to) break;
    if (i >= from) n++;
  }
  return n;
}

/**
 * The bitmap as Kubernetes stores it in a RangeAllocation: the big-endian
 * bytes of the integer whose bit i is item i (Go's big.Int.Bytes()), base64.
 */
export function bitmapToBase64(b: Bitmap): string {
  const top = b.size === 0 ? 0 : Math.ceil(b.size / 8);
  const bytes = new Uint8Array(top);
  for (const i of setBits(b)) bytes[top - 1 - (i >>> 3)] |= 1 << (i & 7);
  let first = 0;
  while (first < bytes.length && bytes[first] === 0) first++;
  return Buffer.from(bytes.subarray(first)).toString('base64');
}

/** The inverse of bitmapToBase64; bits at or beyond `size` are dropped. */
export function bitmapFromBase64(size: number, data: string): Bitmap {
  const bytes = Buffer.from(data, 'base64');
  const n = Math.ceil(size / CHUNK_BITS);
  const chunks: (Uint32Array | null)[] = new Array<Uint32Array | null>(n).fill(null);
  const chunkCounts = new Int32Array(n);
  let count = 0;
  for (let k = 0; k < bytes.length; k++) {
    const byte = bytes[bytes.length - 1 - k];
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if (((byte >>> bit) & 1) === 0) continue;
      const i = k * 8 + bit;
      if (i >= size) continue;
      const ci = Math.floor(i / CHUNK_BITS);
      const chunk = (chunks[ci] ??= new Uint32Array(WORDS_PER_CHUNK));
      const w = (i % CHUNK_BITS) >>> 5;
      chunk[w] = (chunk[w] | (1 << (i & 31))) >>> 0;
      chunkCounts[ci]++;
      count++;
    }
  }
  return { size, count, chunks, chunkCounts };
}

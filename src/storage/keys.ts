// Key order shared by every backend. The contract is etcd's: keys sort in byte
// order of their UTF-8 encoding (SQLite's BINARY collation, etcd's bbolt). JS
// compares strings by UTF-16 code unit, which disagrees with UTF-8 byte order
// only when a surrogate (U+D800..U+DFFF, i.e. a character above U+FFFF) meets a
// code unit in U+E000..U+FFFF; compareKeys fixes exactly that case so the memory
// backend lists keys in the same order as SQLite and etcd.

/** Negative, zero or positive as a sorts before, equal to or after b in UTF-8 byte order. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) return codePointRank(x) - codePointRank(y);
      return x - y;
    }
  }
  return a.length - b.length;
}

// Surrogates stand for code points above U+FFFF, so they must rank after U+E000..U+FFFF.
function codePointRank(unit: number): number {
  if (unit <= 0xdfff) return unit + 0x2000;
  return unit - 0x800;
}

/**
 * The smallest key greater than every key that starts with prefix, or undefined
 * when no such bound exists (empty prefix, or a prefix of only U+10FFFF). Lets
 * SQL answer "keys under prefix" as the index range [prefix, prefixEnd).
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (cps.length > 0) {
    const last = cps.pop() as number;
    if (last < 0x10ffff) {
      // A lone surrogate would be replaced by U+FFFD when encoded to UTF-8, so
      // the successor of U+D7FF is U+E000.
      cps.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return cps.map((c) => String.fromCodePoint(c)).join('');
    }
  }
  return undefined;
}

/** The larger of two keys in key order. */
export function maxKey(a: string, b: string): string {
  return compareKeys(a, b) >= 0 ? a : b;
}

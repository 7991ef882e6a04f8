// IP and CIDR parsing with the rules Kubernetes uses (k8s.io/utils/net
// ParseIPSloppy / ParseCIDRSloppy, i.e. Go 1.16's net.ParseIP): IPv4 octets
// may have leading zeros (read as decimal), an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is an IPv4 address, and IPs print the way Go's
// net.IP.String() prints them (RFC 5952 for IPv6).

export type IPFamily = 'IPv4' | 'IPv6';

export interface ParsedIP {
  family: IPFamily;
  /** 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
}

export interface ParsedCIDR {
  /** The network address (host bits cleared). */
  network: ParsedIP;
  /** The address as written (host bits kept), like Go's first ParseCIDR result. */
  ip: ParsedIP;
  prefix: number;
  /** 32 or 128. */
  bits: number;
}

const big = 0xffffff;

/** Go's dtoi: decimal digits to int, stopping at the first non-digit. */
function dtoi(s: string, start: number): [n: number, end: number, ok: boolean] {
  let n = 0;
  let i = start;
  for (; i < s.length && s[i] >= '0' && s[i] <= '9'; i++) {
    n = n * 10 + (s.charCodeAt(i) - 48);
    if (n >= big) return [big, i, false];
  }
  return [n, i, i > start];
}

function xtoi(s: string, start: number): [n: number, end: number, ok: boolean] {
  let n = 0;
  let i = start;
  for (; i < s.length; i++) {
    const c = s[i];
    let d: number;
    if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
    else if (c >= 'a' && c <= 'f') d = c.charCodeAt(0) - 87;
    else if (c >= 'A' && c <= 'F') d = c.charCodeAt(0) - 55;
    else break;
    n = n * 16 + d;
    if (n >= big) return [0, i, false];
  }
  return [n, i, i > start];
}

function parseIPv4(s: string): Uint8Array | undefined {
  const octets = [0, 0, 0, 0];
  let pos = 0;
  for (let i = 0; i < 4; i++) {
    if (pos >= s.length) return undefined;
    if (i > 0) {
      if (s.charCodeAt(pos) !== 46 /* . */) return undefined;
      pos++;
    }
    // dtoi, inline: decimal digits up to the first non-digit.
    let n = 0;
    const start = pos;
    for (; pos < s.length; pos++) {
      const c = s.charCodeAt(pos) - 48;
      if (c < 0 || c > 9) break;
      n = n * 10 + c;
      if (n >= big) return undefined;
    }
    if (pos === start || n > 0xff) return undefined;
    octets[i] = n;
  }
  return pos === s.length ? Uint8Array.from(octets) : undefined;
}

function parseIPv6(s: string): Uint8Array | undefined {
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  let pos = 0;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    pos = 2;
    if (pos === s.length) return ip;
  }
  let i = 0;
  while (i < 16) {
    const [n, end, ok] = xtoi(s, pos);
    if (!ok || n > 0xffff) return undefined;
    if (end < s.length && s[end] === '.') {
      // An embedded IPv4 address must be the last 32 bits.
      if (ellipsis < 0 && i !== 12) return undefined;
      if (i + 4 > 16) return undefined;
      const v4 = parseIPv4(s.slice(pos));
      if (!v4) return undefined;
      ip.set(v4, i);
      i += 4;
      pos = s.length;
      break;
    }
    ip[i] = n >> 8;
    ip[i + 1] = n & 0xff;
    i += 2;
    pos = end;
    if (pos === s.length) break;
    if (s[pos] !== ':' || pos + 1 === s.length) return undefined;
    pos++;
    if (s[pos] === ':') {
      if (ellipsis >= 0) return undefined;
      ellipsis = i;
      pos++;
      if (pos === s.length) break;
    }
  }
  if (pos !== s.length) return undefined;
  if (i < 16) {
    if (ellipsis < 0) return undefined;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j];
    for (let j = ellipsis + n - 1; j >= ellipsis; j--) ip[j] = 0;
  } else if (ellipsis >= 0) {
    // An ellipsis must stand for at least one group.
    return undefined;
  }
  return ip;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** net.ParseIP (sloppy): undefined when the text is not an IP address. */
export function parseIPSloppy(s: string): ParsedIP | undefined {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '.') {
      const b = parseIPv4(s);
      return b ? { family: 'IPv4', bytes: b } : undefined;
    }
    if (s[i] === ':') {
      const b = parseIPv6(s);
      if (!b) return undefined;
      // Go's To4() treats an IPv4-mapped address as IPv4.
      if (isV4Mapped(b)) return { family: 'IPv4', bytes: b.slice(12) };
      return { family: 'IPv6', bytes: b };
    }
  }
  return undefined;
}

/** Go's net.IP.String(). */
export function formatIP(ip: ParsedIP): string {
  const p = ip.bytes;
  if (p.length === 4) return `${p[0]}.${p[1]}.${p[2]}.${p[3]}`;
  // Longest run of zero groups (first one on ties); "::" never replaces a single group.
  let e0 = -1;
  let e1 = -1;
  for (let i = 0; i < 16; i += 2) {
    let j = i;
    while (j < 16 && p[j] === 0 && p[j + 1] === 0) j += 2;
    if (j > i && j - i > e1 - e0) {
      e0 = i;
      e1 = j;
      i = j;
    }
  }
  if (e1 - e0 <= 2) {
    e0 = -1;
    e1 = -1;
  }
  let s = '';
  for (let i = 0; i < 16; i += 2) {
    if (i === e0) {
      s += '::';
      i = e1;
      if (i >= 16) break;
    } else if (i > 0) {
      s += ':';
    }
    s += ((p[i] << 8) | p[i + 1]).toString(16);
  }
  return s;
}

/** The canonical text of an IP string, or undefined when it does not parse. */
export function canonicalIP(s: string): string | undefined {
  const ip = parseIPSloppy(s);
  return ip ? formatIP(ip) : undefined;
}

export function ipFamilyOf(s: string): IPFamily | undefined {
  return parseIPSloppy(s)?.family;
}

/** netutils.IsIPv6String: parses and is not IPv4 (nor IPv4-mapped). */
export function isIPv6String(s: string): boolean {
  return parseIPSloppy(s)?.family === 'IPv6';
}

/** net.ParseCIDR (sloppy): "addr/prefix". */
export function parseCIDRSloppy(s: string): ParsedCIDR | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const addr = s.slice(0, slash);
  const mask = s.slice(slash + 1);
  let family: IPFamily = 'IPv4';
  let bytes = parseIPv4(addr);
  if (!bytes) {
    family = 'IPv6';
    bytes = parseIPv6(addr);
  }
  if (!bytes) return undefined;
  const bits = family === 'IPv4' ? 32 : 128;
  const [n, end, ok] = dtoi(mask, 0);
  if (!ok || end !== mask.length || n < 0 || n > bits) return undefined;
  let ip: ParsedIP = { family, bytes };
  if (family === 'IPv6' && isV4Mapped(bytes)) ip = { family: 'IPv4', bytes: bytes.slice(12) };
  // Mask in the address's own width; a v4-mapped address with an IPv6 mask
  // keeps its 16-byte form for the network, as Go does.
  const netBytes = bytes.slice();
  for (let i = 0; i < netBytes.length; i++) {
    const keep = Math.max(0, Math.min(8, n - i * 8));
    netBytes[i] &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  let network: ParsedIP = { family, bytes: netBytes };
  if (family === 'IPv6' && isV4Mapped(netBytes) && n >= 96) network = { family: 'IPv4', bytes: netBytes.slice(12) };
  return { network, ip, prefix: family === 'IPv6' && network.family === 'IPv4' ? n - 96 : n, bits: network.family === 'IPv4' ? 32 : 128 };
}

/** Go's IPNet.String(): the network address and prefix length. */
export function formatCIDR(c: ParsedCIDR): string {
  return `${formatIP(c.network)}/${c.prefix}`;
}

/** The address as an unsigned integer (bigint, to cover IPv6). */
export function ipToBigInt(ip: ParsedIP): bigint {
  let v = 0n;
  for (const b of ip.bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function bigIntToIP(v: bigint, family: IPFamily): ParsedIP {
  const n = family === 'IPv4' ? 4 : 16;
  const bytes = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { family, bytes };
}

/** Whether `ip` is inside the network `c`. */
export function cidrContains(c: ParsedCIDR, ip: ParsedIP): boolean {
  if (ip.family !== c.network.family) return false;
  const hostBits = BigInt(c.bits - c.prefix);
  return (ipToBigInt(ip) >> hostBits) === (ipToBigInt(c.network) >> hostBits);
}

// Go's net.IP predicates, as ValidateNonSpecialIP uses them.

export function isUnspecified(ip: ParsedIP): boolean {
  return ip.bytes.every((b) => b === 0);
}
export function isLoopback(ip: ParsedIP): boolean {
  if (ip.family === 'IPv4') return ip.bytes[0] === 127;
  return ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
}
export function isLinkLocalUnicast(ip: ParsedIP): boolean {
  if (ip.family === 'IPv4') return ip.bytes[0] === 169 && ip.bytes[1] === 254;
  return ip.bytes[0] === 0xfe && (ip.bytes[1] & 0xc0) === 0x80;
}
export function isLinkLocalMulticast(ip: ParsedIP): boolean {
  if (ip.family === 'IPv4') return ip.bytes[0] === 224 && ip.bytes[1] === 0 && ip.bytes[2] === 0;
  return ip.bytes[0] === 0xff && (ip.bytes[1] & 0x0f) === 0x02;
}

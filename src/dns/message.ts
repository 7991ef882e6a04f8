// DNS messages on the wire (RFC 1035 §4, EDNS0 from RFC 6891): a decoder that
// never reads outside the packet and never loops, and an encoder with name
// compression. Pure: bytes in, values out.
//
// Names are written in presentation form without the trailing dot ('' is the
// root). Label bytes that are not printable ASCII, and '.' or '\' inside a
// label, are escaped as `\DDD` / `\.` / `\\` (RFC 1035 §5.1), so any label
// read off the wire round-trips and can never be confused with two labels.
import { formatIP, parseIPSloppy } from '../api/validation/ip.js';

export const RRType = Object.freeze({
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41,
  IXFR: 251, AXFR: 252, ANY: 255,
} as const);

export const RRClass = Object.freeze({ IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const);

export const Rcode = Object.freeze({
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5,
  /** Extended rcode (needs an OPT record): the query's EDNS version is not supported. */
  BADVERS: 16,
} as const);

export const Opcode = Object.freeze({ QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const);

/** The name of a record type for logs ("TYPE65" for ones we do not know, as RFC 3597 writes them). */
export function typeName(t: number): string {
  for (const [k, v] of Object.entries(RRType)) if (v === t) return k;
  return `TYPE${t}`;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export type RecordData =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'NS'; target: string }
  | { kind: 'CNAME'; target: string }
  | { kind: 'PTR'; target: string }
  | { kind: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { kind: 'SOA'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  /** Character strings as bytes read as latin1, one JS char per byte. */
  | { kind: 'TXT'; strings: string[] }
  /** Any type we do not interpret (or whose RDATA did not parse as its type): the bytes as they came. */
  | { kind: 'RAW'; data: Uint8Array };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

export interface EdnsOption {
  code: number;
  data: Uint8Array;
}

/** The OPT pseudo-record, lifted out of the additional section (RFC 6891 §6.1). */
export interface Edns {
  udpPayloadSize: number;
  version: number;
  dnssecOk: boolean;
  options: EdnsOption[];
}

export interface Message {
  id: number;
  /** true in responses. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The full rcode: the header's 4 bits plus, with EDNS, the OPT record's upper 8 bits. */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  /** Without the OPT record, which is in `edns`. */
  additionals: ResourceRecord[];
  edns?: Edns;
}

export type DnsMessageErrorCode =
  | 'DNS_SHORT_PACKET'
  | 'DNS_BAD_LABEL'
  | 'DNS_BAD_POINTER'
  | 'DNS_NAME_TOO_LONG'
  | 'DNS_BAD_RDATA'
  | 'DNS_DUPLICATE_OPT'
  | 'DNS_TRAILING_BYTES'
  | 'DNS_BAD_NAME'
  | 'DNS_BAD_ADDRESS'
  | 'DNS_MESSAGE_TOO_LARGE';

/** Why a packet could not be read or a message could not be written. */
export class DnsMessageError extends Error {
  constructor(readonly code: DnsMessageErrorCode, message: string) {
    super(message);
    this.name = 'DnsMessageError';
  }
}

/** Longest name on the wire, length octets included (RFC 1035 §3.1). */
const MAX_NAME_WIRE = 255;
const MAX_LABEL = 63;
const MAX_MESSAGE = 65535;

export function emptyMessage(id = 0): Message {
  return {
    id, qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: 0,
    questions: [], answers: [], authorities: [], additionals: [],
  };
}

// ---------------------------------------------------------------- names

/** The presentation form of one label's bytes. */
function labelText(b: Uint8Array, start: number, len: number): string {
  let s = '';
  for (let i = start; i < start + len; i++) {
    const c = b[i];
    if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + String(c).padStart(3, '0');
  }
  return s;
}

/** Drops the final (root) dot of a presentation name, unless that dot is escaped (`a\.` is the one label "a."). */
export function stripTrailingDot(name: string): string {
  if (!name.endsWith('.')) return name;
  let bs = 0;
  for (let i = name.length - 2; i >= 0 && name[i] === '\\'; i--) bs++;
  return bs % 2 === 0 ? name.slice(0, -1) : name;
}

/** Splits a presentation name into label bytes; throws DNS_BAD_NAME. */
export function nameToLabels(name: string): Uint8Array[] {
  const n = stripTrailingDot(name);
  if (n === '') return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  for (let i = 0; i < n.length; i++) {
    const ch = n.charCodeAt(i);
    if (ch === 0x2e) {
      if (!cur.length) throw new DnsMessageError('DNS_BAD_NAME', `empty label in ${JSON.stringify(name)}`);
      labels.push(Uint8Array.from(cur));
      cur = [];
      continue;
    }
    if (ch === 0x5c) {
      const d = n.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new DnsMessageError('DNS_BAD_NAME', `bad escape in ${JSON.stringify(name)}`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < n.length) {
        const e = n.charCodeAt(i + 1);
        if (e > 0xff) throw new DnsMessageError('DNS_BAD_NAME', `non-latin1 character in ${JSON.stringify(name)}`);
        cur.push(e);
        i += 1;
      } else {
        throw new DnsMessageError('DNS_BAD_NAME', `dangling escape in ${JSON.stringify(name)}`);
      }
      continue;
    }
    if (ch > 0xff) throw new DnsMessageError('DNS_BAD_NAME', `non-latin1 character in ${JSON.stringify(name)}`);
    cur.push(ch);
  }
  if (!cur.length) throw new DnsMessageError('DNS_BAD_NAME', `empty label in ${JSON.stringify(name)}`);
  labels.push(Uint8Array.from(cur));
  let wire = 1;
  for (const l of labels) {
    if (l.length > MAX_LABEL) throw new DnsMessageError('DNS_BAD_NAME', `label longer than 63 octets in ${JSON.stringify(name)}`);
    wire += l.length + 1;
  }
  if (wire > MAX_NAME_WIRE) throw new DnsMessageError('DNS_NAME_TOO_LONG', `name longer than 255 octets: ${JSON.stringify(name)}`);
  return labels;
}

/** Lowercases ASCII letters only (DNS names compare case-insensitively in ASCII, RFC 4343). */
export function canonicalName(name: string): string {
  return stripTrailingDot(name).replace(/[A-Z]/g, (c) => c.toLowerCase());
}

// ---------------------------------------------------------------- reader

class Reader {
  off = 0;
  constructor(readonly b: Uint8Array) {}

  need(n: number, what: string): void {
    if (this.off + n > this.b.length) throw new DnsMessageError('DNS_SHORT_PACKET', `packet ends inside ${what} at offset ${this.off}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.b[this.off++];
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.b[this.off] << 8) | this.b[this.off + 1];
    this.off += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = ((this.b[this.off] << 24) >>> 0) + ((this.b[this.off + 1] << 16) | (this.b[this.off + 2] << 8) | this.b[this.off + 3]);
    this.off += 4;
    return v;
  }

  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.b.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }

  /**
   * A possibly compressed name. Every pointer must point strictly before the
   * label sequence it continues, so a chain of pointers always moves toward
   * the start of the packet and cannot loop; the 255-octet limit bounds the
   * work besides.
   */
  name(what: string): string {
    const b = this.b;
    let pos = this.off;
    let end = -1;            // where reading resumes after the first pointer
    let limit = pos;         // pointers must target offsets below this
    let wire = 1;
    const parts: string[] = [];
    for (;;) {
      if (pos >= b.length) throw new DnsMessageError('DNS_SHORT_PACKET', `packet ends inside ${what} name`);
      const len = b[pos];
      if (len === 0) {
        pos += 1;
        break;
      }
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        if (pos + 1 >= b.length) throw new DnsMessageError('DNS_SHORT_PACKET', `packet ends inside ${what} name pointer`);
        const target = ((len & 0x3f) << 8) | b[pos + 1];
        if (end < 0) end = pos + 2;
        if (target >= limit) throw new DnsMessageError('DNS_BAD_POINTER', `compression pointer to ${target} does not point backwards (at ${pos})`);
        limit = target;
        pos = target;
        continue;
      }
      if (kind !== 0) throw new DnsMessageError('DNS_BAD_LABEL', `unsupported label type 0x${kind.toString(16)} in ${what} name`);
      if (pos + 1 + len > b.length) throw new DnsMessageError('DNS_SHORT_PACKET', `packet ends inside a label of ${what} name`);
      wire += len + 1;
      if (wire > MAX_NAME_WIRE) throw new DnsMessageError('DNS_NAME_TOO_LONG', `${what} name longer than 255 octets`);
      parts.push(labelText(b, pos + 1, len));
      pos += 1 + len;
    }
    this.off = end >= 0 ? end : pos;
    return parts.join('.');
  }
}

function readRecordData(r: Reader, type: number, rdlen: number): RecordData {
  const start = r.off;
  const stop = start + rdlen;
  r.need(rdlen, 'RDATA');
  const done = (d: RecordData): RecordData => {
    if (r.off !== stop) throw new DnsMessageError('DNS_BAD_RDATA', `RDATA of ${typeName(type)} is ${rdlen} octets but holds ${r.off - start}`);
    return d;
  };
  // Reads inside RDATA must not run past RDLENGTH: a sub-reader bounded at `stop`
  // would lose compression pointers into the rest of the packet, so check after.
  const bounded = <T>(f: () => T): T => {
    const v = f();
    if (r.off > stop) throw new DnsMessageError('DNS_BAD_RDATA', `${typeName(type)} RDATA runs past its length`);
    return v;
  };
  switch (type) {
    case RRType.A: {
      if (rdlen !== 4) throw new DnsMessageError('DNS_BAD_RDATA', `A RDATA is ${rdlen} octets, not 4`);
      return { kind: 'A', address: formatIP({ family: 'IPv4', bytes: r.bytes(4, 'A') }) };
    }
    case RRType.AAAA: {
      if (rdlen !== 16) throw new DnsMessageError('DNS_BAD_RDATA', `AAAA RDATA is ${rdlen} octets, not 16`);
      return { kind: 'AAAA', address: formatIP({ family: 'IPv6', bytes: r.bytes(16, 'AAAA') }) };
    }
    case RRType.NS:
    case RRType.CNAME:
    case RRType.PTR: {
      const target = bounded(() => r.name(typeName(type)));
      const kind = type === RRType.NS ? 'NS' : type === RRType.CNAME ? 'CNAME' : 'PTR';
      return done({ kind, target });
    }
    case RRType.SRV: {
      const v = bounded(() => ({
        priority: r.u16('SRV'), weight: r.u16('SRV'), port: r.u16('SRV'), target: r.name('SRV target'),
      }));
      return done({ kind: 'SRV', ...v });
    }
    case RRType.SOA: {
      const v = bounded(() => ({
        mname: r.name('SOA mname'), rname: r.name('SOA rname'),
        serial: r.u32('SOA'), refresh: r.u32('SOA'), retry: r.u32('SOA'), expire: r.u32('SOA'), minimum: r.u32('SOA'),
      }));
      return done({ kind: 'SOA', ...v });
    }
    case RRType.TXT: {
      const strings: string[] = [];
      while (r.off < stop) {
        const n = r.u8('TXT');
        if (r.off + n > stop) throw new DnsMessageError('DNS_BAD_RDATA', 'TXT string runs past RDATA');
        strings.push(String.fromCharCode(...r.bytes(n, 'TXT')));
      }
      return done({ kind: 'TXT', strings });
    }
    default:
      return { kind: 'RAW', data: r.bytes(rdlen, 'RDATA') };
  }
}

interface RawRecord extends ResourceRecord { optTtl?: number }

function readRecord(r: Reader): RawRecord {
  const name = r.name('record');
  const type = r.u16('record type');
  const cls = r.u16('record class');
  const ttl = r.u32('record TTL');
  const rdlen = r.u16('RDLENGTH');
  if (type === RRType.OPT) {
    const data = r.bytes(rdlen, 'OPT RDATA');
    return { name, type, class: cls, ttl, data: { kind: 'RAW', data } };
  }
  return { name, type, class: cls, ttl, data: readRecordData(r, type, rdlen) };
}

function parseOptions(d: Uint8Array): EdnsOption[] {
  const out: EdnsOption[] = [];
  const r = new Reader(d);
  while (r.off < d.length) {
    const code = r.u16('EDNS option code');
    const len = r.u16('EDNS option length');
    out.push({ code, data: r.bytes(len, 'EDNS option') });
  }
  return out;
}

/** Reads just the 12-octet header's id and flags: enough to answer FORMERR to a packet that does not parse. */
export function peekHeader(packet: Uint8Array): { id: number; qr: boolean; opcode: number; rd: boolean; qdcount: number } | undefined {
  if (packet.length < 12) return undefined;
  return {
    id: (packet[0] << 8) | packet[1],
    qr: (packet[2] & 0x80) !== 0,
    opcode: (packet[2] >> 3) & 0x0f,
    rd: (packet[2] & 0x01) !== 0,
    qdcount: (packet[4] << 8) | packet[5],
  };
}

/** Parses a whole message; throws DnsMessageError on anything malformed (never reads out of bounds). */
export function decodeMessage(packet: Uint8Array): Message {
  const r = new Reader(packet);
  const id = r.u16('header');
  const f1 = r.u8('header');
  const f2 = r.u8('header');
  const qd = r.u16('header');
  const an = r.u16('header');
  const ns = r.u16('header');
  const ar = r.u16('header');
  const m: Message = {
    id,
    qr: (f1 & 0x80) !== 0,
    opcode: (f1 >> 3) & 0x0f,
    aa: (f1 & 0x04) !== 0,
    tc: (f1 & 0x02) !== 0,
    rd: (f1 & 0x01) !== 0,
    ra: (f2 & 0x80) !== 0,
    ad: (f2 & 0x20) !== 0,
    cd: (f2 & 0x10) !== 0,
    rcode: f2 & 0x0f,
    questions: [], answers: [], authorities: [], additionals: [],
  };
  for (let i = 0; i < qd; i++) {
    const name = r.name('question');
    m.questions.push({ name, type: r.u16('question type'), class: r.u16('question class') });
  }
  for (let i = 0; i < an; i++) m.answers.push(readRecord(r));
  for (let i = 0; i < ns; i++) m.authorities.push(readRecord(r));
  for (let i = 0; i < ar; i++) {
    const rec = readRecord(r);
    if (rec.type !== RRType.OPT) {
      m.additionals.push(rec);
      continue;
    }
    // RFC 6891 §6.1.1: one OPT at most, owned by the root.
    if (m.edns) throw new DnsMessageError('DNS_DUPLICATE_OPT', 'more than one OPT record');
    if (rec.name !== '') throw new DnsMessageError('DNS_BAD_RDATA', 'OPT record not owned by the root');
    const raw = rec.data.kind === 'RAW' ? rec.data.data : new Uint8Array();
    m.edns = {
      udpPayloadSize: rec.class,
      version: (rec.ttl >>> 16) & 0xff,
      dnssecOk: (rec.ttl & 0x8000) !== 0,
      options: parseOptions(raw),
    };
    m.rcode |= ((rec.ttl >>> 24) & 0xff) << 4;
  }
  if (r.off !== packet.length) throw new DnsMessageError('DNS_TRAILING_BYTES', `${packet.length - r.off} octets after the last record`);
  return m;
}

// ---------------------------------------------------------------- writer

class Writer {
  buf = new Uint8Array(512);
  len = 0;
  /** Lowercased name suffix → offset of its first label, for compression. */
  private readonly names = new Map<string, number>();

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.len + n > MAX_MESSAGE) throw new DnsMessageError('DNS_MESSAGE_TOO_LARGE', 'message longer than 65535 octets');
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const nb = new Uint8Array(Math.min(size, MAX_MESSAGE));
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v & 0xff;
  }

  u16(v: number): void {
    this.grow(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }

  u32(v: number): void {
    this.grow(4);
    this.buf[this.len++] = (v >>> 24) & 0xff;
    this.buf[this.len++] = (v >>> 16) & 0xff;
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  setU16(at: number, v: number): void {
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }

  /** Writes a name, pointing at an earlier copy of its longest known suffix when `compress`. */
  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    const keys: string[] = [];
    for (let i = 0; i < labels.length; i++) {
      // Length-prefixed so that no two label sequences share a key; ASCII-only case folding (RFC 4343).
      keys.push(labels.slice(i).map((l) => String.fromCharCode(l.length) + String.fromCharCode(...l).replace(/[A-Z]/g, (c) => c.toLowerCase())).join(''));
    }
    for (let i = 0; i < labels.length; i++) {
      const at = compress ? this.names.get(keys[i]) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      // Only offsets that fit in 14 bits can be pointed at.
      if (this.len < 0x4000 && !this.names.has(keys[i])) this.names.set(keys[i], this.len);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }
}

function addressBytes(address: string, family: 'IPv4' | 'IPv6'): Uint8Array {
  const ip = parseIPSloppy(address);
  if (!ip) throw new DnsMessageError('DNS_BAD_ADDRESS', `not an IP address: ${JSON.stringify(address)}`);
  if (family === 'IPv4') {
    if (ip.family !== 'IPv4') throw new DnsMessageError('DNS_BAD_ADDRESS', `not an IPv4 address: ${address}`);
    return ip.bytes;
  }
  if (ip.family === 'IPv6') return ip.bytes;
  // An IPv4 address in an AAAA record is written IPv4-mapped.
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(ip.bytes, 12);
  return b;
}

function writeRecordData(w: Writer, d: RecordData): void {
  switch (d.kind) {
    case 'A': w.bytes(addressBytes(d.address, 'IPv4')); return;
    case 'AAAA': w.bytes(addressBytes(d.address, 'IPv6')); return;
    case 'NS':
    case 'CNAME':
    case 'PTR': w.name(d.target, true); return;
    case 'SRV':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the SRV target is not compressed.
      w.name(d.target, false);
      return;
    case 'SOA':
      w.name(d.mname, true);
      w.name(d.rname, true);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      return;
    case 'TXT':
      for (const s of d.strings.length ? d.strings : ['']) {
        const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
        if (bytes.length > 255) throw new DnsMessageError('DNS_BAD_RDATA', 'TXT string longer than 255 octets');
        w.u8(bytes.length);
        w.bytes(bytes);
      }
      return;
    case 'RAW': w.bytes(d.data); return;
  }
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl >>> 0);
  const lenAt = w.len;
  w.u16(0);
  writeRecordData(w, rr.data);
  w.setU16(lenAt, w.len - lenAt - 2);
}

function writeOpt(w: Writer, e: Edns, rcode: number): void {
  w.u8(0);
  w.u16(RRType.OPT);
  w.u16(e.udpPayloadSize);
  w.u32((((rcode >>> 4) & 0xff) << 24 | (e.version & 0xff) << 16 | (e.dnssecOk ? 0x8000 : 0)) >>> 0);
  const lenAt = w.len;
  w.u16(0);
  for (const o of e.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
  w.setU16(lenAt, w.len - lenAt - 2);
}

/** Writes a message with name compression. An rcode above 15 needs `edns` (it lives partly in the OPT record). */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u8((m.qr ? 0x80 : 0) | ((m.opcode & 0x0f) << 3) | (m.aa ? 0x04 : 0) | (m.tc ? 0x02 : 0) | (m.rd ? 0x01 : 0));
  w.u8((m.ra ? 0x80 : 0) | (m.ad ? 0x20 : 0) | (m.cd ? 0x10 : 0) | (m.rcode & 0x0f));
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length + (m.edns ? 1 : 0));
  for (const q of m.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of m.answers) writeRecord(w, rr);
  for (const rr of m.authorities) writeRecord(w, rr);
  for (const rr of m.additionals) writeRecord(w, rr);
  if (m.edns) writeOpt(w, m.edns, m.rcode);
  return w.buf.slice(0, w.len);
}

// Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
// into the JSON object the same client would have sent as JSON.
//
// Wire form (k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go): the
// magic `k8s\0`, then a runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
// 3: contentEncoding, 4: contentType}; `raw` is the object as its k8s.io/api message.
//
// The encoder on the other side is gogo-protobuf over Go structs: every non-pointer
// scalar is written even when zero, and encoding/json would have left it out when its
// tag says omitempty. The schema marks those fields `o`, and a zero value there is
// dropped; pointers (`replicas: 0`) and non-omitempty fields (`port: 0`) stay. Nested
// non-pointer structs are always on the wire, as they are always in Go's JSON
// (`"strategy": {}`), and an empty metav1.Time is Go's zero time, JSON `null`.
import { protobufSchema, messageForKind, SCALAR_TYPES, SPECIAL_MESSAGES, type FieldSpec } from './schema.js';
import { formatDuration, formatMicroTime, formatTime } from './wellknown.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
/** `k8s\0`: the fourth byte is the envelope version; 0 = runtime.Unknown. */
export const PROTOBUF_MAGIC: readonly number[] = [0x6b, 0x38, 0x73, 0x00];

/** Nesting deeper than any Kubernetes type; a guard against hostile input, not a real limit. */
const MAX_DEPTH = 64;

export type ProtobufErrorCode =
  | 'ERR_PROTOBUF_PREFIX' // not `k8s\0…`
  | 'ERR_PROTOBUF_MALFORMED' // truncated, bad lengths or wire types, bad embedded JSON
  | 'ERR_PROTOBUF_MISSING_KIND' // the envelope names no kind or apiVersion
  | 'ERR_PROTOBUF_UNKNOWN_KIND' // no schema for that apiVersion/kind
  | 'ERR_PROTOBUF_UNSUPPORTED'; // an envelope content encoding/type we do not read

export class ProtobufDecodeError extends Error {
  override readonly name = 'ProtobufDecodeError';
  constructor(readonly code: ProtobufErrorCode, message: string) {
    super(message);
  }
}

export interface DecodedObject {
  apiVersion: string;
  kind: string;
  /** The object as JSON would carry it, `apiVersion` and `kind` included. */
  object: Record<string, unknown>;
}

/** True when a Content-Type header names Kubernetes protobuf (parameters ignored). */
export function isProtobuf(contentType: string | undefined | null): boolean {
  if (!contentType) return false;
  return contentType.split(';')[0]!.trim().toLowerCase() === PROTOBUF_MEDIA_TYPE;
}

/** True when the table can decode this kind (so a server can answer 415 up front otherwise). */
export function hasProtobufSchema(apiVersion: string, kind: string): boolean {
  return messageForKind(apiVersion, kind) !== undefined;
}

/**
 * Decodes a whole request body. `defaults` fill in an envelope without kind or
 * apiVersion, as the server's decoder does with the kind the URL implies.
 */
export function decodeK8sProtobuf(body: Uint8Array, defaults?: { apiVersion?: string; kind?: string }): DecodedObject {
  if (body.length === 0) throw new ProtobufDecodeError('ERR_PROTOBUF_MALFORMED', 'empty data');
  if (body.length < 4 || PROTOBUF_MAGIC.some((b, i) => body[i] !== b)) {
    throw new ProtobufDecodeError('ERR_PROTOBUF_PREFIX',
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
  }
  if (body.length === 4) throw new ProtobufDecodeError('ERR_PROTOBUF_MALFORMED', 'empty body');
  const unk = readUnknown(body.subarray(4));
  let apiVersion = unk.apiVersion;
  let kind = unk.kind;
  // copyKindDefaults: a kind from the caller when absent; a version only with its group.
  if (!kind && defaults?.kind) kind = defaults.kind;
  if (!apiVersion && defaults?.apiVersion) apiVersion = defaults.apiVersion;
  if (!kind) throw new ProtobufDecodeError('ERR_PROTOBUF_MISSING_KIND', `Object 'Kind' is missing in protobuf envelope (apiVersion "${apiVersion}")`);
  if (!apiVersion) throw new ProtobufDecodeError('ERR_PROTOBUF_MISSING_KIND', `Object 'apiVersion' is missing in protobuf envelope (kind "${kind}")`);
  if (unk.contentEncoding) {
    throw new ProtobufDecodeError('ERR_PROTOBUF_UNSUPPORTED', `unsupported protobuf envelope contentEncoding "${unk.contentEncoding}"`);
  }
  let object: Record<string, unknown>;
  const ct = unk.contentType.split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/json') {
    object = parseJSONObject(unk.raw, 'runtime.Unknown.raw');
  } else if (ct === '' || ct === PROTOBUF_MEDIA_TYPE) {
    const message = messageForKind(apiVersion, kind);
    if (!message) {
      throw new ProtobufDecodeError('ERR_PROTOBUF_UNKNOWN_KIND', `no protobuf schema for kind "${kind}" in version "${apiVersion}"`);
    }
    object = decodeProtobufMessage(unk.raw, message);
  } else {
    throw new ProtobufDecodeError('ERR_PROTOBUF_UNSUPPORTED', `unsupported protobuf envelope contentType "${unk.contentType}"`);
  }
  return { apiVersion, kind, object: { apiVersion, kind, ...withoutTypeMeta(object) } };
}

/** Decodes one message (no envelope) of the table, e.g. `core.v1.Pod`, to its JSON form. */
export function decodeProtobufMessage(raw: Uint8Array, message: string): Record<string, unknown> {
  if (!protobufSchema().messages[message]) {
    throw new ProtobufDecodeError('ERR_PROTOBUF_UNKNOWN_KIND', `no protobuf schema for message ${message}`);
  }
  return decodeMessage(new Reader(raw, 0, raw.length, message), message, 0, {});
}

function withoutTypeMeta(o: Record<string, unknown>): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

// ---------------------------------------------------------------- the envelope

interface Unknown { apiVersion: string; kind: string; raw: Uint8Array; contentEncoding: string; contentType: string }

function readUnknown(buf: Uint8Array): Unknown {
  const out: Unknown = { apiVersion: '', kind: '', raw: new Uint8Array(0), contentEncoding: '', contentType: '' };
  const r = new Reader(buf, 0, buf.length, 'runtime.Unknown');
  while (!r.done()) {
    const [no, wt] = r.tag();
    if (no >= 1 && no <= 4 && wt !== WT_LEN) r.fail(`wrong wire type ${wt} for field ${no}`);
    if (no === 1) {
      const tm = r.sub('typeMeta');
      while (!tm.done()) {
        const [n, w] = tm.tag();
        if ((n === 1 || n === 2) && w !== WT_LEN) tm.fail(`wrong wire type ${w} for field ${n}`);
        if (n === 1) out.apiVersion = tm.string();
        else if (n === 2) out.kind = tm.string();
        else tm.skip(w);
      }
    } else if (no === 2) out.raw = r.bytes();
    else if (no === 3) out.contentEncoding = r.string();
    else if (no === 4) out.contentType = r.string();
    else r.skip(wt);
  }
  return out;
}

// ---------------------------------------------------------------- the wire

const WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5;
const utf8 = new TextDecoder('utf-8'); // invalid sequences become U+FFFD, as Go's JSON encoder does
const TWO_32 = 4294967296;

class Reader {
  constructor(readonly buf: Uint8Array, public pos: number, readonly end: number, readonly path: string) {}

  done(): boolean { return this.pos >= this.end; }

  fail(what: string): never {
    throw new ProtobufDecodeError('ERR_PROTOBUF_MALFORMED', `protobuf: ${this.path}: ${what}`);
  }

  /** A varint as [low 32 bits, high 32 bits], both unsigned. */
  varint(): [number, number] {
    let lo = 0, hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('unexpected EOF in a varint');
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >>> 4; }
      else hi |= (b & 0x7f) << (7 * i - 32);
      if (!(b & 0x80)) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('varint longer than 10 bytes');
  }

  tag(): [number, number] {
    const [lo, hi] = this.varint();
    const no = lo >>> 3;
    if (hi !== 0 || no === 0) this.fail(`illegal tag ${hi ? 'beyond 2^32' : 0}`);
    return [no, lo & 7];
  }

  length(): number {
    const [lo, hi] = this.varint();
    if (hi !== 0 || lo > this.end - this.pos) this.fail(`length ${hi ? '≥ 2^32' : lo} runs past the end of the data (${this.end - this.pos} bytes left)`);
    return lo;
  }

  bytes(): Uint8Array {
    const n = this.length();
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(): string { return utf8.decode(this.bytes()); }

  sub(field: string): Reader {
    const n = this.length();
    const r = new Reader(this.buf, this.pos, this.pos + n, this.path + '.' + field);
    this.pos += n;
    return r;
  }

  fixed(n: 4 | 8): DataView {
    if (this.end - this.pos < n) this.fail('unexpected EOF in a fixed-size value');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return v;
  }

  skip(wt: number): void {
    switch (wt) {
      case WT_VARINT: this.varint(); return;
      case WT_I64: this.fixed(8); return;
      case WT_LEN: { const n = this.length(); this.pos += n; return; } // not `pos += length()`: that reads pos first
      case WT_I32: this.fixed(4); return;
      default: this.fail(`unsupported wire type ${wt}`);
    }
  }
}

function int64(lo: number, hi: number): number {
  if (hi & 0x80000000) return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
  return hi * TWO_32 + lo; // beyond 2^53 this loses precision, as JSON numbers in JS do
}

function scalarWireType(type: string): number {
  switch (type) {
    case 'string': case 'bytes': return WT_LEN;
    case 'fixed64': case 'sfixed64': case 'double': return WT_I64;
    case 'fixed32': case 'sfixed32': case 'float': return WT_I32;
    default: return WT_VARINT;
  }
}

function readScalar(r: Reader, type: string): unknown {
  switch (type) {
    case 'string': return r.string();
    case 'bytes': return Buffer.from(r.bytes()).toString('base64');
    case 'bool': { const [lo, hi] = r.varint(); return (lo | hi) !== 0; }
    case 'int32': return r.varint()[0] | 0;
    case 'uint32': return r.varint()[0];
    case 'int64': { const [lo, hi] = r.varint(); return int64(lo, hi); }
    case 'uint64': { const [lo, hi] = r.varint(); return hi * TWO_32 + lo; }
    case 'sint32': { const lo = r.varint()[0]; return (lo >>> 1) ^ -(lo & 1); }
    case 'sint64': {
      const [lo, hi] = r.varint();
      const u = (BigInt(hi) << 32n) | BigInt(lo);
      return Number((u >> 1n) ^ -(u & 1n));
    }
    case 'fixed32': return r.fixed(4).getUint32(0, true);
    case 'sfixed32': return r.fixed(4).getInt32(0, true);
    case 'float': return r.fixed(4).getFloat32(0, true);
    case 'fixed64': return Number(r.fixed(8).getBigUint64(0, true));
    case 'sfixed64': return Number(r.fixed(8).getBigInt64(0, true));
    case 'double': return r.fixed(8).getFloat64(0, true);
    default: return r.fail(`no scalar type ${type}`);
  }
}

function isZero(v: unknown): boolean {
  return v === '' || v === 0 || v === false;
}

// ---------------------------------------------------------------- messages

function decodeMessage(r: Reader, message: string, depth: number, into: Record<string, unknown>): Record<string, unknown> {
  if (depth > MAX_DEPTH) r.fail(`messages nested deeper than ${MAX_DEPTH}`);
  const spec = protobufSchema().messages[message];
  if (!spec) return r.fail(`no schema for message ${message}`);
  while (!r.done()) {
    const [no, wt] = r.tag();
    const field = spec[no];
    if (!field) { r.skip(wt); continue; }
    readField(r, field, wt, depth, into);
  }
  for (const [json, , flags] of Object.values(spec)) {
    if (flags?.includes('o') && isZero(into[json])) delete into[json];
  }
  return into;
}

function readField(r: Reader, field: FieldSpec, wt: number, depth: number, out: Record<string, unknown>): void {
  const [json, type, flags = ''] = field;
  const isMessage = !SCALAR_TYPES.has(type);
  if (flags.includes('m')) {
    if (wt !== WT_LEN) r.fail(`wrong wire type ${wt} for map field ${json}`);
    const entry = r.sub(json);
    let key = '';
    let value: unknown;
    while (!entry.done()) {
      const [n, w] = entry.tag();
      if (n === 1) {
        if (w !== WT_LEN) entry.fail(`wrong wire type ${w} for the map key`);
        key = entry.string();
      } else if (n === 2) {
        const want = isMessage ? WT_LEN : scalarWireType(type);
        if (w !== want) entry.fail(`wrong wire type ${w} for the map value`);
        value = isMessage ? readMessageValue(entry.sub(key || 'value'), type, depth + 1) : readScalar(entry, type);
      } else entry.skip(w);
    }
    // A missing value is the zero value of its type (protobuf map semantics).
    if (value === undefined) value = isMessage ? readMessageValue(new Reader(new Uint8Array(0), 0, 0, entry.path), type, depth + 1) : zeroScalar(type);
    const map = (out[json] ??= {}) as Record<string, unknown>;
    // defineProperty, so that a key `__proto__` is a key like any other, as in JSON.parse.
    Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
    return;
  }
  if (isMessage) {
    if (wt !== WT_LEN) r.fail(`wrong wire type ${wt} for field ${json}`);
    const sub = r.sub(json);
    if (flags.includes('i')) {
      decodeMessage(sub, type, depth + 1, out);
    } else if (flags.includes('r')) {
      ((out[json] ??= []) as unknown[]).push(readMessageValue(sub, type, depth + 1));
    } else {
      const prev = out[json];
      // A message field seen twice merges, as proto.Unmarshal does.
      if (!SPECIAL.has(type) && prev && typeof prev === 'object' && !Array.isArray(prev)) {
        decodeMessage(sub, type, depth + 1, prev as Record<string, unknown>);
      } else out[json] = readMessageValue(sub, type, depth + 1);
    }
    return;
  }
  const want = scalarWireType(type);
  if (flags.includes('r')) {
    const list = (out[json] ??= []) as unknown[];
    if (wt === WT_LEN && want !== WT_LEN) {
      const packed = r.sub(json);
      while (!packed.done()) list.push(readScalar(packed, type));
    } else if (wt === want) list.push(readScalar(r, type));
    else r.fail(`wrong wire type ${wt} for field ${json}`);
    return;
  }
  if (wt !== want) r.fail(`wrong wire type ${wt} for field ${json}`);
  out[json] = readScalar(r, type);
}

const SPECIAL = SPECIAL_MESSAGES;

function zeroScalar(type: string): unknown {
  return type === 'string' || type === 'bytes' ? '' : type === 'bool' ? false : 0;
}

function readMessageValue(r: Reader, type: string, depth: number): unknown {
  if (!SPECIAL.has(type)) return decodeMessage(r, type, depth, {});
  const empty = r.done();
  // The special types are flat: read their fields by number.
  const f: Record<number, unknown> = {};
  while (!r.done()) {
    const [no, wt] = r.tag();
    if (wt === WT_VARINT) {
      const [lo, hi] = r.varint();
      f[no] = int64(lo, hi);
    } else if (wt === WT_LEN) f[no] = r.bytes();
    else r.skip(wt);
  }
  const num = (n: number): number => (typeof f[n] === 'number' ? (f[n] as number) : 0);
  const bytes = (n: number): Uint8Array => (f[n] instanceof Uint8Array ? (f[n] as Uint8Array) : new Uint8Array(0));
  switch (type) {
    case 'meta.v1.Time':
      // Time.Unmarshal: no bytes = the zero time (JSON null); nanos are dropped.
      if (empty) return null;
      return guardRange(r, () => formatTime(num(1)));
    case 'meta.v1.MicroTime':
      if (empty) return null;
      return guardRange(r, () => formatMicroTime(num(1), num(2) | 0));
    case 'meta.v1.Duration': {
      const v = f[1];
      return formatDuration(typeof v === 'number' ? BigInt(Math.trunc(v)) : 0n);
    }
    case 'util.intstr.IntOrString': {
      const t = num(1);
      if (t === 0) return num(2) | 0;
      if (t === 1) return utf8.decode(bytes(3));
      return r.fail(`impossible IntOrString.Type ${t}`);
    }
    case 'api.resource.Quantity': {
      const s = utf8.decode(bytes(1));
      return s === '' ? '0' : s;
    }
    case 'meta.v1.FieldsV1': {
      const raw = bytes(1);
      return raw.length === 0 ? null : parseJSONValue(raw, r.path);
    }
    case 'runtime.RawExtension': {
      const raw = bytes(1);
      if (raw.length === 0) return null;
      if (PROTOBUF_MAGIC.every((b, i) => raw[i] === b)) return decodeK8sProtobuf(raw).object;
      return parseJSONValue(raw, r.path);
    }
    default:
      return r.fail(`no decoder for ${type}`);
  }
}

function guardRange(r: Reader, f: () => string): string {
  try { return f(); } catch (e) { return r.fail((e as Error).message); }
}

function parseJSONValue(raw: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(utf8.decode(raw)) as unknown;
  } catch (e) {
    throw new ProtobufDecodeError('ERR_PROTOBUF_MALFORMED', `protobuf: ${path}: embedded JSON: ${(e as Error).message}`);
  }
}

function parseJSONObject(raw: Uint8Array, path: string): Record<string, unknown> {
  const v = parseJSONValue(raw, path);
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new ProtobufDecodeError('ERR_PROTOBUF_MALFORMED', `protobuf: ${path}: embedded JSON is not an object`);
  }
  return v as Record<string, unknown>;
}

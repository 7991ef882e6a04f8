// The inverse of decode.ts, over the same table: JSON object → Kubernetes protobuf,
// laid out as client-go's gogo encoder does (fields in number order, map entries
// sorted by key, repeated scalars unpacked, empty metav1.Time as an empty message).
// Used by tests to build request bodies; the server answers in JSON and needs no
// protobuf encoder.
import { protobufSchema, messageForKind, SCALAR_TYPES, SPECIAL_MESSAGES, type FieldSpec } from './schema.js';
import { parseDuration, parseTime } from './wellknown.js';
import { PROTOBUF_MAGIC } from './decode.js';

export interface EncodeOptions {
  /** Write repeated scalars packed (proto3 style) instead of one tag per element. */
  packed?: boolean;
}

/** `k8s\0` + runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}. */
export function encodeK8sProtobuf(object: Record<string, unknown>, options: EncodeOptions = {}): Uint8Array {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') throw new TypeError('encode: the object needs apiVersion and kind');
  const message = messageForKind(apiVersion, kind);
  if (!message) throw new TypeError(`encode: no protobuf schema for ${apiVersion}/${kind}`);
  const raw = encodeProtobufMessage(object, message, options);
  const w = new Writer();
  w.message(1, concat([field(1, str(apiVersion)), field(2, str(kind))]));
  w.message(2, raw);
  w.message(3, new Uint8Array(0));
  w.message(4, new Uint8Array(0));
  return concat([Uint8Array.from(PROTOBUF_MAGIC), w.finish()]);
}

/** One message of the table, e.g. `core.v1.Pod`, without the envelope. */
export function encodeProtobufMessage(object: Record<string, unknown>, message: string, options: EncodeOptions = {}): Uint8Array {
  return encodeMessage(object, message, options, '');
}

// ---------------------------------------------------------------- wire helpers

class Writer {
  private parts: Uint8Array[] = [];
  raw(b: Uint8Array): void { this.parts.push(b); }
  message(no: number, body: Uint8Array): void { this.parts.push(field(no, body)); }
  finish(): Uint8Array { return concat(this.parts); }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

function varint(v: bigint): Uint8Array {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u > 0n) b |= 0x80;
    out.push(b);
  } while (u > 0n);
  return Uint8Array.from(out);
}

function key(no: number, wt: number): Uint8Array { return varint(BigInt(no * 8 + wt)); }
function str(s: string): Uint8Array { return Buffer.from(s, 'utf8'); }
/** A length-delimited field. */
function field(no: number, body: Uint8Array): Uint8Array { return concat([key(no, 2), varint(BigInt(body.length)), body]); }

function fail(path: string, what: string): never {
  throw new TypeError(`encode: ${path || '<root>'}: ${what}`);
}

function scalarBytes(v: unknown, type: string, path: string): [wt: number, bytes: Uint8Array] {
  const num = (): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (): bigint => {
    const n = num();
    if (!Number.isInteger(n)) fail(path, `expected an integer, got ${n}`);
    return BigInt(n);
  };
  const fixed = (n: 4 | 8, set: (d: DataView) => void): [number, Uint8Array] => {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    return [n === 8 ? 1 : 5, b];
  };
  switch (type) {
    case 'string':
      if (typeof v !== 'string') fail(path, `expected a string, got ${JSON.stringify(v)}`);
      return [2, str(v)];
    case 'bytes':
      if (typeof v !== 'string') fail(path, `expected base64 text, got ${JSON.stringify(v)}`);
      return [2, Buffer.from(v, 'base64')];
    case 'bool':
      if (typeof v !== 'boolean') fail(path, `expected a boolean, got ${JSON.stringify(v)}`);
      return [0, varint(v ? 1n : 0n)];
    case 'int32': case 'int64': case 'uint32': case 'uint64': return [0, varint(int())];
    case 'sint32': case 'sint64': { const i = int(); return [0, varint(i >= 0n ? i * 2n : -i * 2n - 1n)]; }
    case 'fixed32': return fixed(4, (d) => d.setUint32(0, Number(int()), true));
    case 'sfixed32': return fixed(4, (d) => d.setInt32(0, Number(int()), true));
    case 'float': return fixed(4, (d) => d.setFloat32(0, num(), true));
    case 'fixed64': return fixed(8, (d) => d.setBigUint64(0, int(), true));
    case 'sfixed64': return fixed(8, (d) => d.setBigInt64(0, int(), true));
    case 'double': return fixed(8, (d) => d.setFloat64(0, num(), true));
    default: return fail(path, `no scalar type ${type}`);
  }
}

// ---------------------------------------------------------------- messages

function encodeMessage(obj: Record<string, unknown>, message: string, options: EncodeOptions, path: string): Uint8Array {
  const spec = protobufSchema().messages[message];
  if (!spec) fail(path, `no schema for message ${message}`);
  const w = new Writer();
  const numbers = Object.keys(spec).map(Number).sort((a, b) => a - b);
  for (const no of numbers) encodeField(w, no, spec[no]!, obj, options, path);
  return w.finish();
}

function encodeField(w: Writer, no: number, f: FieldSpec, obj: Record<string, unknown>, options: EncodeOptions, path: string): void {
  const [json, type, flags = ''] = f;
  const p = path ? `${path}.${json}` : json;
  const isMessage = !SCALAR_TYPES.has(type);
  if (flags.includes('i')) {
    w.message(no, encodeMessage(obj, type, options, path));
    return;
  }
  const v = obj[json];
  if (v === undefined) return;
  if (v === null) {
    // Go's zero metav1.Time is written as an empty message; other nulls are nil pointers.
    if (type === 'meta.v1.Time' || type === 'meta.v1.MicroTime') w.message(no, new Uint8Array(0));
    return;
  }
  if (flags.includes('m')) {
    if (typeof v !== 'object' || Array.isArray(v)) fail(p, 'expected an object');
    const m = v as Record<string, unknown>;
    for (const k of Object.keys(m).sort()) {
      const value = isMessage ? field(2, encodeValue(m[k], type, options, `${p}[${k}]`)) : tagged(2, scalarBytes(m[k], type, `${p}[${k}]`));
      w.message(no, concat([field(1, str(k)), value]));
    }
    return;
  }
  if (flags.includes('r')) {
    if (!Array.isArray(v)) fail(p, 'expected an array');
    if (!isMessage && options.packed && type !== 'string' && type !== 'bytes') {
      w.message(no, concat(v.map((x, i) => scalarBytes(x, type, `${p}[${i}]`)[1])));
      return;
    }
    v.forEach((x, i) => {
      if (isMessage) w.message(no, encodeValue(x, type, options, `${p}[${i}]`));
      else w.raw(tagged(no, scalarBytes(x, type, `${p}[${i}]`)));
    });
    return;
  }
  if (isMessage) w.message(no, encodeValue(v, type, options, p));
  else w.raw(tagged(no, scalarBytes(v, type, p)));
}

function tagged(no: number, [wt, bytes]: [number, Uint8Array]): Uint8Array {
  return wt === 2 ? field(no, bytes) : concat([key(no, wt), bytes]);
}

function encodeValue(v: unknown, type: string, options: EncodeOptions, path: string): Uint8Array {
  if (!SPECIAL_MESSAGES.has(type)) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) fail(path, `expected an object for ${type}`);
    return encodeMessage(v as Record<string, unknown>, type, options, path);
  }
  const int = (no: number, n: bigint): Uint8Array => concat([key(no, 0), varint(n)]);
  switch (type) {
    case 'meta.v1.Time':
    case 'meta.v1.MicroTime': {
      if (v === null) return new Uint8Array(0);
      const t = typeof v === 'string' ? parseTime(v) : undefined;
      if (!t) fail(path, `expected an RFC 3339 time, got ${JSON.stringify(v)}`);
      const nanos = type === 'meta.v1.MicroTime' ? Math.floor(t.nanos / 1000) * 1000 : 0;
      return concat([int(1, BigInt(t.seconds)), ...(nanos ? [int(2, BigInt(nanos))] : [])]);
    }
    case 'meta.v1.Duration': {
      const ns = typeof v === 'string' ? parseDuration(v) : undefined;
      if (ns === undefined) fail(path, `expected a Go duration, got ${JSON.stringify(v)}`);
      return int(1, ns);
    }
    case 'util.intstr.IntOrString':
      // gogo writes all three fields of the non-pointer struct.
      if (typeof v === 'number') return concat([int(1, 0n), int(2, BigInt(v)), field(3, new Uint8Array(0))]);
      if (typeof v === 'string') return concat([int(1, 1n), int(2, 0n), field(3, str(v))]);
      return fail(path, `expected a number or a string, got ${JSON.stringify(v)}`);
    case 'api.resource.Quantity':
      if (typeof v !== 'string' && typeof v !== 'number') fail(path, `expected a quantity, got ${JSON.stringify(v)}`);
      return field(1, str(String(v)));
    case 'meta.v1.FieldsV1':
    case 'runtime.RawExtension':
      return field(1, str(JSON.stringify(v)));
    default:
      return fail(path, `no encoder for ${type}`);
  }
}

// JSON values and the few Go-flavoured helpers the patch engines need to
// reproduce kube-apiserver's texts (Go's `%v` of maps, encoding/json output).

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepClone<T extends JsonValue | undefined>(v: T): T {
  if (v === undefined || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array<JsonValue>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = deepClone(v[i]);
    return out as T;
  }
  const src = v as JsonObject;
  const out: JsonObject = {};
  for (const k of Object.keys(src)) {
    // JSON.parse makes "__proto__" an own member; an assignment would set the prototype instead.
    if (k === '__proto__') Object.defineProperty(out, k, { value: deepClone(src[k]), enumerable: true, writable: true, configurable: true });
    else out[k] = deepClone(src[k]);
  }
  return out as T;
}

/** Structural equality; object key order does not matter, list order does. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>, bo = b as Record<string, unknown>;
  const ak = Object.keys(ao), bk = Object.keys(bo);
  if (ak.length !== bk.length) return false;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k)) return false;
    if (!deepEqual(ao[k], bo[k])) return false;
  }
  return true;
}

/** Go's `%v` of a decoded JSON value: `map[a:1 b:[x y]]`, strings bare, null `<nil>`. */
export function goFormat(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[' + v.map(goFormat).join(' ') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return 'map[' + Object.keys(o).sort().map((k) => `${k}:${goFormat(o[k])}`).join(' ') + ']';
  }
  return String(v);
}

/** Go's `reflect.TypeOf(x)` name for a decoded JSON value, for mergepatch's ErrBadArgType text. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

/**
 * encoding/json.Marshal: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029
 * escaped. This is how kube-apiserver writes the last-applied annotation.
 */
export function goJSON(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(goJSON).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => goString(k) + ':' + goJSON(v[k])).join(',') + '}';
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

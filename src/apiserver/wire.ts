// JSON texts computed once per object version. The registry encodes what it
// stores anyway; the client form of the same object (with its resourceVersion)
// is that text plus one member, and the response to the write and every
// watcher's event reuse it instead of each serialising the object again (as
// kube-apiserver's watch cache shares one encoding between watchers).
//
// A text is only remembered for a frozen object: it cannot drift from the
// object it was made for.

const texts = new WeakMap<object, string>();

/** Remembers `json` as the JSON of `obj`, which must be frozen (its nested objects too). */
export function rememberJSON(obj: object, json: string): void {
  if (!Object.isFrozen(obj)) throw new Error('rememberJSON: the object must be frozen');
  texts.set(obj, json);
}

/** JSON.stringify(v), or the text remembered for it. */
export function jsonOf(v: unknown): string {
  if (typeof v === 'object' && v !== null) {
    const t = texts.get(v);
    if (t !== undefined) return t;
  }
  return JSON.stringify(v);
}

/**
 * A deep copy of a JSON value, as JSON.parse(JSON.stringify(v)) would give
 * (undefined members dropped, undefined items and non-finite numbers null),
 * every object and array frozen.
 */
export function frozenJSONCopy<T>(v: T): T {
  return freezeCopy(v) as T;
}

/** out[k] = v as an own data property, even for the key "__proto__" (which JSON.parse makes an own property too). */
export function setOwn(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
}

function freezeCopy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return null;
      if (Object.is(v, -0)) return 0;
    }
    return v;
  }
  if (Array.isArray(v)) {
    const n = v.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const x = v[i];
      out[i] = x === undefined || typeof x === 'function' ? null : freezeCopy(x);
    }
    return Object.freeze(out);
  }
  const src = v as Record<string, unknown>;
  if (typeof (src as { toJSON?: unknown }).toJSON === 'function') return freezeCopy(JSON.parse(JSON.stringify(src)));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) {
    const x = src[k];
    if (x === undefined || typeof x === 'function') continue;
    setOwn(out, k, freezeCopy(x));
  }
  return Object.freeze(out);
}

/**
 * Freezes a JSON value in place, deeply, first making it what JSON.parse of
 * its JSON text would give (undefined members deleted, undefined items and
 * non-finite numbers null). Parts already frozen are taken as they are (a
 * frozen part was normalised when it was frozen). For an object nobody else
 * holds: cheaper than frozenJSONCopy, nothing is allocated. A primitive
 * comes back normalised (-0 as 0, a non-finite number as null).
 */
export function freezeJSONInPlace<T>(v: T): T {
  // A primitive cannot change in place: the normalised value is returned (-0 is 0, NaN null).
  if (typeof v !== 'object' || v === null) return freezeCopy(v) as T;
  freezeInPlace(v);
  return v;
}

function freezeInPlace(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x === undefined || typeof x === 'function' || (typeof x === 'number' && !Number.isFinite(x))) v[i] = null;
      else if (Object.is(x, -0)) v[i] = 0;
      else freezeInPlace(x);
    }
    Object.freeze(v);
    return;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const x = o[k];
    if (x === undefined || typeof x === 'function') delete o[k];
    else if (typeof x === 'number' && !Number.isFinite(x)) setOwn(o, k, null);
    else if (Object.is(x, -0)) setOwn(o, k, 0);
    else freezeInPlace(x);
  }
  Object.freeze(o);
}

/** A deep, mutable copy of a JSON value (objects, arrays, primitives; members kept as they are). */
export function copyJSON<T>(v: T): T {
  return copy(v) as T;
}

function copy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const n = v.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = copy(v[i]);
    return out;
  }
  if (!isPlain(v)) return structuredClone(v);
  const src = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) setOwn(out, k, copy(src[k]));
  return out;
}

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
}

// RFC 6902 JSON Patch (application/json-patch+json) with the semantics of
// gopkg.in/evanphx/json-patch.v4, the library kube-apiserver uses:
// - array indices may be negative (counted from the end); `-` appends;
// - `replace` of a missing object key sets it (v4 only checks array bounds);
// - `test` with a null value passes on a missing member;
// - a path that does not start with `/` ignores its first segment.
// Errors are kube-apiserver's: an undecodable patch is 400 BadRequest, more
// than 10000 operations 413, and any failing operation the generic 422 whose
// message does not say which (evanphx's own text is kept as `cause`).
import { errors, type StatusError } from '../../api/errors.js';
import { deepClone, deepEqual, isObject, type JsonObject, type JsonValue } from './json.js';
import { genericInvalid } from './patcherrors.js';

export interface JsonPatchOperation {
  op: string;
  path: string;
  from?: string;
  value?: JsonValue;
}

/** kube-apiserver's maxJSONPatchOperations. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

type Container = JsonObject | JsonValue[];

class OpError extends Error {}

/** Applies `patch` (the decoded request body) to `doc`; returns a new document. */
export function applyJsonPatch(doc: JsonValue, patch: JsonValue): JsonValue {
  const ops = decodePatch(patch);
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw errors.tooLarge(`Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`);
  }
  let cur = deepClone(doc);
  for (const op of ops) {
    try {
      cur = applyOp(cur, op);
    } catch (e) {
      if (e instanceof OpError) throw genericInvalid(e.message);
      throw e;
    }
  }
  return cur;
}

/** Go's json.Unmarshal into jsonpatch.Patch ([]map[string]*json.RawMessage). */
function decodePatch(patch: JsonValue): (JsonObject | null)[] {
  if (patch === null) return [];
  if (!Array.isArray(patch)) throw decodeError(patch, 'jsonpatch.Patch');
  for (const op of patch) {
    if (op !== null && !isObject(op)) throw decodeError(op, 'jsonpatch.Operation');
  }
  return patch as (JsonObject | null)[];
}

function decodeError(v: JsonValue, into: string): StatusError {
  const t = Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;
  return errors.badRequest(`json: cannot unmarshal ${t} into Go value of type ${into}`);
}

function str(op: JsonObject | null, k: string): string | undefined {
  const v = op?.[k];
  return typeof v === 'string' ? v : undefined;
}

/** `value` of an operation; JSON null and absence are the same nil node in evanphx. */
function value(op: JsonObject | null): JsonValue {
  const v = op?.value;
  return v === undefined ? null : deepClone(v);
}

function applyOp(doc: JsonValue, op: JsonObject | null): JsonValue {
  const kind = str(op, 'op') ?? 'unknown';
  const path = (): string => {
    const p = str(op, 'path');
    if (p === undefined) throw new OpError('operation missing path field: missing value');
    return p;
  };
  const from = (): string => {
    const p = str(op, 'from');
    if (p === undefined) throw new OpError('operation, missing from field: missing value');
    return p;
  };
  switch (kind) {
    case 'add': {
      const p = path();
      const [con, key] = findObject(doc, p);
      if (!con) throw new OpError(`add operation does not apply: doc is missing path: "${p}": missing value`);
      add(con, key, value(op));
      return doc;
    }
    case 'remove': {
      const p = path();
      const [con, key] = findObject(doc, p);
      if (!con) throw new OpError(`remove operation does not apply: doc is missing path: "${p}": missing value`);
      remove(con, key);
      return doc;
    }
    case 'replace': {
      const p = path();
      if (p === '') {
        const v = value(op);
        if (typeof v !== 'object' || v === null) throw new OpError('replace operation value must be object or array');
        return v;
      }
      const [con, key] = findObject(doc, p);
      if (!con) throw new OpError(`replace operation does not apply: doc is missing path: ${p}: missing value`);
      if (Array.isArray(con)) {
        const i = arrayIndex(key, con.length);
        con[i] = value(op);
      } else {
        con[key] = value(op);
      }
      return doc;
    }
    case 'move': {
      const f = from();
      const [src, srcKey] = findObject(doc, f);
      if (!src) throw new OpError(`move operation does not apply: doc is missing from path: ${f}: missing value`);
      const v = get(src, srcKey);
      remove(src, srcKey);
      const p = path();
      const [dst, dstKey] = findObject(doc, p);
      if (!dst) throw new OpError(`move operation does not apply: doc is missing destination path: ${p}: missing value`);
      add(dst, dstKey, v ?? null);
      return doc;
    }
    case 'copy': {
      const f = from();
      const [src, srcKey] = findObject(doc, f);
      if (!src) throw new OpError(`copy operation does not apply: doc is missing from path: ${f}: missing value`);
      const v = get(src, srcKey);
      const p = path();
      const [dst, dstKey] = findObject(doc, p);
      if (!dst) throw new OpError(`copy operation does not apply: doc is missing destination path: ${p}: missing value`);
      add(dst, dstKey, deepClone(v ?? null));
      return doc;
    }
    case 'test': {
      const p = path();
      const want = op?.value ?? null;
      if (p === '') {
        if (!deepEqual(doc, want)) throw new OpError(`testing value ${p} failed: test failed`);
        return doc;
      }
      const [con, key] = findObject(doc, p);
      if (!con) throw new OpError(`test operation does not apply: is missing path: ${p}: missing value`);
      const got = get(con, key) ?? null;
      if (!deepEqual(got, want)) throw new OpError(`testing value ${p} failed: test failed`);
      return doc;
    }
    default:
      throw new OpError(`Unexpected kind: ${kind}`);
  }
}

/** RFC 6901 unescaping in one pass, so `~01` is `~1`. */
function decodeKey(k: string): string {
  return k.replace(/~[01]/g, (m) => (m === '~1' ? '/' : '~'));
}

/** evanphx's findObject: walk all segments but the last; the last is the key in the returned container. */
function findObject(doc: JsonValue, path: string): [Container | undefined, string] {
  if (typeof doc !== 'object' || doc === null) return [undefined, ''];
  const split = path.split('/');
  if (split.length < 2) return [undefined, ''];
  let cur: Container = doc;
  for (const part of split.slice(1, -1)) {
    let next: JsonValue | undefined;
    try { next = get(cur, decodeKey(part)); } catch { return [undefined, '']; }
    if (typeof next !== 'object' || next === null) return [undefined, ''];
    cur = next;
  }
  return [cur, decodeKey(split[split.length - 1])];
}

/** Go's strconv.Atoi: optional sign, decimal digits. */
function atoi(key: string): number | undefined {
  return /^[+-]?\d+$/.test(key) ? parseInt(key, 10) : undefined;
}

/** An index into a list of `size` items (negative counts from the end), checked as partialArray does. */
function arrayIndex(key: string, size: number): number {
  const idx = atoi(key);
  if (idx === undefined) throw new OpError(`strconv.Atoi: parsing ${JSON.stringify(key)}: invalid syntax`);
  if (idx >= size) throw new OpError(`Unable to access invalid index: ${idx}: invalid index referenced`);
  if (idx < 0) {
    if (idx < -size) throw new OpError(`Unable to access invalid index: ${idx}: invalid index referenced`);
    return idx + size;
  }
  return idx;
}

function get(con: Container, key: string): JsonValue | undefined {
  if (Array.isArray(con)) return con[arrayIndex(key, con.length)];
  const v = Object.prototype.hasOwnProperty.call(con, key) ? con[key] : undefined;
  return v === null ? undefined : v;
}

function add(con: Container, key: string, v: JsonValue): void {
  if (!Array.isArray(con)) { con[key] = v; return; }
  if (key === '-') { con.push(v); return; }
  if (atoi(key) === undefined) throw new OpError(`value was not a proper array index: '${key}'`);
  con.splice(arrayIndex(key, con.length + 1), 0, v);
}

function remove(con: Container, key: string): void {
  if (Array.isArray(con)) {
    con.splice(arrayIndex(key, con.length), 1);
    return;
  }
  if (!Object.prototype.hasOwnProperty.call(con, key)) throw new OpError(`Unable to remove nonexistent key: ${key}: missing value`);
  delete con[key];
}

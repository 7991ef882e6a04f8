// RFC 7386 JSON merge patch (application/merge-patch+json), as
// evanphx/json-patch's MergePatch does it for kube-apiserver: null deletes,
// objects merge recursively, anything else (lists included) replaces; nulls
// inside newly added values are pruned. Used by `kubectl label`/`annotate`,
// `kubectl patch --type=merge`, and for every type without patch metadata.
import { errors } from '../../api/errors.js';
import { deepClone, deepEqual, isObject, type JsonObject, type JsonValue } from './json.js';
import { unknownError } from './patcherrors.js';

/** Applies a merge patch; returns a new document. */
export function applyMergePatch(doc: JsonValue, patch: JsonValue): JsonValue {
  // evanphx: a patch that is neither an object nor an array is errBadJSONPatch,
  // which kube-apiserver turns into 400 "Invalid JSON Patch".
  if (patch === null || typeof patch !== 'object') throw errors.badRequest('Invalid JSON Patch');
  if (doc === null || doc === undefined) throw unknownError('Invalid JSON Document');
  if (Array.isArray(patch)) return pruneNulls(deepClone(patch));
  if (!isObject(doc)) return pruneNulls(deepClone(patch));
  const out = deepClone(doc);
  mergeInto(out, patch);
  return out;
}

function mergeInto(doc: JsonObject, patch: JsonObject): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) { delete doc[k]; continue; }
    const cur = doc[k];
    if (cur === undefined || cur === null || !isObject(cur)) {
      doc[k] = pruneNulls(deepClone(v));
    } else if (!isObject(v)) {
      doc[k] = deepClone(v);
    } else {
      mergeInto(cur, v);
    }
  }
}

/** Removes null members of objects, recursively (null list items stay, as in evanphx). */
function pruneNulls<T extends JsonValue>(v: T): T {
  if (Array.isArray(v)) {
    for (const x of v) if (x !== null) pruneNulls(x);
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else pruneNulls(x);
    }
  }
  return v;
}

/**
 * The merge patch that turns `original` into `modified` (evanphx
 * CreateMergePatch): changed and added members, removed ones as null,
 * lists whole. For objects; any other pair yields `modified`.
 */
export function createMergePatch(original: JsonValue, modified: JsonValue): JsonValue {
  if (!isObject(original) || !isObject(modified)) return deepClone(modified);
  return diff(original, modified);
}

function kindOf(v: JsonValue): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function diff(a: JsonObject, b: JsonObject): JsonObject {
  const into: JsonObject = {};
  for (const [k, bv] of Object.entries(b)) {
    if (!Object.prototype.hasOwnProperty.call(a, k)) { into[k] = deepClone(bv); continue; }
    const av = a[k];
    if (kindOf(av) !== kindOf(bv)) { into[k] = deepClone(bv); continue; }
    if (isObject(av) && isObject(bv)) {
      const d = diff(av, bv);
      if (Object.keys(d).length > 0) into[k] = d;
    } else if (!deepEqual(av, bv)) {
      into[k] = deepClone(bv);
    }
  }
  for (const k of Object.keys(a)) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) into[k] = null;
  }
  return into;
}

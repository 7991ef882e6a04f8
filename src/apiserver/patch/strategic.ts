// Strategic merge patch (application/strategic-merge-patch+json), the
// server half of k8s.io/apimachinery/pkg/util/strategicpatch
// (StrategicMergeMapPatch: MergeParallelList and IgnoreUnmatchedNulls on).
//
// What differs from JSON merge patch comes from the schema: a list whose
// property has x-kubernetes-patch-strategy "merge" is merged item by item on
// its x-kubernetes-patch-merge-key (a list of scalars is merged as a set), and
// the patch may carry directives:
//   $patch: replace | delete        on a map (or on a list item: delete by key, replace the list)
//   $retainKeys: [..]               keys of the original map to keep, the rest is cleared
//   $setElementOrder/<list>: [..]   the order of the resulting list
//   $deleteFromPrimitiveList/<list> values to drop from a merged list of scalars
// Everything else behaves like JSON merge patch: null deletes, maps merge,
// other lists are replaced.
//
// The order of a merged list follows kube exactly (mergeSortedSlice): items
// named by the patch (or by $setElementOrder) take the patch's order, items
// only on the server keep theirs, and items new to the server come first
// unless $setElementOrder places them. kubectl apply always sends
// $setElementOrder, so `kubectl apply` keeps the manifest's order.
import { errors, type StatusError } from '../../api/errors.js';
import { deepClone, goFormat, goTypeName, isObject, type JsonObject, type JsonValue } from './json.js';
import { genericInvalid, unknownError } from './patcherrors.js';
import type { PatchSchema } from './schema.js';

const directiveMarker = '$patch';
const retainKeysDirective = '$retainKeys';
const deleteFromPrimitiveListPrefix = '$deleteFromPrimitiveList';
const setElementOrderPrefix = '$setElementOrder';

type Schema = PatchSchema | undefined;
type Kind = 'map' | 'scalar';

// mergepatch's error values. The first group are 400s, lists of lists a bare
// 422 (interpretStrategicMergePatchError); the rest are plain Go errors (500).
const badPatchFormatForPrimitiveList = (): StatusError => errors.badRequest('invalid patch format of primitive list');
const badPatchFormatForRetainKeys = (): StatusError => errors.badRequest('invalid patch format of retainKeys');
const badPatchFormatForSetElementOrderList = (): StatusError => errors.badRequest('invalid patch format of setElementOrder list');
const noListOfLists = (): StatusError => genericInvalid('lists of lists are not supported');
const noMergeKey = (m: unknown, k: string): StatusError =>
  unknownError(`map: ${goFormat(m)} does not contain declared merge key: ${k}`);
const badArgType = (expected: string, actual: unknown): StatusError =>
  unknownError(`expected a ${expected}, but received a ${goTypeName(actual)}`);
const badPatchType = (t: unknown, m: unknown): StatusError =>
  unknownError(`unknown patch type: ${goFormat(t)} in map: ${goFormat(m)}`);
const SLICE = '[]interface {}', MAP = 'map[string]interface {}';

const has = (o: JsonObject, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Applies a strategic merge patch to `original` (neither is modified).
 * `schema` is the patch metadata of the object's type; fields it does not
 * describe are merged as JSON merge patch.
 */
export function strategicMergePatch(original: JsonObject, patch: JsonValue, schema: PatchSchema): JsonObject {
  if (patch === null) return deepClone(original);
  if (!isObject(patch)) {
    const t = Array.isArray(patch) ? 'array' : typeof patch === 'boolean' ? 'bool' : typeof patch;
    throw errors.badRequest(`json: cannot unmarshal ${t} into Go value of type map[string]interface {}`);
  }
  const result = mergeMap(deepClone(original), deepClone(patch), schema);
  dropDirectivesAndNulls(result);
  return result;
}

/**
 * kube decodes the patched map into the typed object, which drops members it
 * does not know (a directive left inside a newly added value) and turns null
 * into an absent field; a schemaless store would keep both, so drop them here.
 */
function dropDirectivesAndNulls(v: JsonValue): void {
  if (Array.isArray(v)) { for (const x of v) dropDirectivesAndNulls(x); return; }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (x === null || k === directiveMarker || k === retainKeysDirective ||
        k.startsWith(setElementOrderPrefix + '/') || k.startsWith(deleteFromPrimitiveListPrefix + '/')) {
      delete v[k];
    } else {
      dropDirectivesAndNulls(x);
    }
  }
}

/** Go's reflect type of a decoded value, as mergeMap compares original and patch types. */
function goType(v: JsonValue): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  return typeof v;
}

/** extractRetainKeysPatchStrategy: the strategy besides retainKeys. */
function patchStrategy(s: Schema): string {
  const st = s?.patchStrategies ?? [];
  switch (st.length) {
    case 0: return '';
    case 1: return st[0] === 'retainKeys' ? '' : st[0];
    case 2:
      if (st[0] === 'retainKeys') return st[1];
      if (st[1] === 'retainKeys') return st[0];
      break;
  }
  throw unknownError(`unexpected patch strategy: [${st.join(' ')}]`);
}

function mergeMap(original: JsonObject | undefined, patch: JsonObject, schema: Schema): JsonObject {
  if (has(patch, directiveMarker)) return handleDirectiveInMergeMap(patch[directiveMarker], patch);
  const orig = original ?? {};
  applyRetainKeysDirective(orig, patch);
  mergePatchIntoOriginal(orig, patch, schema);

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let k = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(deleteFromPrimitiveListPrefix)) {
      k = extractKey(rawKey, deleteFromPrimitiveListPrefix);
      isDeleteList = true;
    }
    // IgnoreUnmatchedNulls: null deletes, and is not kept when there was nothing to delete.
    if (patchV === null) { delete orig[k]; continue; }

    if (!has(orig, k) || goType(orig[k]) !== goType(patchV)) {
      if (!isDeleteList) {
        discardNullValues(patchV);
        const [v, keep] = removeDirectives(patchV);
        if (keep) orig[k] = v as JsonValue; else delete orig[k];
      }
      continue;
    }
    const ov = orig[k];
    if (isObject(ov)) {
      const sub = schema?.field(k);
      orig[k] = mergeMapHandler(ov, patchV as JsonObject, sub, patchStrategy(sub));
    } else if (Array.isArray(ov)) {
      const sub = schema?.field(k);
      orig[k] = mergeSliceHandler(ov, patchV as JsonValue[], sub?.items(), patchStrategy(sub), sub?.patchMergeKey ?? '', isDeleteList);
    } else {
      const [v, keep] = removeDirectives(patchV);
      if (keep) orig[k] = v as JsonValue; else delete orig[k];
    }
  }
  return orig;
}

function handleDirectiveInMergeMap(directive: JsonValue, patch: JsonObject): JsonObject {
  if (directive === 'replace') {
    delete patch[directiveMarker];
    return patch;
  }
  if (directive === 'delete') return {};
  throw badPatchType(directive, patch);
}

function mergeMapHandler(original: JsonObject, patch: JsonObject, schema: Schema, strategy: string): JsonObject {
  return strategy === 'replace' ? patch : mergeMap(original, patch, schema);
}

function mergeSliceHandler(original: JsonValue[], patch: JsonValue[], items: Schema, strategy: string,
  mergeKey: string, isDeleteList: boolean): JsonValue[] {
  // Delete lists apply whatever the field's strategy is.
  if (strategy === 'merge' || isDeleteList) return mergeSlice(original, patch, items, mergeKey, isDeleteList);
  return patch;
}

function extractKey(s: string, prefix: string): string {
  const i = s.indexOf('/');
  if (i < 0 || s.slice(0, i) !== prefix) {
    if (prefix === deleteFromPrimitiveListPrefix) throw badPatchFormatForPrimitiveList();
    throw badPatchFormatForSetElementOrderList();
  }
  return s.slice(i + 1);
}

/** Drops null members from a value that is added as a whole (IgnoreUnmatchedNulls). */
function discardNullValues(v: JsonValue): void {
  if (Array.isArray(v)) { for (const x of v) discardNullValues(x); return; }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (x === null) delete v[k]; else discardNullValues(x);
  }
}

/** Strips `$patch` maps out of a value taken as is; [value, keep]. */
function removeDirectives(v: JsonValue): [JsonValue | undefined, boolean] {
  if (v === null) return [v, true];
  if (Array.isArray(v)) {
    const res: JsonValue[] = [];
    for (const x of v) {
      const [nv, keep] = removeDirectives(x);
      if (keep) res.push(nv as JsonValue);
    }
    return [res, true];
  }
  if (isObject(v)) {
    if (has(v, directiveMarker)) return [undefined, false];
    for (const [k, x] of Object.entries(v)) {
      const [nv, keep] = removeDirectives(x);
      if (keep) v[k] = nv as JsonValue; else delete v[k];
    }
    return [v, true];
  }
  return [v, true];
}

function applyRetainKeysDirective(original: JsonObject, patch: JsonObject): void {
  if (!has(patch, retainKeysDirective)) return;
  const list = patch[retainKeysDirective];
  delete patch[retainKeysDirective];
  if (!Array.isArray(list)) throw badPatchFormatForRetainKeys();
  const keep = new Set<JsonValue>(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(deleteFromPrimitiveListPrefix) || k.startsWith(setElementOrderPrefix)) continue;
    if (!keep.has(k)) throw badPatchFormatForRetainKeys();
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/** Merges each list that has a $setElementOrder directive, then orders it. */
function mergePatchIntoOriginal(original: JsonObject, patch: JsonObject, schema: Schema): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(setElementOrderPrefix)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw badArgType(SLICE, order);
    const originalKey = extractKey(key, setElementOrderPrefix);
    const foundOriginal = has(original, originalKey), foundPatch = has(patch, originalKey);
    const originalList = original[originalKey], patchList = patch[originalKey];
    if (foundOriginal && !Array.isArray(originalList)) throw badArgType(SLICE, originalList);
    if (foundPatch && !Array.isArray(patchList)) throw badArgType(SLICE, patchList);
    const origValue = (foundOriginal ? originalList : []) as JsonValue[];
    const patchValue = (foundPatch ? patchList : []) as JsonValue[];

    const sub = schema?.field(originalKey);
    const strategy = patchStrategy(sub);
    const mergeKey = sub?.patchMergeKey ?? '';
    validatePatchWithSetOrderList(patchValue, order, mergeKey);

    let merged: JsonValue[];
    if (foundOriginal && !foundPatch) merged = origValue;
    else if (!foundOriginal && foundPatch) merged = removeDirectives(patchValue)[0] as JsonValue[];
    else if (foundOriginal && foundPatch) merged = mergeSliceHandler(origValue, patchValue, sub?.items(), strategy, mergeKey, false);
    else continue;

    const [patchItems, serverOnly] = mergeKey === ''
      ? partitionPrimitivesByPresentInList(merged, order)
      : partitionMapsByPresentInList(merged, order, mergeKey);
    const kind = sliceElementType(origValue, patchValue);
    original[originalKey] = normalizeElementOrder(patchItems, serverOnly, order, origValue, mergeKey, kind);
    delete patch[originalKey];
  }
}

/** The items of the patch list (deletions aside) must appear in $setElementOrder, in the same order. */
function validatePatchWithSetOrderList(patchList: JsonValue[], order: JsonValue[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const nonDelete = mergeKey ? extractToDeleteItems(patchList)[0] : patchList;
  let p = 0, s = 0;
  while (p < nonDelete.length && s < order.length) {
    if (isObject(nonDelete[p]) && has(nonDelete[p] as JsonObject, directiveMarker)) { p++; continue; }
    if (mergeKeyValueEqual(nonDelete[p], order[s], mergeKey)) p++;
    s++;
  }
  if (p < nonDelete.length && s >= order.length) {
    throw unknownError(`the order in patch list:\n${goFormat(patchList)}\n doesn't match ${setElementOrderPrefix} list:\n${goFormat(order)}`);
  }
}

function mergeKeyValueEqual(left: JsonValue, right: JsonValue, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isObject(left)) throw badArgType(MAP, left);
  if (!isObject(right)) throw badArgType(MAP, right);
  if (!has(left, mergeKey)) throw noMergeKey(left, mergeKey);
  if (!has(right, mergeKey)) throw noMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

function mergeSlice(original: JsonValue[], patch: JsonValue[], items: Schema, mergeKey: string, isDeleteList: boolean): JsonValue[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = sliceElementType(original, patch);
  let merged: JsonValue[];
  let orig = original, pat = patch;
  if (kind !== 'map') {
    if (isDeleteList) return deleteFromSlice(original, patch);
    merged = deduplicateScalars([...original, ...patch]);
  } else {
    if (mergeKey === '') throw unknownError(`cannot merge lists without merge key for ${items?.name ?? ''}`);
    [orig, pat] = mergeSliceWithSpecialElements(original, patch, mergeKey);
    merged = mergeSliceWithoutSpecialElements(orig, pat, mergeKey, items);
  }
  const [patchItems, serverOnly] = mergeKey === ''
    ? partitionPrimitivesByPresentInList(merged, pat)
    : partitionMapsByPresentInList(merged, pat, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, pat, orig, mergeKey, kind);
}

/** Applies `$patch: delete` and `$patch: replace` items; returns [original, patch without them]. */
function mergeSliceWithSpecialElements(original: JsonValue[], patch: JsonValue[], mergeKey: string): [JsonValue[], JsonValue[]] {
  const rest: JsonValue[] = [];
  let replace = false;
  let orig = original;
  for (const v of patch) {
    const m = v as JsonObject;
    if (!has(m, directiveMarker)) { rest.push(v); continue; }
    switch (m[directiveMarker]) {
      case 'delete':
        if (!has(m, mergeKey)) throw noMergeKey(m, mergeKey);
        orig = deleteMatchingEntries(orig, mergeKey, m[mergeKey]);
        break;
      case 'replace':
        replace = true;
        break;
      case 'merge':
        throw unknownError('merging lists cannot yet be specified in the patch');
      default:
        throw badPatchType(m[directiveMarker], m);
    }
  }
  return replace ? [rest, []] : [orig, rest];
}

function deleteMatchingEntries(original: JsonValue[], mergeKey: string, value: JsonValue): JsonValue[] {
  original.forEach((v, i) => { if (!isObject(v)) throw unknownError(`value for key ${i} is not a map`); });
  return original.filter((v) => !(has(v as JsonObject, mergeKey) && (v as JsonObject)[mergeKey] === value));
}

function findByKey(list: JsonValue[], mergeKey: string, value: JsonValue): number {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isObject(v)) throw unknownError(`value for key ${i} is not a map`);
    if (has(v, mergeKey) && v[mergeKey] === value) return i;
  }
  return -1;
}

function mergeSliceWithoutSpecialElements(original: JsonValue[], patch: JsonValue[], mergeKey: string, items: Schema): JsonValue[] {
  const out = original.slice();
  for (const v of patch) {
    const m = v as JsonObject;
    if (!has(m, mergeKey)) throw noMergeKey(m, mergeKey);
    const i = findByKey(out, mergeKey, m[mergeKey]);
    if (i >= 0) out[i] = mergeMap(out[i] as JsonObject, m, items);
    else out.push(v);
  }
  return out;
}

function deleteFromSlice(current: JsonValue[], toDelete: JsonValue[]): JsonValue[] {
  const del = new Set(toDelete);
  return current.filter((v) => !del.has(v));
}

/** apimachinery's in-place deduplication (the last element fills each hole). */
function deduplicateScalars(s: JsonValue[]): JsonValue[] {
  let length = s.length - 1;
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (s[i] === s[j]) {
        s[j] = s[length];
        s.length = length;
        length--;
        j--;
      }
    }
  }
  return s;
}

/** The element type shared by the slices; lists of lists and mixed lists are errors. */
function sliceElementType(...slices: JsonValue[][]): Kind {
  let prev: string | undefined;
  for (const s of slices) {
    for (const v of s) {
      const t = goType(v);
      if (prev === undefined) {
        prev = t;
        if (t === 'slice') throw noListOfLists();
      } else if (prev !== t) {
        throw unknownError(`list element types are not identical: [${slices.map(goFormat).join(' ')}]`);
      }
    }
  }
  if (prev === undefined) throw unknownError('no elements in any of the given slices');
  return prev === 'map' ? 'map' : 'scalar';
}

function partitionPrimitivesByPresentInList(original: JsonValue[], by: JsonValue[]): [JsonValue[], JsonValue[]] {
  const inPatch = new Set(by);
  const patch: JsonValue[] = [], serverOnly: JsonValue[] = [];
  for (const v of original) (inPatch.has(v) ? patch : serverOnly).push(v);
  return [patch, serverOnly];
}

function partitionMapsByPresentInList(original: JsonValue[], by: JsonValue[], mergeKey: string): [JsonValue[], JsonValue[]] {
  const patch: JsonValue[] = [], serverOnly: JsonValue[] = [];
  for (const v of original) {
    if (!isObject(v)) throw badArgType(MAP, v);
    if (!has(v, mergeKey)) throw noMergeKey(v, mergeKey);
    (findByKey(by, mergeKey, v[mergeKey]) >= 0 ? patch : serverOnly).push(v);
  }
  return [patch, serverOnly];
}

function extractToDeleteItems(l: JsonValue[]): [JsonValue[], JsonValue[]] {
  const nonDelete: JsonValue[] = [], toDelete: JsonValue[] = [];
  for (const v of l) {
    if (!isObject(v)) throw badArgType(MAP, v);
    (v[directiveMarker] === 'delete' ? toDelete : nonDelete).push(v);
  }
  return [nonDelete, toDelete];
}

/** Index of `val` in `l`, by merge key for maps and by value otherwise. */
function indexIn(l: JsonValue[], val: JsonValue, mergeKey: string, kind: Kind): number {
  const key = (x: JsonValue): JsonValue | undefined => (kind === 'map' ? (isObject(x) ? x[mergeKey] : undefined) : x);
  const want = key(val);
  for (let i = 0; i < l.length; i++) if (key(l[i]) === want) return i;
  return -1;
}

function normalizeElementOrder(patch: JsonValue[], serverOnly: JsonValue[], patchOrder: JsonValue[],
  serverOrder: JsonValue[], mergeKey: string, kind: Kind): JsonValue[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

/** Sorts `toSort` by `order` (sort.SliceStable with apimachinery's comparator); deletions go last. */
function normalizeSliceOrder(toSort: JsonValue[], order: JsonValue[], mergeKey: string, kind: Kind): JsonValue[] {
  let items = toSort.slice();
  let toDelete: JsonValue[] = [];
  if (kind === 'map') {
    for (const l of [items, order]) {
      for (const v of l) {
        if (!isObject(v)) throw badArgType(MAP, v);
        if (!has(v, mergeKey)) throw noMergeKey(v, mergeKey);
      }
    }
    [items, toDelete] = extractToDeleteItems(items);
  }
  const less = (a: JsonValue, b: JsonValue): boolean => {
    const ia = indexIn(order, a, mergeKey, kind);
    if (ia >= 0) {
      const ib = indexIn(order, b, mergeKey, kind);
      if (ib >= 0) return ia < ib;
    }
    return true;
  };
  // Go's insertion sort, which sort.SliceStable runs on short slices: with
  // this comparator the result depends on the algorithm, so use the same one.
  for (let i = 1; i < items.length; i++) {
    for (let j = i; j > 0 && less(items[j], items[j - 1]); j--) {
      [items[j], items[j - 1]] = [items[j - 1], items[j]];
    }
  }
  return [...items, ...toDelete];
}

/**
 * Inserts the server-only items (`left`) among the patch items (`right`):
 * a server-only item goes before a patch item only when both are in the
 * server's list and it came first there; otherwise the patch item goes first.
 */
function mergeSortedSlice(left: JsonValue[], right: JsonValue[], serverOrder: JsonValue[], mergeKey: string, kind: Kind): JsonValue[] {
  const out: JsonValue[] = [];
  let i = 0, j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) { out.push(right[j++]); continue; }
    if (j >= right.length) { out.push(left[i++]); continue; }
    const li = indexIn(serverOrder, left[i], mergeKey, kind);
    const ri = indexIn(serverOrder, right[j], mergeKey, kind);
    if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
    else out.push(right[j++]);
  }
  return out;
}

// Values walked with their schema, the operations structured-merge-diff's
// typed package provides to server-side apply: the field set of a value,
// merging an applied configuration into a live object, comparing two
// objects, and removing a field set from a value.
//
// How a node is treated (schemaconv's rules):
// - a list is atomic unless x-kubernetes-list-type says set/map, or (without
//   list-type) its patch strategy is merge: then it is a map keyed by the merge
//   key, or a set of scalars without one;
// - an object is granular (fields/keys owned one by one) unless
//   x-kubernetes-map-type is atomic;
// - what the schema does not describe is deduced from the value: objects are
//   granular maps, lists atomic.
import { deepClone, deepEqual, isObject, type JsonObject, type JsonValue } from './json.js';
import { FieldSet, fieldElement, keyElement, parsePathElement, pathString, valueElement, type Path, type PathElement } from './fieldpath.js';
import type { PatchSchema } from './schema.js';

type Schema = PatchSchema | undefined;

type Atom =
  | { kind: 'scalar' }
  | { kind: 'list'; atomic: boolean; keys: readonly string[] | undefined; items: Schema }
  | { kind: 'map'; atomic: boolean; struct: boolean; schema: Schema };

/** A value that does not fit its schema, in structured-merge-diff's words. */
export class TypedError extends Error {}

// Atoms are read, never changed: the deduced ones are constants and a
// schema's own atom is made once.
const SCALAR: Atom = Object.freeze({ kind: 'scalar' });
const DEDUCED_LIST: Atom = Object.freeze({ kind: 'list', atomic: true, keys: undefined, items: undefined });
const DEDUCED_MAP: Atom = Object.freeze({ kind: 'map', atomic: false, struct: false, schema: undefined });

function deduce(v: JsonValue | undefined): Atom {
  if (Array.isArray(v)) return DEDUCED_LIST;
  if (isObject(v)) return DEDUCED_MAP;
  return SCALAR;
}

const schemaAtoms = new WeakMap<PatchSchema, Atom>();

function schemaAtom(s: PatchSchema): Atom {
  let a = schemaAtoms.get(s);
  if (a) return a;
  if (s.type === 'array') {
    const lt = s.listType;
    if (lt === 'atomic') a = { kind: 'list', atomic: true, keys: undefined, items: s.items() };
    else if (lt === 'set') a = { kind: 'list', atomic: false, keys: undefined, items: s.items() };
    else if (lt === 'map') a = { kind: 'list', atomic: false, keys: s.listMapKeys ?? [], items: s.items() };
    else if (s.patchStrategies.includes('merge')) {
      a = { kind: 'list', atomic: false, keys: s.patchMergeKey ? [s.patchMergeKey] : undefined, items: s.items() };
    } else a = { kind: 'list', atomic: true, keys: undefined, items: s.items() };
  } else if (s.type === 'object') {
    a = { kind: 'map', atomic: s.mapType === 'atomic', struct: s.isStruct, schema: s };
  } else {
    a = SCALAR;
  }
  schemaAtoms.set(s, a);
  return a;
}

function atomOf(s: Schema, v: JsonValue | undefined): Atom {
  if (!s || s.type === 'unknown') return deduce(v);
  const absent = v === undefined || v === null;
  switch (s.type) {
    case 'scalar':
      return absent || (!Array.isArray(v) && !isObject(v)) ? SCALAR : deduce(v);
    case 'array':
      if (!absent && !Array.isArray(v)) return deduce(v);
      return schemaAtom(s);
    case 'object':
      if (!absent && !isObject(v)) return deduce(v);
      return schemaAtom(s);
  }
}

const mapChild = (a: Atom & { kind: 'map' }, key: string): Schema => a.schema?.field(key);
const isDeclared = (a: Atom & { kind: 'map' }, key: string): boolean => a.schema?.hasField(key) ?? false;

/** The path element of a list item: `k:{…}` by its keys (defaults filling missing ones) or `v:…` for sets. */
function itemElement(a: Atom & { kind: 'list' }, item: JsonValue, index: number): PathElement {
  if (a.keys && a.keys.length > 0) {
    if (item === null) throw new TypedError(`element ${index}: associative list with keys may not have a null element`);
    if (!isObject(item)) throw new TypedError(`element ${index}: associative list with keys may not have non-map elements`);
    const fields: Record<string, JsonValue> = {};
    for (const k of a.keys) {
      if (Object.prototype.hasOwnProperty.call(item, k)) { fields[k] = item[k]; continue; }
      const def = a.items?.field(k)?.default;
      if (def === undefined) {
        throw new TypedError(`element ${index}: associative list with keys has an element that omits key field ${JSON.stringify(k)} (and doesn't have default value)`);
      }
      fields[k] = def;
    }
    return keyElement(fields);
  }
  if (isObject(item)) throw new TypedError(`element ${index}: associative list without keys has an element that's a map type`);
  if (Array.isArray(item)) throw new TypedError(`element ${index}: not supported: associative list with lists as elements`);
  if (item === null) throw new TypedError(`element ${index}: associative list without keys has an element that's an explicit null`);
  return valueElement(item);
}

function fail(path: Path, e: unknown): never {
  if (e instanceof TypedError && !e.message.startsWith('.')) throw new TypedError(`${pathString(path)}: ${e.message}`);
  throw e;
}

/** Indexes a list's items by path element; duplicates are errors unless allowed (live objects). */
function indexItems(a: Atom & { kind: 'list' }, list: JsonValue[], path: Path, allowDuplicates: boolean): [PathElement[], Map<PathElement, JsonValue[]>] {
  const order: PathElement[] = [];
  const byPE = new Map<PathElement, JsonValue[]>();
  list.forEach((item, i) => {
    let pe: PathElement;
    try { pe = itemElement(a, item, i); } catch (e) { fail(path, e); }
    const seen = byPE.get(pe);
    if (seen) {
      if (!allowDuplicates) throw new TypedError(`${pathString(path)}: duplicate entries for key ${pathString([pe])}`);
      seen.push(item);
    } else {
      byPE.set(pe, [item]);
      order.push(pe);
    }
  });
  return [order, byPE];
}

/** ToFieldSet: leaves, atomic lists and maps, list items and map entries. */
export function toFieldSet(v: JsonValue, schema: Schema, allowDuplicates = false): FieldSet {
  const set = new FieldSet();
  const walk = (val: JsonValue, s: Schema, path: PathElement[]): void => {
    const a = atomOf(s, val);
    if (a.kind === 'scalar' || a.atomic) { set.insert(path); return; }
    if (a.kind === 'list') {
      if (!Array.isArray(val)) return;
      const [order, byPE] = indexItems(a, val, path, allowDuplicates);
      for (const pe of order) {
        for (const item of byPE.get(pe)!) walk(item, a.items, [...path, pe]);
        set.insert([...path, pe]);
      }
      return;
    }
    if (!isObject(val)) return;
    for (const [k, x] of Object.entries(val)) {
      const p = [...path, fieldElement(k)];
      walk(x, mapChild(a, k), p);
      if (!isDeclared(a, k)) set.insert(p);
    }
  };
  walk(v, schema, []);
  return set;
}

/**
 * Merges an applied configuration into a live value: the configuration wins
 * on leaves and atomic values; list-maps and sets merge item by item (the
 * configuration's order, live-only items kept where they were); maps merge
 * key by key. Null members of the result are dropped (a typed object has no nulls).
 */
export function mergeValues(live: JsonValue | undefined, config: JsonValue | undefined, schema: Schema): JsonValue | undefined {
  const out = merge(live, config, schema, []);
  if (out !== undefined) dropNullMembers(out);
  return out;
}

function merge(l: JsonValue | undefined, r: JsonValue | undefined, s: Schema, path: PathElement[]): JsonValue | undefined {
  if (r === undefined) return deepClone(l);
  if (l === undefined) return deepClone(r);
  const a = atomOf(s, r);
  if (a.kind === 'scalar' || a.atomic) return deepClone(r);
  if (a.kind === 'list') {
    const la = Array.isArray(l) ? l : [], ra = Array.isArray(r) ? r : [];
    if (la.length === 0 && ra.length === 0) return deepClone(r);
    return mergeLists(a, la, ra, path);
  }
  const lo = isObject(l) ? l : {}, ro = isObject(r) ? r : {};
  if (Object.keys(lo).length === 0 && Object.keys(ro).length === 0) return deepClone(r);
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(lo)) {
    const m = merge(x, ro[k], mapChild(a, k), [...path, fieldElement(k)]);
    if (m !== undefined) out[k] = m;
  }
  for (const [k, x] of Object.entries(ro)) {
    if (Object.prototype.hasOwnProperty.call(lo, k)) continue;
    const m = merge(undefined, x, mapChild(a, k), [...path, fieldElement(k)]);
    if (m !== undefined) out[k] = m;
  }
  return out;
}

/** structured-merge-diff's list merge order: shared items in the configuration's order, live-only items in place. */
function mergeLists(a: Atom & { kind: 'list' }, l: JsonValue[], r: JsonValue[], path: PathElement[]): JsonValue[] {
  const [lOrder, lItems] = indexItems(a, l, path, true);
  const [rOrder, rItems] = indexItems(a, r, path, true);
  const shared = rOrder.filter((pe) => lItems.has(pe));
  let next: PathElement | undefined = shared.shift();
  const out: JsonValue[] = [];
  const mergeItem = (pe: PathElement): void => {
    const m = merge(lItems.get(pe)?.[0], rItems.get(pe)![0], a.items, [...path, pe]);
    if (m !== undefined) out.push(m);
  };
  let li = 0, ri = 0;
  while (li < lOrder.length || ri < rOrder.length) {
    if (li < lOrder.length && ri < rOrder.length) {
      const pe = lOrder[li];
      if (pe === rOrder[ri]) {
        mergeItem(pe);
        li++; ri++;
        next = shared.shift();
        continue;
      }
      if (rItems.has(pe) && next !== undefined && next !== pe) { li++; continue; }
    }
    if (li < lOrder.length && !rItems.has(lOrder[li])) {
      for (const item of lItems.get(lOrder[li])!) out.push(deepClone(item));
      li++;
      continue;
    }
    if (ri < rOrder.length) {
      const pe = rOrder[ri];
      mergeItem(pe);
      ri++;
      if (next === pe) next = shared.shift();
      continue;
    }
    li++; // a shared live item already merged from the configuration
  }
  return out;
}

function dropNullMembers(v: JsonValue): void {
  if (Array.isArray(v)) { for (const x of v) dropNullMembers(x); return; }
  if (!isObject(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (x === null) delete v[k]; else dropNullMembers(x);
  }
}

export interface Comparison { added: FieldSet; modified: FieldSet; removed: FieldSet }

/**
 * Compare: leaves (and atomic values) that were added, modified or removed,
 * plus list items and map entries that appeared or disappeared. A struct
 * reached through a field is never itself added or removed: kube compares
 * typed objects, where such structs always exist.
 */
export function compareValues(lhs: JsonValue | undefined, rhs: JsonValue | undefined, schema: Schema): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const leaf = (l: JsonValue | undefined, r: JsonValue | undefined, path: PathElement[]): void => {
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!deepEqual(l, r)) c.modified.insert(path);
  };
  // `path` is one array, pushed and popped along the walk (FieldSet.insert copies what it keeps).
  const walk = (l: JsonValue | undefined, r: JsonValue | undefined, s: Schema, path: PathElement[], viaField: boolean): void => {
    // An unchanged part (metadata, spec, … of a status write) holds no change: skip the typed walk of it.
    if (path.length > 0 && path.length <= 2 && typeof l === 'object' && l !== null && deepEqual(l, r)) return;
    const a = atomOf(s, r ?? l);
    if (a.kind === 'scalar' || a.atomic) { leaf(l, r, path); return; }
    if (a.kind === 'list') {
      const la = Array.isArray(l) ? l : [], ra = Array.isArray(r) ? r : [];
      if (la.length === 0 && ra.length === 0) { leaf(l, r, path); return; }
      const [lOrder, lItems] = indexItems(a, la, path, true);
      const [rOrder, rItems] = indexItems(a, ra, path, true);
      const one = (pe: PathElement): void => {
        path.push(pe);
        walk(lItems.get(pe)?.[0], rItems.get(pe)?.[0], a.items, path, false);
        path.pop();
      };
      for (const pe of lOrder) one(pe);
      for (const pe of rOrder) if (!lItems.has(pe)) one(pe);
    } else {
      const lo = isObject(l) ? l : undefined, ro = isObject(r) ? r : undefined;
      const lk = lo ? Object.keys(lo) : [], rk = ro ? Object.keys(ro) : [];
      if (lk.length === 0 && rk.length === 0) {
        if (!(a.struct && viaField)) leaf(l, r, path);
        return;
      }
      const one = (k: string): void => {
        path.push(fieldElement(k));
        walk(lo?.[k], ro?.[k], mapChild(a, k), path, true);
        path.pop();
      };
      for (const k of lk) one(k);
      for (const k of rk) if (!lo || !Object.prototype.hasOwnProperty.call(lo, k)) one(k);
      if (a.struct && viaField) return;
    }
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
  };
  walk(lhs, rhs, schema, [], false);
  return c;
}

/** EnsureNamedFieldsAreMembers: struct fields that have children in the set become members too. */
export function ensureNamedFieldsAreMembers(set: FieldSet, schema: Schema): FieldSet {
  const out = set.clone();
  for (const pe of set.childElements()) {
    const p = parsePathElement(pe);
    let child: Schema;
    if (p.kind === 'field') {
      if (schema?.type === 'object' && schema.hasField(p.name)) out.addMember(pe);
      child = schema?.field(p.name);
    } else {
      child = schema?.items();
    }
    out.setChild(pe, ensureNamedFieldsAreMembers(set.withPrefix(pe)!, child));
  }
  return out;
}

/** RemoveItems: the value without the members of `toRemove` (and what is below them); emptied containers vanish. */
export function removeItems(v: JsonValue, toRemove: FieldSet, schema: Schema): JsonValue | undefined {
  const a = atomOf(schema, v);
  if (a.kind === 'scalar') return v;
  if (a.atomic) return undefined;
  if (a.kind === 'list') {
    if (!Array.isArray(v) || v.length === 0) return v;
    const out: JsonValue[] = [];
    v.forEach((item, i) => {
      const pe = itemElement(a, item, i);
      if (toRemove.isMember(pe)) return;
      const sub = toRemove.withPrefix(pe);
      const x = sub ? removeItems(item, sub, a.items) : item;
      if (x !== undefined) out.push(x);
    });
    return out.length > 0 ? out : undefined;
  }
  if (!isObject(v) || Object.keys(v).length === 0) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    const pe = fieldElement(k);
    if (toRemove.isMember(pe)) continue;
    const sub = toRemove.withPrefix(pe);
    const y = sub ? removeItems(x, sub, mapChild(a, k)) : x;
    if (y !== undefined) out[k] = y;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

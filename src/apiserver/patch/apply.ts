// Server-side apply (application/apply-patch+yaml) and managedFields
// bookkeeping, after k8s.io/apiserver's fieldmanager and
// sigs.k8s.io/structured-merge-diff's merge.Updater.
//
// Every field of an object has owners, recorded in metadata.managedFields as
// one entry per manager and operation, in FieldsV1 form:
// - an Apply entry holds exactly the fields of that manager's last applied
//   configuration;
// - an Update entry (create, update, JSON/merge/strategic patch) accumulates
//   the fields that manager changed; changing a field takes it away from
//   everybody else.
// Applying a configuration merges it into the live object (list-maps by their
// keys, sets by value, atomic lists and maps whole), fails with a 409 when it
// changes a field another manager owns (unless forced: then ownership moves),
// and removes the fields this manager applied last time, left out now, and
// nobody else owns.
//
// The kube layers reproduced here: versionCheck (kind/apiVersion of the
// configuration), lastAppliedUpdater and lastAppliedManager (the client-side
// apply annotation, manager "kubectl" only), skipNonApplied (the
// before-first-apply owner), stripMeta (apiVersion, kind, metadata.name and
// friends are never owned), managedFieldsUpdater (timestamps) and the
// timestamp-only-change guard.
import type { StatusCause } from 'kubernetes-types/meta/v1.js';
import { errors } from '../../api/errors.js';
import { deepClone, deepEqual, goJSON, isObject, type JsonObject, type JsonValue } from './json.js';
import { FieldSet, fieldElement, pathString, type Path } from './fieldpath.js';
import { applyConflict, unknownError } from './patcherrors.js';
import type { PatchSchema } from './schema.js';
import { compareValues, ensureNamedFieldsAreMembers, mergeValues, removeItems, toFieldSet, TypedError, type Comparison } from './typed.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
/** The owner given to every field of an object that has no managedFields when it is first applied. */
export const BEFORE_FIRST_APPLY_MANAGER = 'before-first-apply';

/** One metadata.managedFields entry (metav1.ManagedFieldsEntry). */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  fieldsType?: 'FieldsV1';
  fieldsV1?: JsonObject;
  subresource?: string;
}

export interface ManagedFieldsOptions {
  /** Patch metadata of the object's type. */
  schema: PatchSchema;
  /** The apiVersion of the endpoint (the version ownership is recorded at). */
  apiVersion: string;
  /** The subresource written through ('' or absent for the main resource). */
  subresource?: string;
  /** The time recorded for changed entries; now by default. */
  now?: Date;
  /**
   * Fields the endpoint resets and that nobody owns through it, as field-name
   * paths: `[['status']]` for a main resource with a status subresource,
   * `[['spec']]` for a status subresource.
   */
  resetFields?: readonly (readonly string[])[];
}

export interface ApplyOptions extends ManagedFieldsOptions {
  /** The fieldManager query parameter (required for apply). */
  fieldManager: string;
  /** The force query parameter: take over conflicting fields instead of failing. */
  force?: boolean;
  /** The endpoint's kind: the configuration must name this kind and `apiVersion`. */
  kind: string;
}

interface Manager {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource: string;
  time: string | undefined;
  set: FieldSet;
  /**
   * The FieldsV1 `set` was decoded from, when it is exactly what encoding
   * `set` gives: an entry whose fields did not change is written back as it
   * was, not re-encoded.
   */
  raw?: JsonObject;
}

type Managers = Map<string, Manager>;

/** Fields no manager ever owns (fieldmanager's stripMeta). */
const STRIP = FieldSet.of(
  ['f:apiVersion'], ['f:kind'], ['f:metadata'],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion']
    .map((n) => ['f:metadata', fieldElement(n)]),
);

/** BuildManagerIdentifier: the entry as JSON without time and fields; appliers without apiVersion. */
function managerKey(m: Pick<Manager, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  const id: Record<string, string> = {};
  if (m.manager) id.manager = m.manager;
  id.operation = m.operation;
  if (m.operation !== 'Apply' && m.apiVersion) id.apiVersion = m.apiVersion;
  if (m.subresource) id.subresource = m.subresource;
  return JSON.stringify(id);
}

/** printManager: `"name"`, `"name" with subresource "status"`, `… using v1` for updaters. */
function printManager(m: Manager): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') s += ` using ${m.apiVersion}`;
  return s;
}

let lastSecond = NaN;
let lastTimeString = '';
function timeString(d: Date): string {
  const sec = Math.floor(d.getTime() / 1000);
  if (sec !== lastSecond) {
    lastSecond = sec;
    lastTimeString = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastTimeString;
}

function decodeManagedFields(v: JsonValue | undefined): Managers {
  const out: Managers = new Map();
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) throw new Error('managedFields must be a list');
  v.forEach((e, i) => {
    if (!isObject(e)) throw new Error(`managed fields entry ${i} must be an object`);
    if (e.operation !== 'Apply' && e.operation !== 'Update') throw new Error('operation must be `Apply` or `Update`');
    if (typeof e.apiVersion !== 'string' || e.apiVersion === '') throw new Error('apiVersion must not be empty');
    if (e.fieldsType === undefined || e.fieldsType === '') throw new Error(`missing fieldsType in managed fields entry ${i}`);
    if (e.fieldsType !== 'FieldsV1') throw new Error(`invalid fieldsType "${String(e.fieldsType)}" in managed fields entry ${i}`);
    const form = { canonical: true };
    const m: Manager = {
      manager: typeof e.manager === 'string' ? e.manager : '',
      operation: e.operation,
      apiVersion: e.apiVersion,
      subresource: typeof e.subresource === 'string' ? e.subresource : '',
      time: typeof e.time === 'string' ? e.time : undefined,
      set: FieldSet.fromFieldsV1(e.fieldsV1, form),
    };
    if (form.canonical && isObject(e.fieldsV1)) m.raw = e.fieldsV1;
    out.set(managerKey(m), m);
  });
  return out;
}

/** EncodeObjectManagedFields: Apply entries first, then by time, manager, apiVersion, subresource. */
function encodeManagedFields(managers: Managers): ManagedFieldsEntry[] {
  const entries = [...managers.values()].filter((m) => !m.set.isEmpty()).map((m): ManagedFieldsEntry => {
    const e: ManagedFieldsEntry = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion };
    if (m.time) e.time = m.time;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = m.raw ?? m.set.toFieldsV1();
    if (m.subresource) e.subresource = m.subresource;
    return e;
  });
  const secs = (t: string | undefined): number => (t ? Math.floor(Date.parse(t) / 1000) || 0 : 0);
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return entries.sort((p, q) =>
    cmp(p.operation!, q.operation!) || secs(p.time) - secs(q.time) || cmp(p.manager!, q.manager!) ||
    cmp(p.apiVersion!, q.apiVersion!) || cmp(p.subresource ?? '', q.subresource ?? ''));
}

function withoutManagedFields(obj: JsonObject): JsonObject {
  const o = deepClone(obj);
  if (isObject(o.metadata)) delete o.metadata.managedFields;
  return o;
}

/** obj without metadata.managedFields, sharing everything else with obj (for code that only reads it). */
function shallowWithoutManagedFields(obj: JsonObject): JsonObject {
  if (!isObject(obj.metadata)) return { ...obj };
  const metadata = { ...obj.metadata };
  delete metadata.managedFields;
  return { ...obj, metadata };
}

/** deepEqual of two objects, metadata.managedFields left out. */
function equalButManagedFields(a: JsonObject, b: JsonObject): boolean {
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (k !== 'metadata') {
      if (!deepEqual(a[k], b[k])) return false;
      continue;
    }
    const ma = a[k], mb = b[k];
    if (!isObject(ma) || !isObject(mb)) {
      if (!deepEqual(ma, mb)) return false;
      continue;
    }
    const ja = Object.keys(ma).filter((x) => x !== 'managedFields'), jb = Object.keys(mb).filter((x) => x !== 'managedFields');
    if (ja.length !== jb.length) return false;
    for (const x of ja) if (!Object.prototype.hasOwnProperty.call(mb, x) || !deepEqual(ma[x], mb[x])) return false;
  }
  return true;
}

/** Writes managedFields into `obj`; keeps the old timestamps when only timestamps would change. */
function setManagedFields(obj: JsonObject, managers: Managers, old: JsonObject | undefined, knownDifferent = false): void {
  const entries = encodeManagedFields(managers);
  const oldEntries = isObject(old?.metadata) && Array.isArray(old.metadata.managedFields) ? old.metadata.managedFields : [];
  if (old && !knownDifferent && equalButManagedFields(obj, old)) {
    // IgnoreManagedFieldsTimestampsTransformer: an apply or update that changes
    // nothing must not produce a new object version just for timestamps.
    for (const e of entries) {
      const match = oldEntries.find((o) => isObject(o) && deepEqual({ ...o, time: undefined }, { ...e, time: undefined }));
      if (isObject(match) && typeof match.time === 'string') e.time = match.time;
    }
  }
  if (!isObject(obj.metadata)) obj.metadata = {};
  const meta = obj.metadata as JsonObject;
  if (entries.length > 0) meta.managedFields = entries as unknown as JsonValue;
  else delete meta.managedFields;
}

const resetSets = new Map<string, FieldSet>();

function resetSet(opts: ManagedFieldsOptions): FieldSet {
  const paths = opts.resetFields ?? [];
  const key = paths.length === 0 ? '' : JSON.stringify(paths);
  let s = resetSets.get(key);
  if (!s) {
    s = FieldSet.of(...paths.map((p) => p.map(fieldElement)));
    resetSets.set(key, s);
  }
  return s;
}

// Field sets are not changed once built, so an operation with an empty
// operand may answer with the other operand itself.
const unionOf = (a: FieldSet, b: FieldSet): FieldSet => (b.isEmpty() ? a : a.isEmpty() ? b : a.union(b));
const minus = (a: FieldSet, b: FieldSet): FieldSet => (b.isEmpty() || a.isEmpty() ? a : a.difference(b));
const minusRecursive = (a: FieldSet, b: FieldSet): FieldSet => (a.isEmpty() ? a : a.recursiveDifference(b));

function excludeFields(c: Comparison, ignored: FieldSet): Comparison {
  if (ignored.isEmpty()) return c;
  return {
    added: minusRecursive(c.added, ignored),
    modified: minusRecursive(c.modified, ignored),
    removed: minusRecursive(c.removed, ignored),
  };
}

interface Conflict { key: string; path: Path }
class Conflicts extends Error {
  constructor(readonly conflicts: Conflict[]) { super('conflicts'); }
}

/**
 * merge.Updater.update: every manager but `self` loses the fields that
 * changed (a conflict when not forced) and the fields that disappeared.
 */
function updateOwners(live: JsonObject, next: JsonObject, managers: Managers, self: string, force: boolean,
  schema: PatchSchema, ignored: FieldSet): Comparison & { differs: boolean } {
  const all = compareValues(live, next, schema);
  // A change the comparison reports is a real difference (it never reports one between equal values).
  const differs = !all.added.isEmpty() || !all.modified.isEmpty() || !all.removed.isEmpty();
  const cmp = excludeFields(all, ignored);
  const changed = unionOf(cmp.modified, cmp.added);
  const conflicts: Conflict[] = [];
  const taken = new Map<string, FieldSet>();
  for (const [key, m] of [...managers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (key === self || !m.set.intersects(changed)) continue;
    const c = m.set.intersection(changed);
    taken.set(key, c);
    for (const path of c.paths()) conflicts.push({ key, path });
  }
  if (!force && conflicts.length > 0) throw new Conflicts(conflicts);
  const removed = !cmp.removed.isEmpty();
  for (const [key, m] of managers) {
    if (key === self) continue;
    let set = m.set;
    const c = taken.get(key);
    if (c) set = set.difference(c);
    // A difference that removes nothing leaves the entry (and its encoded form) as it was.
    if (removed && set.intersects(cmp.removed)) set = set.difference(cmp.removed);
    if (set !== m.set) managers.set(key, { ...m, set, raw: undefined });
  }
  for (const [key, m] of managers) if (m.set.isEmpty()) managers.delete(key);
  return { ...cmp, differs };
}

/** An Update by `identity`: ownership of what changed moves to it (managedFieldsUpdater + stripMeta). */
function recordUpdate(live: JsonObject, next: JsonObject, managers: Managers, identity: Omit<Manager, 'set' | 'time'>,
  time: string, schema: PatchSchema, ignored: FieldSet): boolean {
  const cmp = updateOwners(live, next, managers, '', true, schema, ignored);
  const took = minus(minus(unionOf(cmp.modified, cmp.added), cmp.removed), STRIP);
  if (took.isEmpty()) return cmp.differs;
  const key = managerKey(identity);
  const prev = managers.get(key);
  // Taking fields it already owns changes only the entry's time.
  if (prev && minus(took, prev.set).isEmpty()) managers.set(key, { ...prev, time });
  else managers.set(key, { ...identity, time, set: prev ? unionOf(took, prev.set) : took });
  return cmp.differs;
}

function typedError(e: unknown, what: string, obj: JsonObject): never {
  if (e instanceof TypedError) {
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
    const name = typeof meta.name === 'string' ? meta.name : '';
    throw unknownError(`failed to create typed ${what} object (${ns}/${name}; ${gvkString(obj.apiVersion, obj.kind)}): ${e.message}`);
  }
  throw e;
}

/** schema.GroupVersionKind.String(): `apps/v1, Kind=Deployment`, `/v1, Kind=Service`. */
function gvkString(apiVersion: JsonValue | undefined, kind: JsonValue | undefined): string {
  const av = typeof apiVersion === 'string' ? apiVersion : '';
  const k = typeof kind === 'string' ? kind : '';
  const gv = av.includes('/') ? av : `/${av}`;
  return `${gv}, Kind=${k}`;
}

/**
 * Records the ownership of a non-apply write (create, update, patch) by
 * `manager` and returns `newObj` with metadata.managedFields set. Call it
 * with the object as it will be stored (after defaulting), and `oldObj`
 * undefined for a create. managedFields sent by the client are kept when
 * they decode; otherwise the stored ones are used.
 */
export function updateManagedFields(oldObj: JsonObject | undefined, newObj: JsonObject, manager: string,
  opts: ManagedFieldsOptions): JsonObject {
  const ignored = resetSet(opts);
  let managers: Managers;
  const sent = isObject(newObj.metadata) ? newObj.metadata.managedFields : undefined;
  const stored = isObject(oldObj?.metadata) ? oldObj.metadata.managedFields : undefined;
  // Clients that do not know managedFields send none back; that must not wipe them.
  let fromSent: Managers | undefined;
  if (sent !== undefined && sent !== null) {
    try {
      fromSent = decodeManagedFields(sent);
    } catch {
      fromSent = undefined;
    }
  }
  if (fromSent && fromSent.size > 0) {
    managers = fromSent;
  } else {
    try {
      managers = decodeManagedFields(stored);
    } catch {
      managers = new Map();
    }
  }
  // Both are only read from here on (compared, then `next` gets its own managedFields).
  const live = oldObj ? shallowWithoutManagedFields(oldObj) : {};
  const next = shallowWithoutManagedFields(newObj);
  const identity = { manager, operation: 'Update' as const, apiVersion: opts.apiVersion, subresource: opts.subresource ?? '' };
  const differs = recordUpdate(live, next, managers, identity, timeString(opts.now ?? new Date()), opts.schema, ignored);
  setManagedFields(next, managers, oldObj, differs);
  return next;
}

/**
 * Applies `applied` (the decoded apply-patch body) to `live` (undefined to
 * create) as `opts.fieldManager`; returns the new object with its
 * managedFields. Throws kube-apiserver's StatusErrors: 400 for a wrong
 * kind/apiVersion or a configuration carrying managedFields, 409 Conflict
 * for fields owned by other managers (unless `force`), 500 for a
 * configuration that does not fit the schema.
 */
export function serverSideApply(live: JsonObject | undefined, applied: JsonObject, opts: ApplyOptions): JsonObject {
  const gvk = gvkString(applied.apiVersion, applied.kind);
  if (gvk !== gvkString(opts.apiVersion, opts.kind)) throw errors.badRequest(`invalid object type: ${gvk}`);
  if (isObject(applied.metadata) && applied.metadata.managedFields !== undefined && applied.metadata.managedFields !== null) {
    throw errors.badRequest('metadata.managedFields must be nil');
  }
  const time = timeString(opts.now ?? new Date());
  const ignored = resetSet(opts);
  const liveObj = live ? withoutManagedFields(live) : {};
  let managers: Managers;
  try {
    managers = decodeManagedFields(isObject(live?.metadata) ? live.metadata.managedFields : undefined);
  } catch (e) {
    throw unknownError(`failed to decode managed fields: ${(e as Error).message}`);
  }
  if (managers.size === 0 && live) {
    recordUpdate({}, liveObj, managers, { manager: BEFORE_FIRST_APPLY_MANAGER, operation: 'Update', apiVersion: opts.apiVersion, subresource: opts.subresource ?? '' },
      time, opts.schema, ignored);
  }

  let result: { object: JsonObject; managers: Managers };
  try {
    result = applyOnce(liveObj, applied, managers, opts, opts.force ?? false, time, ignored);
  } catch (e) {
    if (!(e instanceof Conflicts)) throw e;
    // lastAppliedManager: a first server-side apply by kubectl after client-side
    // applies may take the fields its last-applied annotation still describes.
    const allowed = opts.fieldManager === 'kubectl' ? allowedConflictsFromLastApplied(liveObj, opts) : undefined;
    const remaining = allowed ? e.conflicts.filter((c) => !allowed.has(c.path)) : e.conflicts;
    if (remaining.length > 0) throw conflictError(remaining, managers);
    result = applyOnce(liveObj, applied, managers, opts, true, time, ignored);
  }

  const obj = result.object;
  if (opts.fieldManager === 'kubectl') syncLastApplied(obj, applied);
  setManagedFields(obj, result.managers, live);
  return obj;
}

function applyOnce(live: JsonObject, config: JsonObject, prior: Managers, opts: ApplyOptions, force: boolean,
  time: string, ignored: FieldSet): { object: JsonObject; managers: Managers } {
  const schema = opts.schema;
  let configSet: FieldSet;
  try { configSet = toFieldSet(config, schema); } catch (e) { typedError(e, 'patch', config); }
  try { toFieldSet(live, schema, true); } catch (e) { typedError(e, 'live', live); }

  const managers: Managers = new Map(prior);
  const merged = (mergeValues(live, config, schema) ?? {}) as JsonObject;
  const self = { manager: opts.fieldManager, operation: 'Apply' as const, apiVersion: opts.apiVersion, subresource: opts.subresource ?? '' };
  const key = managerKey(self);
  const lastSet = managers.get(key)?.set;
  managers.set(key, { ...self, time, set: configSet.recursiveDifference(ignored) });

  const next = prune(merged, managers, lastSet, schema);
  updateOwners(live, next, managers, key, force, schema, ignored);

  const mine = managers.get(key);
  if (mine) {
    const set = mine.set.difference(STRIP);
    if (set.isEmpty()) managers.delete(key);
    else managers.set(key, { ...mine, set, time });
  }
  return { object: next, managers };
}

/**
 * merge.Updater.prune: remove what this manager applied last time and no
 * longer does, unless some manager (this one included) still owns it; what
 * was never this manager's stays.
 */
function prune(merged: JsonObject, managers: Managers, lastSet: FieldSet | undefined, schema: PatchSchema): JsonObject {
  if (!lastSet || lastSet.isEmpty()) return merged;
  const E = (s: FieldSet): FieldSet => ensureNamedFieldsAreMembers(s, schema);
  const setOf = (v: JsonObject): FieldSet => E(toFieldSet(v, schema, true));
  const remove = (s: FieldSet): JsonObject => (removeItems(merged, s, schema) ?? {}) as JsonObject;
  const last = E(lastSet);
  let owned = new FieldSet();
  for (const m of managers.values()) owned = owned.union(m.set);
  const mergedSet = setOf(merged);
  const pruned = remove(last);
  const addedBack = remove(mergedSet.difference(setOf(pruned).union(E(owned))));
  return remove(mergedSet.difference(setOf(addedBack)).intersection(last));
}

function conflictError(conflicts: Conflict[], managers: Managers): Error {
  const who = (key: string): string => {
    const m = managers.get(key);
    return m ? printManager(m) : JSON.stringify(key);
  };
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict', message: `conflict with ${who(c.key)}`, field: pathString(c.path),
  }));
  if (conflicts.length === 1) {
    const c = conflicts[0];
    return applyConflict(`Apply failed with 1 conflict: conflict with ${who(c.key)}: ${pathString(c.path)}`, causes);
  }
  const lines: string[] = [];
  for (const key of [...new Set(conflicts.map((c) => c.key))].sort()) {
    lines.push(`conflicts with ${who(key)}:`);
    for (const c of conflicts) if (c.key === key) lines.push(`- ${pathString(c.path)}`);
  }
  return applyConflict(`Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, causes);
}

function lastApplied(obj: JsonObject): string | undefined {
  const meta = isObject(obj.metadata) ? obj.metadata : undefined;
  const ann = meta && isObject(meta.annotations) ? meta.annotations : undefined;
  const v = ann?.[LAST_APPLIED_ANNOTATION];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Fields of the last-applied configuration whose live value still matches it. */
function allowedConflictsFromLastApplied(live: JsonObject, opts: ApplyOptions): FieldSet | undefined {
  const text = lastApplied(live);
  if (text === undefined) return undefined;
  let la: unknown;
  try { la = JSON.parse(text); } catch { return undefined; }
  if (!isObject(la) || la.apiVersion !== opts.apiVersion) return undefined;
  try {
    const set = toFieldSet(la, opts.schema, true);
    const cmp = compareValues(la, live, opts.schema);
    return set.difference(cmp.modified).difference(cmp.added).difference(cmp.removed);
  } catch {
    return undefined;
  }
}

/** lastAppliedUpdater: keep the client-side apply annotation in step with what kubectl applies server-side. */
function syncLastApplied(obj: JsonObject, applied: JsonObject): void {
  if (lastApplied(obj) === undefined) return;
  const cfg = deepClone(applied);
  if (isObject(cfg.metadata) && isObject(cfg.metadata.annotations)) delete cfg.metadata.annotations[LAST_APPLIED_ANNOTATION];
  const value = goJSON(cfg) + '\n';
  const ann = (obj.metadata as JsonObject).annotations as JsonObject;
  ann[LAST_APPLIED_ANNOTATION] = value;
  // ValidateAnnotationsSize: the annotation is dropped rather than exceed 256 KiB in total.
  let size = 0;
  for (const [k, v] of Object.entries(ann)) size += k.length + (typeof v === 'string' ? v.length : 0);
  if (size > 256 * 1024) delete ann[LAST_APPLIED_ANNOTATION];
}

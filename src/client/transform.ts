// Informer transforms (client-go's cache.TransformFunc): what an informer
// does to each listed or watched object before caching it. The one the
// controller manager uses is kube-controller-manager's: drop managedFields,
// which no controller reads and which are half of a Pod's bytes and most of
// its JSON objects (with 10,000 pods cached, the difference between a major
// GC pause of ~50 ms and one of ~20). Unlike kube-controller-manager's, the
// managers' names stay (without their field sets): the Endpoints controller
// only deletes an Endpoints object that it wrote (endpointslice/util.ts's
// writtenBy), and tells that from managedFields.
import type { ManagedFieldsEntry } from 'kubernetes-types/meta/v1.js';
import type { KObject } from './types.js';

/**
 * One string per distinct manager name (a handful in a cluster, each repeated
 * on every cached object): JSON.parse makes a new copy for every object.
 * Bounded, in case names are unbounded.
 */
const interned = new Map<string, string>();
function intern(s: string): string {
  const v = interned.get(s);
  if (v !== undefined) return v;
  if (interned.size >= 1024) return s;
  interned.set(s, s);
  return s;
}

/** Maps an object to the one cached. Must not mutate its argument (an in-process client may hand out the store's own objects). */
export type Transform = (obj: KObject) => KObject;

/**
 * managedFields reduced to who wrote the object: each entry keeps manager,
 * operation and subresource, and loses apiVersion, time, fieldsType and the
 * field set. Objects without managedFields are returned as they are.
 */
export const trimManagedFields: Transform = (obj) => {
  const mf = obj.metadata?.managedFields;
  if (!mf || !mf.length || isTrimmed(mf)) return obj;
  const trimmed: ManagedFieldsEntry[] = mf.map((e) => {
    const t: ManagedFieldsEntry = {};
    if (e.manager !== undefined) t.manager = intern(e.manager);
    if (e.operation !== undefined) t.operation = intern(e.operation);
    if (e.subresource) t.subresource = intern(e.subresource);
    return t;
  });
  return { ...obj, metadata: { ...obj.metadata, managedFields: trimmed } };
};

/**
 * Whether managedFields are trimmed ones: entries without field sets (the
 * API server always records a manager's fields; one that owns none is
 * dropped). Such entries must not be written back: sent in an update they
 * would tell the server that those managers own nothing.
 */
export function isTrimmed(mf: readonly ManagedFieldsEntry[] | undefined): boolean {
  return !!mf && mf.length > 0 && mf.every((e) => e.fieldsV1 === undefined && e.fieldsType === undefined && e.time === undefined);
}

/**
 * The object to send in a create or update: without managedFields when they
 * are trimmed ones (the server then keeps the ones it has, as for any client
 * that does not know managedFields), else unchanged.
 */
export function withoutTrimmedManagedFields<T extends KObject>(obj: T): T {
  const md = obj.metadata;
  if (!md || !isTrimmed(md.managedFields)) return obj;
  const { managedFields: _dropped, ...rest } = md;
  return { ...obj, metadata: rest };
}

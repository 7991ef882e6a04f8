// The controller contract (level-triggered, as controller-runtime): a queue of
// keys fed by informers, and a PURE reconcile function that reads a cache and
// returns a plan of API writes. The runner (runner.ts) owns informers, the
// work queue, retries with backoff, and applying plans through a Client.
import type { ResourceInfo } from '../api/resources.js';
import type { KObject, PatchType } from '../client/types.js';

/** A read-only view of the informers' caches. Objects must not be mutated. */
export interface Cache {
  /** Objects of a kind (by resource plural+group), optionally in one namespace. */
  list(r: ResourceInfo, namespace?: string): readonly KObject[];
  get(r: ResourceInfo, namespace: string | undefined, name: string): KObject | undefined;
  /**
   * Objects of a kind filed under `value` in an index the reconciler declared
   * (Reconciler.indexes). Optional: undefined (or no method) when this cache
   * has no such index, and the caller falls back to `list`.
   */
  byIndex?(r: ResourceInfo, index: string, value: string): readonly KObject[] | undefined;
}

/**
 * A secondary index a reconciler reads through Cache.byIndex: the values each
 * object of `resource` is filed under. The runner adds it to the shared
 * informer; controllers sharing an index share the same CacheIndex value
 * (same name, same function).
 */
export interface CacheIndex {
  readonly resource: ResourceInfo;
  readonly name: string;
  readonly values: (obj: KObject) => readonly string[];
}

export type Action =
  | { verb: 'create'; resource: ResourceInfo; namespace?: string; object: KObject; subresource?: string; name?: string }
  | { verb: 'update'; resource: ResourceInfo; namespace?: string; object: KObject; subresource?: string }
  | { verb: 'patch'; resource: ResourceInfo; namespace?: string; name: string; patchType: PatchType; patch: unknown; subresource?: string }
  | { verb: 'delete'; resource: ResourceInfo; namespace?: string; name: string; preconditions?: { uid?: string; resourceVersion?: string }; propagationPolicy?: 'Orphan' | 'Background' | 'Foreground' };

/** An Event to record about an object (core/v1 Event, reason + message). */
export interface EventRecord {
  involvedObject: { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string; resourceVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Plan {
  actions: Action[];
  events?: EventRecord[];
  /** Reconcile this key again after the delay even if nothing changes (time-based conditions). */
  requeueAfterMs?: number;
}

export interface Reconciler {
  /** e.g. 'endpointslice-controller' (also the field manager and event source). */
  readonly name: string;
  /** The resources whose informers this controller needs. */
  readonly watches: readonly ResourceInfo[];
  /** Default number of workers (kube-controller-manager's --concurrent-*-syncs); the runner's own default is 2. */
  readonly workers?: number;
  /** Indexes over watched resources that reconcile/keysFor read with Cache.byIndex (optional; they must work without). */
  readonly indexes?: readonly CacheIndex[];
  /**
   * Maps a changed object (old and/or new) of a watched resource to the keys
   * to reconcile (usually `namespace/name` of the primary object).
   */
  keysFor(r: ResourceInfo, obj: KObject, old?: KObject, cache?: Cache): string[];
  /** Pure: from the cache state to the writes that move the world toward desired. Throws nothing for bad objects: skip and log via events. */
  reconcile(key: string, cache: Cache, now: Date): Plan;
}

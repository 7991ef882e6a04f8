// The Client contract every component (controllers, node agents, proxies,
// DNS, the CLI) talks to the API through. Errors are StatusErrors with the
// server's Status (code, reason, message, details).
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import type { ResourceInfo } from '../api/resources.js';

/** Any Kubernetes object. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult<T extends KObject = KObject> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Resume point: events after this revision. '' or '0' = current state as ADDED first. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T extends KObject = KObject> {
  type: WatchEventType;
  /** For ERROR: a Status object. */
  object: T;
}

export interface WatchHandle {
  /** Ends the watch; `onClose` runs once with no error. Idempotent. */
  close(): void;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  /** status | scale | binding … */
  subresource?: string;
}

export interface PatchOptions extends WriteOptions {
  force?: boolean;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** `namespace` is ignored for cluster-scoped resources; undefined on a namespaced list/watch = all namespaces. */
export interface Client {
  get<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string, subresource?: string): Promise<T>;
  list<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts?: ListOptions): Promise<ListResult<T>>;
  create<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject, opts?: WriteOptions & { name?: string }): Promise<T>;
  /** PUT of the whole object (or its status with subresource 'status'). */
  update<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject, opts?: WriteOptions): Promise<T>;
  patch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts?: PatchOptions): Promise<T>;
  delete(r: ResourceInfo, namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  /** Events arrive in order; onClose runs once when the stream ends (err set when it failed, e.g. a 410 Expired ERROR event is delivered to onEvent first). */
  watch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void, onClose: (err?: Error) => void): WatchHandle;
}

/** Looks a resource up by kind in the catalog. */
export { findByKind, findResource, resources } from '../api/resources.js';

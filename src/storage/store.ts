// The storage contract, in etcd's model (etcd v3 KV + Watch): one global
// revision that every write bumps, per-key createRevision/modRevision/version,
// compare-and-swap on modRevision, range by prefix, watch from a revision with a
// full replay of every event after it, and compaction. A watch or range at a
// revision older than the compaction point fails with StoreError code
// 'Compacted' (the apiserver turns that into 410 Expired).
//
// Values are UTF-8 strings (JSON documents in practice).

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created this key (its current incarnation). */
  createRevision: number;
  /** Revision of the last write to this key. */
  modRevision: number;
  /** Number of writes since creation, starting at 1. */
  version: number;
}

export type StoreErrorCode = 'Compacted' | 'FutureRevision' | 'Closed' | 'Corrupt' | 'Unavailable';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** A condition of a transaction, on the key's current modRevision (0 = key absent). */
export interface Compare { key: string; modRevision: number }

export type Op =
  | { type: 'put'; key: string; value: string }
  | { type: 'delete'; key: string };

export interface TxnRequest {
  /** All must hold for `success` to run; otherwise nothing is written. */
  compare: Compare[];
  success: Op[];
}

export interface TxnResponse {
  succeeded: boolean;
  /** The store's revision after the txn (unchanged when it failed or wrote nothing). */
  revision: number;
  /** For each op of `success`, when succeeded: the key's new KeyValue (put) or the deleted one (delete, undefined if absent). */
  results: (KeyValue | undefined)[];
  /** When the txn failed: the current KeyValue (or undefined) of each compared key, so callers can report why. */
  current?: (KeyValue | undefined)[];
}

export interface RangeOptions {
  /** Only keys >= startKey (used for paging: pass the last key + '\0'). */
  startKey?: string;
  /** At most this many kvs; `more` tells whether some were left. 0 = no limit. */
  limit?: number;
  /** Only count, return no kvs. */
  countOnly?: boolean;
}

export interface RangeResponse {
  kvs: KeyValue[];
  /** The store's revision at the time of the read. */
  revision: number;
  more: boolean;
  /** Total number of keys under the prefix (from startKey). */
  count: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For put: the new kv. For delete: key with value '' and modRevision = the delete's revision. */
  kv: KeyValue;
  /** The previous kv (always set for delete; set for put when the key existed). */
  prevKv?: KeyValue;
}

export interface Watcher {
  /** Stops the watch; no callback runs after it returns. Idempotent. */
  close(): void;
}

export interface WatchCallbacks {
  /** Events of one revision arrive together, in revision order, never twice. */
  onEvents(events: WatchEvent[]): void;
  /** The watch ended on its own (store closed, the watcher fell too far behind, etcd gone for too long, or a Compacted/FutureRevision only the server could tell). */
  onError?(err: StoreError): void;
}

export interface Store {
  /** 'memory', 'sqlite' or 'etcd'. */
  readonly kind: string;
  get(key: string): Promise<KeyValue | undefined>;
  /** Keys starting with prefix, in byte order of key. */
  range(prefix: string, opts?: RangeOptions): Promise<RangeResponse>;
  txn(req: TxnRequest): Promise<TxnResponse>;
  /**
   * Events for keys under prefix with revision > afterRevision: first the
   * stored history (replay), then live events. Throws StoreError('Compacted')
   * when afterRevision < compactedRevision, and ('FutureRevision') when it is
   * ahead of the current revision. etcd, which other processes write and
   * compact too, may only learn either from the server: the watch then ends
   * with onError of the same code.
   */
  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): Watcher;
  /** Current revision (the revision of the last write; 0 for an empty store... 1 in etcd). */
  revision(): Promise<number>;
  /** Drop history at revisions <= rev. Watches from before it then fail with Compacted. */
  compact(rev: number): Promise<void>;
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

/** Convenience wrappers over txn, shared by every backend. */
export async function createKey(store: Store, key: string, value: string): Promise<KeyValue | undefined> {
  const r = await store.txn({ compare: [{ key, modRevision: 0 }], success: [{ type: 'put', key, value }] });
  return r.succeeded ? r.results[0] : undefined;
}

export async function updateKey(store: Store, key: string, value: string, modRevision: number): Promise<KeyValue | undefined> {
  const r = await store.txn({ compare: [{ key, modRevision }], success: [{ type: 'put', key, value }] });
  return r.succeeded ? r.results[0] : undefined;
}

export async function deleteKey(store: Store, key: string, modRevision: number): Promise<KeyValue | undefined> {
  const r = await store.txn({ compare: [{ key, modRevision }], success: [{ type: 'delete', key }] });
  return r.succeeded ? r.results[0] : undefined;
}

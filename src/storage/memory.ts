// The in-memory backend: the reference implementation of the Store contract and
// the stateful fake for tests. Keys are kept in a sorted array (binary search,
// splice on create/delete: O(n) memmove, cheap at the scale of one cluster), the
// history is one entry per revision since the compaction point. Nothing is
// durable. The history grows until compact() is called; run startCompactor.
//
// Stored KeyValues and events are frozen and handed out as they are, so a caller
// that mutates one gets a TypeError instead of silently corrupting the store.
import { maxKey, compareKeys } from './keys.js';
import {
  type KeyValue, type RangeOptions, type RangeResponse, type TxnRequest, type TxnResponse, type WatchEvent,
} from './store.js';
import type { RevisionEvents, WatchOptions } from './watch.js';
import { tombstone, validateTxn } from './txn.js';
import { StoreBase } from './base.js';

export type MemoryStoreOptions = WatchOptions;

/** A UTF-16 unit at or above the first surrogate. */
const HIGH_UNIT = /[\uD800-\uFFFF]/;

export class MemoryStore extends StoreBase {
  readonly kind = 'memory';
  private readonly data = new Map<string, KeyValue>();
  /** Every key of data, in key order. */
  private readonly keys: string[] = [];
  /** One entry per revision in (compacted, rev], in order. */
  private history: RevisionEvents[] = [];

  constructor(options: MemoryStoreOptions = {}) {
    super(options);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    return this.data.get(key);
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResponse> {
    this.assertOpen();
    const from = opts.startKey !== undefined ? maxKey(prefix, opts.startKey) : prefix;
    const lo = this.lowerBound(from);
    // Keys under prefix are contiguous in key order, so the first key from lo
    // that does not start with prefix ends them.
    let hi = lo;
    let top = this.keys.length;
    while (hi < top) {
      const mid = (hi + top) >>> 1;
      if (this.keys[mid].startsWith(prefix)) hi = mid + 1;
      else top = mid;
    }
    const count = hi - lo;
    if (opts.countOnly) return { kvs: [], revision: this.rev, more: false, count };
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const end = limit ? Math.min(hi, lo + limit) : hi;
    const kvs: KeyValue[] = [];
    for (let i = lo; i < end; i++) kvs.push(this.data.get(this.keys[i]) as KeyValue);
    return { kvs, revision: this.rev, more: end < hi, count };
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.assertOpen();
    validateTxn(req);
    for (const c of req.compare) {
      if ((this.data.get(c.key)?.modRevision ?? 0) !== c.modRevision) {
        return { succeeded: false, revision: this.rev, results: [], current: req.compare.map((x) => this.data.get(x.key)) };
      }
    }
    const next = this.rev + 1;
    const events: WatchEvent[] = [];
    const results: (KeyValue | undefined)[] = [];
    for (const op of req.success) {
      const prev = this.data.get(op.key);
      if (op.type === 'put') {
        const kv: KeyValue = Object.freeze({
          key: op.key,
          value: op.value,
          createRevision: prev ? prev.createRevision : next,
          modRevision: next,
          version: prev ? prev.version + 1 : 1,
        });
        this.data.set(op.key, kv);
        if (!prev) this.keys.splice(this.lowerBound(op.key), 0, op.key);
        events.push(Object.freeze(prev ? { type: 'put' as const, kv, prevKv: prev } : { type: 'put' as const, kv }));
        results.push(kv);
      } else {
        results.push(prev);
        if (!prev) continue;
        this.data.delete(op.key);
        this.keys.splice(this.lowerBound(op.key), 1);
        events.push(Object.freeze({ type: 'delete' as const, kv: tombstone(op.key, next), prevKv: prev }));
      }
    }
    // As etcd: a txn that changed nothing (only deletes of absent keys) does not
    // bump the revision.
    if (events.length === 0) return { succeeded: true, revision: this.rev, results };
    this.rev = next;
    Object.freeze(events);
    this.history.push({ revision: next, events });
    this.hub.publish(next, events);
    return { succeeded: true, revision: next, results };
  }

  protected dropHistory(rev: number): void {
    this.history.splice(0, this.firstEntryAfter(rev));
    this.compacted = rev;
  }

  async close(): Promise<void> {
    if (!this.closed) this.markClosed();
  }

  protected readEvents(prefix: string, after: number, upTo: number): RevisionEvents[] {
    const out: RevisionEvents[] = [];
    for (let i = this.firstEntryAfter(after); i < this.history.length; i++) {
      const entry = this.history[i];
      if (entry.revision > upTo) break;
      const mine = entry.events.filter((e) => e.kv.key.startsWith(prefix));
      if (mine.length > 0) out.push({ revision: entry.revision, events: mine });
    }
    return out;
  }

  /** Index of the first history entry with revision > rev. */
  private firstEntryAfter(rev: number): number {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid].revision <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first key >= key. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    // JS string order is UTF-16 order, which differs from UTF-8 byte order only
    // where both strings hold a unit >= U+D800 at the first difference: for a
    // key without one (every key the apiserver writes), `<` is the same order.
    if (!HIGH_UNIT.test(key)) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.keys[mid] < key) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

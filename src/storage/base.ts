// What every backend does the same way around its own reads and writes: the
// revision counters, the open/closed guard, watch (the shared WatchHub over the
// backend's history) and the checks of compact(). A backend supplies
// get/range/txn, the history read and the history drop.
import {
  StoreError, type KeyValue, type RangeOptions, type RangeResponse, type Store, type TxnRequest,
  type TxnResponse, type WatchCallbacks, type Watcher,
} from './store.js';
import { WatchHub, type RevisionEvents, type WatchOptions } from './watch.js';

export abstract class StoreBase implements Store {
  abstract readonly kind: string;
  /** The revision of the last write that readers and watchers may see (for SQLite: the last durable one). */
  protected rev = 0;
  protected compacted = 0;
  protected closed = false;
  protected readonly hub: WatchHub;

  constructor(options: WatchOptions = {}) {
    this.hub = new WatchHub({
      revision: () => this.rev,
      compactedRevision: () => this.compacted,
      readEvents: (prefix, after, upTo) => this.readEvents(prefix, after, upTo),
    }, options);
  }

  abstract get(key: string): Promise<KeyValue | undefined>;
  abstract range(prefix: string, opts?: RangeOptions): Promise<RangeResponse>;
  abstract txn(req: TxnRequest): Promise<TxnResponse>;
  abstract close(): Promise<void>;
  /** Events of revisions in (after, upTo] under prefix (see EventLog.readEvents). */
  protected abstract readEvents(prefix: string, after: number, upTo: number): RevisionEvents[];
  /** Drops history at revisions <= rev (> the compaction point, <= the revision) and sets `compacted`. */
  protected abstract dropHistory(rev: number): Promise<void> | void;

  /** Open watchers (for tests that check nothing leaks). */
  get watcherCount(): number {
    return this.hub.size;
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): Watcher {
    this.assertOpen();
    return this.hub.watch(prefix, afterRevision, cb);
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  /** Drops history at revisions <= rev. Compacting to or below the current compaction point is a no-op. */
  async compact(rev: number): Promise<void> {
    this.assertOpen();
    if (rev > this.rev) {
      throw new StoreError('FutureRevision', `cannot compact to revision ${rev}: it is a future revision (current revision is ${this.rev})`);
    }
    if (rev <= this.compacted) return;
    await this.dropHistory(rev);
  }

  async compactedRevision(): Promise<number> {
    this.assertOpen();
    return this.compacted;
  }

  /** Marks the store closed and ends every watch with Closed. */
  protected markClosed(): void {
    this.closed = true;
    this.hub.close(new StoreError('Closed', 'storage is closed'));
  }

  protected assertOpen(): void {
    if (this.closed) throw new StoreError('Closed', 'storage is closed');
  }
}

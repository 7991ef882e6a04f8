// Periodic compaction, as kube-apiserver runs it against etcd
// (--etcd-compaction-interval, 5 minutes by default). Instead of compacting to
// the revision seen one interval ago, we keep the last N revisions: a watcher
// that is a little behind (a slow informer, a client that reconnects) resumes
// from the history instead of getting 410 Gone and relisting everything.
import { StoreError, type Store } from './store.js';

export interface CompactorOptions {
  /** Revisions of history to keep behind the current one. Default 10000. */
  keepRevisions?: number;
  /** How often to compact. Default 300000 (5 minutes, kube-apiserver's default). */
  intervalMs?: number;
  /** Told about failed compactions; the compactor keeps running. A closed store stops it silently. */
  onError?: (err: unknown) => void;
}

export interface Compactor {
  close(): void;
}

export const defaultCompactorOptions = Object.freeze({ keepRevisions: 10000, intervalMs: 300_000 });

/**
 * Compacts store to (revision - keepRevisions) if that is past its compaction point; returns the compaction point.
 * `cancelled` is asked once the reads are done, before compacting: a compactor closed meanwhile compacts nothing
 * (over etcd those reads are network round trips, long enough for a close to land between them).
 */
export async function compactKeeping(store: Store, keepRevisions: number, cancelled: () => boolean = () => false): Promise<number> {
  const target = (await store.revision()) - keepRevisions;
  const compacted = await store.compactedRevision();
  if (target <= compacted || cancelled()) return compacted;
  await store.compact(target);
  return target;
}

export function startCompactor(store: Store, options: CompactorOptions = {}): Compactor {
  const keep = options.keepRevisions ?? defaultCompactorOptions.keepRevisions;
  const intervalMs = options.intervalMs ?? defaultCompactorOptions.intervalMs;
  if (!Number.isSafeInteger(keep) || keep < 0) throw new TypeError(`keepRevisions must be a non-negative integer, got ${keep}`);
  if (!(intervalMs > 0)) throw new TypeError(`intervalMs must be positive, got ${intervalMs}`);
  let running = false;
  let closed = false;
  const tick = async (): Promise<void> => {
    // A compaction that outlasts the interval is not stacked up behind itself.
    if (running || closed) return;
    running = true;
    try {
      await compactKeeping(store, keep, () => closed);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'Closed') stop();
      else options.onError?.(err);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  // Compaction is housekeeping: it must not keep a process alive on its own.
  timer.unref();
  const stop = (): void => {
    closed = true;
    clearInterval(timer);
  };
  return { close: stop };
}

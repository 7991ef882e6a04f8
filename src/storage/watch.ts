// Watch fan-out shared by the backends. Every watcher is in one of two modes:
//
//   replay: it reads the backend's event history from its own cursor, one page
//           of revisions per turn of the event loop, until the cursor reaches
//           the store's current revision; then it turns live.
//   live:   each commit hands it that revision's events (filtered by prefix),
//           queued and delivered asynchronously.
//
// Reading a page and comparing its end with the current revision happen in one
// synchronous step, and so does a commit becoming visible (the backend's
// revision moves and publish() runs in one step; for SQLite that is when the
// commit is durable, and history reads stop at that revision), so no commit can fall
// between "history read up to N" and "live from N+1": no gap, no duplicate, even
// when writes keep coming while the replay is read (or are made by the watcher's
// own callback). This is etcd's synced/unsynced watcher split, and like etcd a
// live watcher that falls too far behind (more than maxPendingEvents queued) is
// not buffered without bound: its queue is dropped and it goes back to replay
// from the last revision it was given, so the history is the buffer. If the
// history it needs has been compacted meanwhile, it ends with 'Compacted' and
// the client relists, as with etcd.
//
// What is not bounded: onEvents is synchronous, so a consumer that hands events
// to slower asynchronous work keeps its own backlog, which the store cannot see.
import { StoreError, type WatchCallbacks, type WatchEvent, type Watcher } from './store.js';

/** The events of one revision that concern one watcher (or all of them, in a log). */
export interface RevisionEvents {
  revision: number;
  events: WatchEvent[];
}

/** What a backend offers the hub: its revision counters and a read of its history. */
export interface EventLog {
  revision(): number;
  compactedRevision(): number;
  /**
   * Events of revisions in (after, upTo] for keys under prefix, one entry per
   * revision that has any, in revision order, each entry's events in op order.
   * Must return fresh arrays: the hub hands them to a callback as they are.
   */
  readEvents(prefix: string, after: number, upTo: number): RevisionEvents[];
}

export interface WatchOptions {
  /** Revisions a replaying watcher reads from history per turn of the event loop. Default 1000. */
  replayPageRevisions?: number;
  /** Events a live watcher may have queued before it is sent back to replay from history. Default 10000. */
  maxPendingEvents?: number;
}

export const defaultWatchOptions: Readonly<Required<WatchOptions>> = Object.freeze({
  replayPageRevisions: 1000,
  maxPendingEvents: 10000,
});

export class WatchHub {
  private readonly watchers = new Set<HubWatcher>();
  private readonly ready = new Set<HubWatcher>();
  private flushScheduled = false;
  private closedWith: StoreError | undefined;
  readonly options: Readonly<Required<WatchOptions>>;

  constructor(readonly log: EventLog, options: WatchOptions = {}) {
    this.options = Object.freeze({
      replayPageRevisions: positiveInt(options.replayPageRevisions, defaultWatchOptions.replayPageRevisions),
      maxPendingEvents: positiveInt(options.maxPendingEvents, defaultWatchOptions.maxPendingEvents),
    });
  }

  /** Number of open watchers (for metrics and leak checks in tests). */
  get size(): number {
    return this.watchers.size;
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): Watcher {
    if (this.closedWith) throw this.closedWith;
    if (typeof prefix !== 'string') throw new TypeError('watch: prefix must be a string');
    if (!Number.isSafeInteger(afterRevision) || afterRevision < 0) {
      throw new TypeError(`watch: afterRevision must be a non-negative integer, got ${String(afterRevision)}`);
    }
    const compacted = this.log.compactedRevision();
    if (afterRevision < compacted) {
      throw new StoreError('Compacted', `required revision ${afterRevision + 1} has been compacted (compacted revision is ${compacted})`);
    }
    const current = this.log.revision();
    if (afterRevision > current) {
      throw new StoreError('FutureRevision', `required revision ${afterRevision} is a future revision (current revision is ${current})`);
    }
    const w = new HubWatcher(this, prefix, afterRevision, cb, afterRevision === current);
    this.watchers.add(w);
    if (!w.isLive) this.markReady(w);
    return w;
  }

  /** Called by the backend after a revision is durably committed, with all its events in op order. */
  publish(revision: number, events: readonly WatchEvent[]): void {
    for (const w of this.watchers) w.offer(revision, events);
  }

  /** Ends every watcher with err (onError) and refuses new ones. */
  close(err: StoreError): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const w of [...this.watchers]) w.fail(err);
    this.ready.clear();
  }

  /** @internal */
  remove(w: HubWatcher): void {
    this.watchers.delete(w);
    this.ready.delete(w);
  }

  /** @internal */
  markReady(w: HubWatcher): void {
    this.ready.add(w);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: delivery never runs inside the
    // writer's call stack, several commits of one tick are delivered together,
    // and a long replay yields to I/O between pages.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = [...this.ready];
    this.ready.clear();
    for (const w of batch) w.drain();
  }
}

class HubWatcher implements Watcher {
  private live: boolean;
  /** Replay: history has been read into the queue up to this revision. */
  private cursor: number;
  /** The last revision handed to onEvents (or the start revision). */
  private delivered: number;
  private queue: RevisionEvents[] = [];
  private pending = 0;
  private closed = false;
  private draining = false;

  constructor(
    private readonly hub: WatchHub,
    private readonly prefix: string,
    afterRevision: number,
    private readonly cb: WatchCallbacks,
    live: boolean,
  ) {
    this.cursor = afterRevision;
    this.delivered = afterRevision;
    this.live = live;
  }

  get isLive(): boolean {
    return this.live;
  }

  offer(revision: number, events: readonly WatchEvent[]): void {
    if (this.closed || !this.live) return;
    const mine = events.filter((e) => e.kv.key.startsWith(this.prefix));
    if (mine.length === 0) return;
    this.queue.push({ revision, events: mine });
    this.pending += mine.length;
    if (this.pending > this.hub.options.maxPendingEvents) {
      // Too far behind: the history holds these events already, read them from there.
      this.queue = [];
      this.pending = 0;
      this.live = false;
      this.cursor = this.delivered;
    }
    this.hub.markReady(this);
  }

  drain(): void {
    if (this.closed || this.draining) return;
    this.draining = true;
    try {
      let pagesRead = 0;
      while (!this.closed) {
        const next = this.queue.shift();
        if (next) {
          this.pending -= next.events.length;
          this.delivered = next.revision;
          this.deliver(next.events);
          continue;
        }
        if (this.live) break;
        if (pagesRead > 0) {
          this.hub.markReady(this);
          break;
        }
        this.readPage();
        pagesRead++;
      }
    } finally {
      this.draining = false;
    }
  }

  private readPage(): void {
    const log = this.hub.log;
    try {
      const compacted = log.compactedRevision();
      if (this.cursor < compacted) {
        this.fail(new StoreError('Compacted', `required revision ${this.cursor + 1} has been compacted (compacted revision is ${compacted})`));
        return;
      }
      const current = log.revision();
      const upTo = Math.min(current, this.cursor + this.hub.options.replayPageRevisions);
      if (upTo > this.cursor) {
        for (const g of log.readEvents(this.prefix, this.cursor, upTo)) {
          this.queue.push(g);
          this.pending += g.events.length;
        }
      }
      this.cursor = upTo;
      // Turning live here, before the page is delivered, is what closes the gap:
      // any commit after this point (even one made by our own callback while the
      // page is delivered) is offered to us and queued behind the page.
      if (upTo === current) this.live = true;
    } catch (err) {
      this.fail(err instanceof StoreError ? err : new StoreError('Unavailable', `watch replay failed: ${errorMessage(err)}`));
    }
  }

  private deliver(events: WatchEvent[]): void {
    try {
      this.cb.onEvents(events);
    } catch (err) {
      // The consumer's state may be half-updated: end this watch (informers
      // relist on error) rather than keep feeding it; other watchers go on.
      const e = new StoreError('Unavailable', `watch callback threw: ${errorMessage(err)}`);
      e.cause = err;
      this.fail(e, err);
    }
  }

  /** Ends the watch and reports err (reportWatchEnd). */
  fail(err: StoreError, callbackError?: unknown): void {
    if (this.closed) return;
    this.close();
    reportWatchEnd(this.cb, err, callbackError);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.pending = 0;
    this.hub.remove(this);
  }
}

/**
 * Tells a watch's consumer that it ended with err (every backend's watcher, once
 * closed); a callback bug with no onError to hear it is rethrown, not swallowed.
 */
export function reportWatchEnd(cb: WatchCallbacks, err: StoreError, callbackError?: unknown): void {
  const onError = cb.onError;
  if (onError) {
    try {
      onError.call(cb, err);
    } catch (e) {
      rethrowAsync(e);
    }
  } else if (callbackError !== undefined) {
    rethrowAsync(callbackError);
  }
}

function rethrowAsync(err: unknown): void {
  setImmediate(() => {
    throw err;
  });
}

function positiveInt(v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`watch option must be a positive integer, got ${String(v)}`);
  return v;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

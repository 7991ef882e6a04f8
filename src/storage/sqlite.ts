// The embedded, durable backend: one SQLite file (better-sqlite3, synchronous).
//
// Schema (see README.md): `kv` is the current state, `events` the log of every
// change since the compaction point (what watches replay), `meta` the revision
// counters. The file is marked with PRAGMA application_id and user_version so
// that opening some other database fails with a clear error instead of
// scribbling tables into it.
//
// Durability, with the fsyncs off the event loop. Statements run synchronously
// on the event loop (better-sqlite3), but an fsync may take anything from
// 0.3 ms to hundreds of ms on a busy disk, and SQLite's own fsync (synchronous=
// FULL) would block every request of the process for that long. So:
//  - Txns arriving in one event-loop turn (or while the previous batch syncs)
//    are group-committed: one SQLite transaction (each txn its own compare and
//    revision), committed with synchronous=NORMAL (no fsync in the commit),
//    then the WAL file is fdatasync'ed in libuv's thread pool. Only when that
//    sync has completed do the txns' promises resolve and their events reach
//    watchers: a write is acknowledged only once it is on disk, as with
//    synchronous=FULL.
//  - While a sync runs no other commit starts (the next batch gathers behind
//    it), so everything in the database is durable except the one batch being
//    synced. Reads that touch a key of that batch wait for its sync (a reader
//    never sees a write that a crash could still undo); other reads go ahead.
//    `rev` (what readers and watchers see) is the last durable revision.
//  - Checkpoints (copying the WAL into the database file) are ours, not SQLite's
//    (wal_autocheckpoint=0): run between batches, when the whole WAL is synced,
//    without SQLite's fsyncs; then the database file is fdatasync'ed off the
//    loop, and no commit starts until it is, because the first commit after a
//    full checkpoint rewrites the WAL from its start. That restart's header sync
//    is SQLite's own (synchronous=NORMAL keeps it), once per checkpoint.
//  - Compaction, as etcd's: the compaction point moves at once (watches and
//    reads below it fail with Compacted), the history rows are deleted in
//    steps of `compactionStepRevisions`, each inside a group commit, so a big
//    compaction never stalls the loop.
// If an fsync fails, nothing is known about what reached the disk: the store
// fails (every call then throws Unavailable) and must be reopened.
//
// One process per file: the connection runs in EXCLUSIVE locking mode and takes
// the write lock at open, so a second svcnet on the same file fails at once
// ("in use") instead of forking the revision counter. A side effect is that the
// sqlite3 shell cannot read the file while svcnet runs.
import { closeSync, fdatasync, fstatSync, openSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { compareKeys, maxKey, prefixEnd } from './keys.js';
import {
  StoreError, type KeyValue, type RangeOptions, type RangeResponse, type TxnRequest,
  type TxnResponse, type WatchEvent,
} from './store.js';
import { tombstone, validateTxn } from './txn.js';
import { errorMessage, type RevisionEvents, type WatchOptions } from './watch.js';
import { StoreBase } from './base.js';

/** 'svnt': marks the file as ours in the SQLite header. */
export const SQLITE_APPLICATION_ID = 0x73766e74;
export const SQLITE_SCHEMA_VERSION = 1;

/** Flushes a file's data to disk and calls done; fdatasync in the thread pool by default. */
export type SyncFile = (fd: number, done: (err: Error | null) => void) => void;

export interface SqliteStoreOptions extends WatchOptions {
  /**
   * Check every page at open (PRAGMA quick_check) so a damaged file is refused
   * up front rather than failing some later request. Default true; it reads the
   * whole file once.
   */
  verify?: boolean;
  /** Checkpoint the WAL once this many group commits are in it. Default 1000. */
  checkpointCommits?: number;
  /** ... or once the oldest of them is this old. Default 1000 ms. */
  checkpointIntervalMs?: number;
  /** Revisions of history one compaction step deletes. Default 1000. */
  compactionStepRevisions?: number;
  /** How files are synced (tests hold or fail a sync with it). Default: fs.fdatasync. */
  syncFile?: SyncFile;
}

/** What `info()` reports, for status output and tests. */
export interface SqliteStoreInfo {
  path: string;
  journalMode: string;
  /** SQLite's own syncing: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. NORMAL here: commits are synced by the store (see above). */
  synchronous: number;
  lockingMode: string;
  /** 0: SQLite never checkpoints on its own. */
  walAutocheckpoint: number;
  keys: number;
  events: number;
}

const SCHEMA = `
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
CREATE TABLE kv (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev    INTEGER NOT NULL,
  version    INTEGER NOT NULL
) STRICT;
CREATE TABLE events (
  rev             INTEGER NOT NULL,
  seq             INTEGER NOT NULL,
  key             TEXT NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  value           TEXT NOT NULL,
  create_rev      INTEGER NOT NULL,
  version         INTEGER NOT NULL,
  prev_value      TEXT,
  prev_create_rev INTEGER,
  prev_mod_rev    INTEGER,
  prev_version    INTEGER,
  PRIMARY KEY (rev, seq)
) STRICT;
INSERT INTO meta (name, value) VALUES ('revision', 0), ('compacted_revision', 0);
PRAGMA application_id = ${SQLITE_APPLICATION_ID};
PRAGMA user_version = ${SQLITE_SCHEMA_VERSION};
`;

const KV_COLUMNS = 'key, value, create_rev AS createRevision, mod_rev AS modRevision, version';
const EVENT_COLUMNS = 'rev, key, type, value, create_rev, version, prev_value, prev_create_rev, prev_mod_rev, prev_version';

interface EventRow {
  rev: number;
  key: string;
  type: 'put' | 'delete';
  value: string;
  create_rev: number;
  version: number;
  prev_value: string | null;
  prev_create_rev: number | null;
  prev_mod_rev: number | null;
  prev_version: number | null;
}

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

interface Queued {
  req: TxnRequest;
  resolve: (r: TxnResponse) => void;
  reject: (e: unknown) => void;
}

/** A txn's fate in a batch: applied (outcome) or failed inside SQLite (error). */
type Settled = { outcome: TxnOutcome; error?: undefined } | { outcome?: undefined; error: StoreError };

const NO_KEYS: ReadonlySet<string> = new Set();

export class SqliteStore extends StoreBase {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  /** The revision of the last commit in the file; ahead of `rev` while that commit's sync runs. */
  private head: number;
  /** Txns waiting for the next group commit. */
  private queue: Queued[] = [];
  private flushScheduled = false;
  /** A sync (of a batch, or of the database file after a checkpoint) is running: no commit starts. */
  private syncing = false;
  /** Keys written by the batch being synced: reads of them wait. */
  private unsynced: ReadonlySet<string> = NO_KEYS;
  /** Reads waiting for the running sync; run before the next commit. */
  private readWaiters: (() => void)[] = [];
  /** Called whenever a sync ends (close waits with it). */
  private syncEnded: (() => void)[] = [];
  /** History rows at revisions <= purged are deleted; purging goes on in steps up to purgeTarget. */
  private purged: number;
  private purgeTarget: number;
  private compactWaiters: { rev: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private commitsSinceCheckpoint = 0;
  private firstUncheckpointedAt = 0;
  /** Set when a sync failed: every call throws it. */
  private failure: StoreError | undefined;
  private dbClosed = false;
  private closing: Promise<void> | undefined;
  private readonly walFd: number;
  private readonly dbFd: number;
  private readonly syncFile: SyncFile;
  private readonly checkpointCommits: number;
  private readonly checkpointIntervalMs: number;
  private readonly compactionStep: number;

  private readonly getKv: Stmt<[string], KeyValue>;
  private readonly getModRev: Stmt<[string], number>;
  private readonly putKv: Stmt<[string, string, number, number, number]>;
  private readonly deleteKv: Stmt<[string]>;
  private readonly insertEvent: Stmt<[number, number, string, string, string, number, number, string | null, number | null, number | null, number | null]>;
  private readonly setMeta: Stmt<[number, string]>;
  private readonly listRange: Stmt<[string, string, number], KeyValue>;
  private readonly listFrom: Stmt<[string, number], KeyValue>;
  private readonly countRange: Stmt<[string, string], number>;
  private readonly countFrom: Stmt<[string], number>;
  private readonly eventsRange: Stmt<[number, number, string, string], EventRow>;
  private readonly eventsFrom: Stmt<[number, number, string], EventRow>;
  private readonly deleteEvents: Stmt<[number]>;
  private readonly applyTxn: (req: TxnRequest) => TxnOutcome;
  private readonly applyBatch: (reqs: TxnRequest[], purgeTo: number) => TxnOutcome[];
  private readonly applyCompaction: (rev: number) => void;

  /** Opens (creating if needed) the store in the file at path. Throws StoreError 'Corrupt' or 'Unavailable'. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    super(options);
    this.path = path;
    this.syncFile = options.syncFile ?? ((fd, done) => fdatasync(fd, done));
    this.checkpointCommits = positive(options.checkpointCommits, 1000, 'checkpointCommits');
    this.checkpointIntervalMs = positive(options.checkpointIntervalMs, 1000, 'checkpointIntervalMs');
    this.compactionStep = positive(options.compactionStepRevisions, 1000, 'compactionStepRevisions');
    let db: Database.Database;
    try {
      // A short busy timeout: the only contender is another process holding the
      // file, and waiting for it will not help.
      db = new Database(path, { timeout: 100 });
    } catch (err) {
      throw storeError(err, `cannot open storage file ${path}`);
    }
    this.db = db;
    const fds: number[] = [];
    try {
      const state = openFile(db, path, options.verify !== false);
      this.rev = this.head = state.revision;
      this.compacted = state.compacted;
      // Rows left below the compaction point by a crash in the middle of a purge are purged again.
      this.purgeTarget = state.compacted;
      this.purged = Math.min(state.compacted, state.firstEvent - 1);
      // From here on the store syncs commits itself (see the top of the file).
      db.pragma('wal_autocheckpoint = 0');
      db.pragma('synchronous = NORMAL');
      fds.push(openSync(path, 'r'), openSync(`${path}-wal`, 'r'));
      this.dbFd = fds[0]!;
      this.walFd = fds[1]!;
      this.checkWalFile();
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      db.close();
      throw storeError(err, `cannot open storage file ${path}`);
    }

    this.getKv = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`);
    this.getModRev = db.prepare<[string], number>('SELECT mod_rev FROM kv WHERE key = ?').pluck();
    this.putKv = db.prepare(`INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, create_rev = excluded.create_rev,
      mod_rev = excluded.mod_rev, version = excluded.version`);
    this.deleteKv = db.prepare('DELETE FROM kv WHERE key = ?');
    this.insertEvent = db.prepare(`INSERT INTO events (rev, seq, key, type, value, create_rev, version,
      prev_value, prev_create_rev, prev_mod_rev, prev_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.setMeta = db.prepare('UPDATE meta SET value = ? WHERE name = ?');
    this.listRange = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`);
    this.listFrom = db.prepare(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? ORDER BY key LIMIT ?`);
    this.countRange = db.prepare<[string, string], number>('SELECT count(*) FROM kv WHERE key >= ? AND key < ?').pluck();
    this.countFrom = db.prepare<[string], number>('SELECT count(*) FROM kv WHERE key >= ?').pluck();
    this.eventsRange = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events
      WHERE rev > ? AND rev <= ? AND key >= ? AND key < ? ORDER BY rev, seq`);
    this.eventsFrom = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events
      WHERE rev > ? AND rev <= ? AND key >= ? ORDER BY rev, seq`);
    this.deleteEvents = db.prepare('DELETE FROM events WHERE rev <= ?');
    const compactInTx = (purgeTo: number): void => {
      this.deleteEvents.run(purgeTo);
      this.setMeta.run(this.compacted, 'compacted_revision');
    };
    this.applyTxn = db.transaction((req: TxnRequest) => this.applyTxnInTx(req));
    this.applyBatch = db.transaction((reqs: TxnRequest[], purgeTo: number) => {
      const outcomes = reqs.map((r) => this.applyTxnInTx(r));
      if (purgeTo > 0) compactInTx(purgeTo);
      return outcomes;
    });
    this.applyCompaction = db.transaction(compactInTx);
    if (this.purged < this.purgeTarget) this.scheduleFlush();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    return this.whenDurable(this.unsynced.has(key), () => {
      try {
        const kv = this.getKv.get(key);
        return kv && Object.freeze(kv);
      } catch (err) {
        throw storeError(err, `get ${key}`);
      }
    });
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResponse> {
    this.assertOpen();
    let touched = false;
    for (const k of this.unsynced) if (k.startsWith(prefix)) { touched = true; break; }
    return this.whenDurable(touched, () => this.rangeNow(prefix, opts));
  }

  private rangeNow(prefix: string, opts: RangeOptions): RangeResponse {
    const from = opts.startKey !== undefined ? maxKey(prefix, opts.startKey) : prefix;
    const to = prefixEnd(prefix);
    const revision = this.rev;
    if (to !== undefined && compareKeys(from, to) >= 0) return { kvs: [], revision, more: false, count: 0 };
    try {
      const count = to === undefined ? this.countFrom.get(from) as number : this.countRange.get(from, to) as number;
      if (opts.countOnly) return { kvs: [], revision, more: false, count };
      // SQLite reads LIMIT -1 as no limit.
      const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
      const kvs = to === undefined ? this.listFrom.all(from, limit) : this.listRange.all(from, to, limit);
      for (const kv of kvs) Object.freeze(kv);
      return { kvs, revision, more: kvs.length < count, count };
    } catch (err) {
      throw storeError(err, `range ${prefix}`);
    }
  }

  /** Runs read now, or (when it would see the batch being synced) right after that sync, before any other commit. */
  private whenDurable<T>(wait: boolean, read: () => T): Promise<T> {
    if (!wait) return Promise.resolve(read());
    return new Promise((resolve, reject) => {
      this.readWaiters.push(() => {
        try {
          this.assertOpen();
          resolve(read());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /**
   * Group commit: txns that arrive within one turn of the event loop (or while
   * the previous batch syncs) share one SQLite transaction and one fsync. Each
   * txn still gets its own revision, its own compare, and its promise resolves
   * only after the shared commit is durable.
   */
  txn(req: TxnRequest): Promise<TxnResponse> {
    try {
      this.assertOpen();
      validateTxn(req);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** The compaction point moves now; the rows go in steps inside group commits, and the promise resolves when they are gone. */
  protected dropHistory(rev: number): Promise<void> {
    this.compacted = rev;
    this.purgeTarget = rev;
    return new Promise((resolve, reject) => {
      this.compactWaiters.push({ rev, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    // A running sync flushes when it ends.
    if (this.flushScheduled || this.syncing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Commits the queued txns (and one compaction step) in one SQLite transaction, then syncs the WAL. */
  private flush(): void {
    if (this.syncing || this.dbClosed || this.failure) return;
    const batch = this.queue;
    this.queue = [];
    const purgeTo = this.purgeTarget > this.purged ? Math.min(this.purgeTarget, this.purged + this.compactionStep) : 0;
    if (batch.length === 0 && purgeTo === 0) return;
    const start = this.head;
    let settled: Settled[];
    try {
      settled = this.applyBatch(batch.map((b) => b.req), purgeTo).map((outcome) => ({ outcome }));
      if (purgeTo > 0) this.purged = purgeTo;
    } catch {
      // Something in the batch failed inside SQLite and the whole batch rolled
      // back: run each txn on its own so one bad request fails alone.
      this.head = start;
      settled = batch.map((b): Settled => {
        try {
          return { outcome: this.applyTxn(b.req) };
        } catch (err) {
          this.resyncHead();
          return { error: storeError(err, 'txn') };
        }
      });
      if (purgeTo > 0) {
        try {
          this.applyCompaction(purgeTo);
          this.purged = purgeTo;
        } catch (err) {
          // Stop purging; the next compact() tries again.
          this.purgeTarget = this.purged;
          const e = storeError(err, `compact to ${purgeTo}`);
          for (const w of this.compactWaiters.splice(0)) w.reject(e);
        }
      }
    }
    if (this.head === start && (purgeTo === 0 || this.purged !== purgeTo)) {
      // Nothing was written (failed compares): nothing to sync.
      this.settle(batch, settled);
      return;
    }
    const keys = new Set<string>();
    for (const b of batch) for (const op of b.req.success) keys.add(op.key);
    this.unsynced = keys;
    this.syncing = true;
    this.syncFile(this.walFd, (err) => {
      this.syncing = false;
      this.unsynced = NO_KEYS;
      if (err) {
        const e = storeError(err, `sync of ${this.path}-wal`);
        this.fail(e);
        for (const b of batch) b.reject(e);
      } else {
        this.rev = this.head;
        this.commitsSinceCheckpoint++;
        if (this.commitsSinceCheckpoint === 1) this.firstUncheckpointedAt = Date.now();
        this.settle(batch, settled);
      }
      this.afterSync();
    });
  }

  /** Resolves a durable batch in revision order: watchers first, then the callers. */
  private settle(batch: Queued[], settled: Settled[]): void {
    for (let i = 0; i < batch.length; i++) {
      const s = settled[i]!;
      if (s.error) {
        batch[i]!.reject(s.error);
        continue;
      }
      if (s.outcome.events.length > 0) this.hub.publish(s.outcome.response.revision, s.outcome.events);
      batch[i]!.resolve(s.outcome.response);
    }
    const waiting = this.compactWaiters;
    this.compactWaiters = waiting.filter((w) => w.rev > this.purged);
    for (const w of waiting) if (w.rev <= this.purged) w.resolve();
  }

  /** After a sync: reads that waited for it, then a checkpoint if one is due, then the next batch. */
  private afterSync(): void {
    const readers = this.readWaiters;
    this.readWaiters = [];
    for (const r of readers) r();
    for (const f of this.syncEnded.splice(0)) f();
    if (this.failure || this.dbClosed) return;
    if (this.checkpointDue()) this.checkpoint();
    if (!this.syncing && (this.queue.length > 0 || this.purgeTarget > this.purged)) this.scheduleFlush();
  }

  private checkpointDue(): boolean {
    if (this.commitsSinceCheckpoint === 0) return false;
    return this.commitsSinceCheckpoint >= this.checkpointCommits || Date.now() - this.firstUncheckpointedAt >= this.checkpointIntervalMs;
  }

  /**
   * Copies the WAL (all of it durable: no batch is being synced) into the
   * database file without SQLite's fsyncs, then syncs the file off the loop.
   * No commit starts before that sync ends: the next commit restarts the WAL
   * from its start, overwriting frames whose pages must be on disk first.
   */
  private checkpoint(): void {
    const db = this.db;
    try {
      this.checkWalFile();
      db.pragma('synchronous = OFF');
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
      } finally {
        db.pragma('synchronous = NORMAL');
      }
    } catch (err) {
      // The WAL stays as it is and grows until a later checkpoint succeeds;
      // whatever was copied is still synced below before the WAL restarts.
      if (err instanceof StoreError) {
        this.fail(err);
        return;
      }
    }
    this.commitsSinceCheckpoint = 0;
    this.syncing = true;
    this.syncFile(this.dbFd, (err) => {
      this.syncing = false;
      if (err) this.fail(storeError(err, `sync of ${this.path}`));
      this.afterSync();
    });
  }

  /** Our fd must be the WAL SQLite writes, or the syncs would flush the wrong file. */
  private checkWalFile(): void {
    const ours = fstatSync(this.walFd);
    const now = statSync(`${this.path}-wal`, { throwIfNoEntry: false });
    if (!now || now.ino !== ours.ino || now.dev !== ours.dev) {
      throw new StoreError('Unavailable', `${this.path}-wal was replaced or removed while the store was open`);
    }
  }

  /** A sync failed: what is on disk is unknown, so nothing more is served; reopening recovers from the file. */
  private fail(err: StoreError): void {
    if (this.failure) return;
    this.failure = err;
    for (const q of this.queue.splice(0)) q.reject(err);
    for (const w of this.compactWaiters.splice(0)) w.reject(err);
    this.hub.close(err);
  }

  protected override assertOpen(): void {
    super.assertOpen();
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    if (this.closing) return this.closing;
    // New calls fail from now on; txns already accepted are committed, not dropped.
    this.markClosed();
    this.closing = (async () => {
      while (!this.failure && (this.syncing || this.queue.length > 0 || this.purgeTarget > this.purged)) {
        if (this.syncing) await new Promise<void>((r) => this.syncEnded.push(r));
        else this.flush();
      }
      this.dbClosed = true;
      for (const w of this.compactWaiters.splice(0)) w.reject(new StoreError('Closed', 'storage is closed'));
      closeSync(this.walFd);
      closeSync(this.dbFd);
      // SQLite checkpoints the WAL into the file (with its own fsyncs) and removes it.
      this.db.close();
    })();
    return this.closing;
  }

  info(): SqliteStoreInfo {
    this.assertOpen();
    const db = this.db;
    return {
      path: this.path,
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      lockingMode: String(db.pragma('locking_mode', { simple: true })),
      walAutocheckpoint: Number(db.pragma('wal_autocheckpoint', { simple: true })),
      keys: db.prepare('SELECT count(*) FROM kv').pluck().get() as number,
      events: db.prepare('SELECT count(*) FROM events').pluck().get() as number,
    };
  }

  /** Runs inside one SQLite transaction and advances head; the caller publishes events only after the commit is durable. */
  private applyTxnInTx(req: TxnRequest): TxnOutcome {
    for (const c of req.compare) {
      if ((this.getModRev.get(c.key) ?? 0) !== c.modRevision) {
        const current = req.compare.map((x) => this.readKv(x.key));
        return { response: { succeeded: false, revision: this.head, results: [], current }, events: [] };
      }
    }
    const next = this.head + 1;
    const events: WatchEvent[] = [];
    const results: (KeyValue | undefined)[] = [];
    for (const op of req.success) {
      const prev = this.readKv(op.key);
      if (op.type === 'put') {
        const kv: KeyValue = Object.freeze({
          key: op.key,
          value: op.value,
          createRevision: prev ? prev.createRevision : next,
          modRevision: next,
          version: prev ? prev.version + 1 : 1,
        });
        this.putKv.run(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version);
        this.insertEvent.run(next, events.length, kv.key, 'put', kv.value, kv.createRevision, kv.version,
          prev?.value ?? null, prev?.createRevision ?? null, prev?.modRevision ?? null, prev?.version ?? null);
        events.push(Object.freeze(prev ? { type: 'put' as const, kv, prevKv: prev } : { type: 'put' as const, kv }));
        results.push(kv);
      } else {
        results.push(prev);
        if (!prev) continue;
        this.deleteKv.run(op.key);
        this.insertEvent.run(next, events.length, op.key, 'delete', '', 0, 0,
          prev.value, prev.createRevision, prev.modRevision, prev.version);
        events.push(Object.freeze({ type: 'delete' as const, kv: tombstone(op.key, next), prevKv: prev }));
      }
    }
    // As etcd: a txn that changed nothing does not bump the revision.
    if (events.length === 0) return { response: { succeeded: true, revision: this.head, results }, events };
    this.setMeta.run(next, 'revision');
    // Later txns of the batch see this one's revision. A rolled-back batch resets head.
    this.head = next;
    Object.freeze(events);
    return { response: { succeeded: true, revision: next, results }, events };
  }

  private readKv(key: string): KeyValue | undefined {
    const kv = this.getKv.get(key);
    return kv && Object.freeze(kv);
  }

  protected readEvents(prefix: string, after: number, upTo: number): RevisionEvents[] {
    const to = prefixEnd(prefix);
    let rows: EventRow[];
    try {
      rows = to === undefined ? this.eventsFrom.all(after, upTo, prefix) : this.eventsRange.all(after, upTo, prefix, to);
    } catch (err) {
      throw storeError(err, `read events after revision ${after}`);
    }
    const out: RevisionEvents[] = [];
    for (const r of rows) {
      const event = eventFromRow(r);
      const last = out[out.length - 1];
      if (last && last.revision === r.rev) last.events.push(event);
      else out.push({ revision: r.rev, events: [event] });
    }
    return out;
  }

  /** After a failed transaction: the file's revision (SQLite rolled back). */
  private resyncHead(): void {
    try {
      this.head = readMeta(this.db).revision;
    } catch {
      // The file is unreadable; the next request reports why.
    }
  }
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!(v > 0)) throw new TypeError(`${name} must be positive, got ${String(v)}`);
  return v;
}

interface TxnOutcome {
  response: TxnResponse;
  events: WatchEvent[];
}

function eventFromRow(r: EventRow): WatchEvent {
  const kv = r.type === 'put'
    ? Object.freeze({ key: r.key, value: r.value, createRevision: r.create_rev, modRevision: r.rev, version: r.version })
    : tombstone(r.key, r.rev);
  if (r.prev_mod_rev === null) return Object.freeze({ type: r.type, kv });
  const prevKv: KeyValue = Object.freeze({
    key: r.key,
    value: r.prev_value ?? '',
    createRevision: r.prev_create_rev ?? 0,
    modRevision: r.prev_mod_rev,
    version: r.prev_version ?? 0,
  });
  return Object.freeze({ type: r.type, kv, prevKv });
}

/** Sets the connection up, creates the schema in an empty file, refuses anything else; returns the counters. */
function openFile(db: Database.Database, path: string, verify: boolean): { revision: number; compacted: number; firstEvent: number } {
  // Must precede the switch to WAL: with EXCLUSIVE locking from the start, SQLite
  // keeps the WAL index in heap memory (no -shm file) and never shares the file.
  db.pragma('locking_mode = EXCLUSIVE');
  // The first statement that reads the header: a file that is not SQLite fails here (SQLITE_NOTADB).
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new StoreError('Unavailable', `${path}: cannot switch to WAL journal mode (got ${String(mode)})`);
  db.pragma('synchronous = FULL');

  // BEGIN IMMEDIATE takes the write lock, which EXCLUSIVE mode then keeps until close.
  db.exec('BEGIN IMMEDIATE');
  try {
    const appId = Number(db.pragma('application_id', { simple: true }));
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck().all() as string[];
    if (appId === 0 && tables.length === 0) {
      db.exec(SCHEMA);
    } else if (appId !== SQLITE_APPLICATION_ID) {
      throw new StoreError('Corrupt', `${path} is not an svcnet storage file: it is an SQLite database of another application ` +
        `(application_id ${appId}, tables: ${tables.join(', ') || 'none'})`);
    } else {
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version !== SQLITE_SCHEMA_VERSION) {
        throw new StoreError('Corrupt', `${path} has svcnet storage schema version ${version}; this svcnet reads version ${SQLITE_SCHEMA_VERSION}`);
      }
      const missing = ['events', 'kv', 'meta'].filter((t) => !tables.includes(t));
      if (missing.length > 0) throw new StoreError('Corrupt', `${path} is a damaged svcnet storage file: table(s) ${missing.join(', ')} missing`);
    }
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }

  if (verify) {
    const problems = db.pragma('quick_check(5)', { simple: false }) as { quick_check: string }[];
    if (problems.length !== 1 || problems[0].quick_check !== 'ok') {
      throw new StoreError('Corrupt', `${path} is damaged: ${problems.map((p) => p.quick_check).join('; ')}`);
    }
  }
  const meta = readMeta(db);
  const lastEvent = db.prepare('SELECT max(rev) FROM events').pluck().get() as number | null;
  if (meta.compacted > meta.revision || (lastEvent ?? 0) > meta.revision) {
    throw new StoreError('Corrupt', `${path} is damaged: revision ${meta.revision}, compacted revision ${meta.compacted}, last event at revision ${lastEvent}`);
  }
  const firstEvent = db.prepare('SELECT min(rev) FROM events').pluck().get() as number | null;
  return { ...meta, firstEvent: firstEvent ?? meta.revision + 1 };
}

function readMeta(db: Database.Database): { revision: number; compacted: number } {
  const rows = db.prepare('SELECT name, value FROM meta').all() as { name: string; value: number }[];
  const get = (name: string): number => {
    const row = rows.find((r) => r.name === name);
    if (!row) throw new StoreError('Corrupt', `damaged svcnet storage file: meta row ${name} missing`);
    return row.value;
  };
  return { revision: get('revision'), compacted: get('compacted_revision') };
}

/** Maps SQLite's failures onto the store's error codes, keeping SQLite's message and the original as cause. */
function storeError(err: unknown, context: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  let e: StoreError;
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    e = new StoreError('Corrupt', `${context}: the file is damaged or not an svcnet storage file (${errorMessage(err)})`);
  } else if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    e = new StoreError('Unavailable', `${context}: the file is in use by another process (${errorMessage(err)})`);
  } else {
    e = new StoreError('Unavailable', `${context}: ${errorMessage(err)}`);
  }
  e.cause = err;
  return e;
}

// The embedded, durable backend: one SQLite file (better-sqlite3, synchronous).
//
// Schema (see README.md): `kv` is the current state, `events` the log of every
// change since the compaction point (what watches replay), `meta` the revision
// counters. The file is marked with PRAGMA application_id and user_version so
// that opening some other database fails with a clear error instead of
// scribbling tables into it.
//
// Durability: WAL + synchronous=FULL, so a txn's promise resolves only after its
// commit is fsynced. Txns arriving in one event-loop turn are group-committed
// (one SQLite transaction, one fsync, each txn its own revision); commits are
// serialised on the event loop, which is what makes the revision counter and
// the watch hand-off simple (see watch.ts).
//
// One process per file: the connection runs in EXCLUSIVE locking mode and takes
// the write lock at open, so a second svcnet on the same file fails at once
// ("in use") instead of forking the revision counter. A side effect is that the
// sqlite3 shell cannot read the file while svcnet runs.
import Database from 'better-sqlite3';
import { compareKeys, maxKey, prefixEnd } from './keys.js';
import {
  StoreError, type KeyValue, type RangeOptions, type RangeResponse, type Store, type TxnRequest,
  type TxnResponse, type WatchCallbacks, type WatchEvent, type Watcher,
} from './store.js';
import { tombstone, validateTxn } from './txn.js';
import { WatchHub, errorMessage, type RevisionEvents, type WatchOptions } from './watch.js';

/** 'svnt': marks the file as ours in the SQLite header. */
export const SQLITE_APPLICATION_ID = 0x73766e74;
export const SQLITE_SCHEMA_VERSION = 1;

export interface SqliteStoreOptions extends WatchOptions {
  /**
   * Check every page at open (PRAGMA quick_check) so a damaged file is refused
   * up front rather than failing some later request. Default true; it reads the
   * whole file once.
   */
  verify?: boolean;
}

/** What `info()` reports, for status output and tests. */
export interface SqliteStoreInfo {
  path: string;
  journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  synchronous: number;
  lockingMode: string;
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

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private readonly hub: WatchHub;
  private rev: number;
  private compacted: number;
  private closed = false;

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
  private readonly applyBatch: (reqs: TxnRequest[]) => TxnOutcome[];
  private readonly applyCompaction: (rev: number) => void;

  /** Opens (creating if needed) the store in the file at path. Throws StoreError 'Corrupt' or 'Unavailable'. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.path = path;
    let db: Database.Database;
    try {
      // A short busy timeout: the only contender is another process holding the
      // file, and waiting for it will not help.
      db = new Database(path, { timeout: 100 });
    } catch (err) {
      throw storeError(err, `cannot open storage file ${path}`);
    }
    this.db = db;
    try {
      const state = openFile(db, path, options.verify !== false);
      this.rev = state.revision;
      this.compacted = state.compacted;
    } catch (err) {
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
    this.applyTxn = db.transaction((req: TxnRequest) => this.applyTxnInTx(req));
    this.applyBatch = db.transaction((reqs: TxnRequest[]) => {
      const start = this.rev;
      try {
        return reqs.map((r) => {
          const o = this.applyTxnInTx(r);
          // Later txns of the batch must see this one's revision.
          if (o.events.length > 0) this.rev = o.response.revision;
          return o;
        });
      } catch (e) {
        this.rev = start;
        throw e;
      }
    });
    this.applyCompaction = db.transaction((rev: number) => {
      this.deleteEvents.run(rev);
      this.setMeta.run(rev, 'compacted_revision');
    });

    this.hub = new WatchHub({
      revision: () => this.rev,
      compactedRevision: () => this.compacted,
      readEvents: (prefix, after, upTo) => this.readEvents(prefix, after, upTo),
    }, options);
  }

  /** Open watchers (for tests that check nothing leaks). */
  get watcherCount(): number {
    return this.hub.size;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    try {
      const kv = this.getKv.get(key);
      return kv && Object.freeze(kv);
    } catch (err) {
      throw storeError(err, `get ${key}`);
    }
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResponse> {
    this.assertOpen();
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

  /**
   * Group commit: txns that arrive within one turn of the event loop share one
   * SQLite transaction, so one fsync (the dominant cost of a write) serves all
   * of them. Each txn still gets its own revision, its own compare, and its
   * promise resolves only after the shared commit is durable.
   */
  txn(req: TxnRequest): Promise<TxnResponse> {
    try {
      this.assertOpen();
      validateTxn(req);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private pending: { req: TxnRequest; resolve: (r: TxnResponse) => void; reject: (e: unknown) => void }[] = [];

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.closed) {
      for (const b of batch) b.reject(new StoreError('Closed', 'store is closed'));
      return;
    }
    const base = this.rev;
    let outcomes: TxnOutcome[];
    try {
      outcomes = this.applyBatch(batch.map((b) => b.req));
    } catch {
      // Something in the batch failed inside SQLite and the whole batch rolled
      // back: run each txn on its own so one bad request fails alone.
      this.rev = base;
      this.resyncRevision();
      for (const b of batch) {
        try {
          const o = this.applyTxn(b.req);
          this.commitOutcome(o);
          b.resolve(o.response);
        } catch (err) {
          this.resyncRevision();
          b.reject(storeError(err, 'txn'));
        }
      }
      return;
    }
    // applyBatch advanced this.rev as it went; publish in revision order after the durable commit.
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i]!;
      if (o.events.length > 0) this.hub.publish(o.response.revision, o.events);
      batch[i]!.resolve(o.response);
    }
  }

  private commitOutcome(o: TxnOutcome): void {
    if (o.events.length > 0) {
      this.rev = o.response.revision;
      this.hub.publish(this.rev, o.events);
    }
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): Watcher {
    this.assertOpen();
    return this.hub.watch(prefix, afterRevision, cb);
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  /** Drops the event log at revisions <= rev. Compacting to or below the current compaction point is a no-op. */
  async compact(rev: number): Promise<void> {
    this.assertOpen();
    if (rev > this.rev) {
      throw new StoreError('FutureRevision', `cannot compact to revision ${rev}: it is a future revision (current revision is ${this.rev})`);
    }
    if (rev <= this.compacted) return;
    try {
      this.applyCompaction(rev);
    } catch (err) {
      throw storeError(err, `compact to ${rev}`);
    }
    this.compacted = rev;
  }

  async compactedRevision(): Promise<number> {
    this.assertOpen();
    return this.compacted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Txns already accepted are committed, not dropped.
    this.flush();
    this.closed = true;
    this.hub.close(new StoreError('Closed', 'storage is closed'));
    this.db.close();
  }

  info(): SqliteStoreInfo {
    this.assertOpen();
    const db = this.db;
    return {
      path: this.path,
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      lockingMode: String(db.pragma('locking_mode', { simple: true })),
      keys: db.prepare('SELECT count(*) FROM kv').pluck().get() as number,
      events: db.prepare('SELECT count(*) FROM events').pluck().get() as number,
    };
  }

  /** Runs inside one SQLite transaction; the caller publishes events only after it committed. */
  private applyTxnInTx(req: TxnRequest): TxnOutcome {
    for (const c of req.compare) {
      if ((this.getModRev.get(c.key) ?? 0) !== c.modRevision) {
        const current = req.compare.map((x) => this.readKv(x.key));
        return { response: { succeeded: false, revision: this.rev, results: [], current }, events: [] };
      }
    }
    const next = this.rev + 1;
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
    if (events.length === 0) return { response: { succeeded: true, revision: this.rev, results }, events };
    this.setMeta.run(next, 'revision');
    Object.freeze(events);
    return { response: { succeeded: true, revision: next, results }, events };
  }

  private readKv(key: string): KeyValue | undefined {
    const kv = this.getKv.get(key);
    return kv && Object.freeze(kv);
  }

  private readEvents(prefix: string, after: number, upTo: number): RevisionEvents[] {
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

  private resyncRevision(): void {
    try {
      const m = readMeta(this.db);
      this.rev = m.revision;
      this.compacted = m.compacted;
    } catch {
      // The file is unreadable; the next request reports why.
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('Closed', 'storage is closed');
  }
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
function openFile(db: Database.Database, path: string, verify: boolean): { revision: number; compacted: number } {
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
  return meta;
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

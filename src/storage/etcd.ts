// The etcd backend: the Store contract over an etcd v3 cluster, for more than
// one API server on the same data. No gRPC library: etcd serves its v3 API as
// JSON on the client port too (the gRPC gateway, `POST /v3/...` over HTTP/1.1,
// keys and values base64, int64s as strings, fields at their default value left
// out), so plain node:http with a keep-alive agent is enough.
//
// How our model maps onto etcd's (README.md, "etcd"):
// - Revisions: etcd's empty store is at revision 1, ours at 0. We hand out
//   etcd's revision minus one everywhere (kvs, events, txn and range revisions,
//   compaction), so a fresh etcd numbers like memory and SQLite do, and every
//   resourceVersion stays monotonic across API servers sharing the etcd. etcd
//   mod_revision 0 in a compare means "absent", as our 0 does; it can never be
//   a real revision (the first write is at 2).
// - Txn: etcd refuses two ops on one key in a txn, we define them in sequence.
//   Each key's ops collapse to its last one (sent at that position), and the
//   results are computed from the keys' previous kvs as the ops in sequence
//   give them. etcd records only the collapsed op: one event per key, and the
//   stored version/createRevision are those of one write (put, put leaves
//   version +1 where memory and SQLite say +2). Nothing in svcnet writes one
//   key twice in a txn; the conformance suite runs this variant as a model.
// - Compaction: ours drops history at revisions <= c and keeps revision c's
//   state; etcd's compact(X) keeps revision X but without the prevKv of its
//   events. Ours c is etcd's c+1, so every event we may still deliver (> c)
//   has its prevKv.
// - Watch: one HTTP stream per watch (the gateway cannot take more requests on
//   a stream whose response has started), with prev_kv, from an explicit start
//   revision, so a broken stream is resumed from the last delivered revision
//   on the next endpoint: nothing lost, nothing twice. Progress notifications
//   are not asked for: etcd 3.4 may send one before events it has not sent yet
//   (etcd-io/etcd#15220), so they must not move the resume point.
import http from 'node:http';
import {
  StoreError, type KeyValue, type RangeOptions, type RangeResponse, type Store, type TxnRequest, type TxnResponse,
  type WatchCallbacks, type WatchEvent, type Watcher,
} from './store.js';
import { tombstone, validateTxn } from './txn.js';
import { errorMessage, reportWatchEnd } from './watch.js';

export interface EtcdStoreOptions {
  /** A request with no answer after this long fails with Unavailable (writes: outcome unknown). Default 10000. */
  requestTimeoutMs?: number;
  /** A watch whose stream cannot be re-established for this long ends with Unavailable. Default 15000. */
  watchRetryMs?: number;
}

// ---------------------------------------------------------------------------
// etcd's JSON, as the 3.4 gateway writes it (proto3 JSON with original field names).

interface EtcdHeader { revision?: string }
interface EtcdKV { key?: string; value?: string; create_revision?: string; mod_revision?: string; version?: string }
interface EtcdRangeResponse { header?: EtcdHeader; kvs?: EtcdKV[]; more?: boolean; count?: string }
interface EtcdTxnResponse {
  header?: EtcdHeader;
  succeeded?: boolean;
  responses?: {
    response_range?: EtcdRangeResponse;
    response_put?: { prev_kv?: EtcdKV };
    response_delete_range?: { deleted?: string; prev_kvs?: EtcdKV[] };
  }[];
}
interface EtcdWatchResponse {
  header?: EtcdHeader;
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
  events?: { type?: 'PUT' | 'DELETE'; kv?: EtcdKV; prev_kv?: EtcdKV }[];
}

const b64 = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');
const int = (s: string | undefined): number => (s ? Number(s) : 0);
/** etcd's revision → ours (etcd's empty store is at 1, ours at 0). */
const ours = (etcdRevision: number): number => etcdRevision - 1;
/** Our revision → etcd's. */
const theirs = (revision: number): number => revision + 1;
const NUL = b64(Buffer.from([0]));

function kvOf(kv: EtcdKV): KeyValue {
  return Object.freeze({
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: ours(int(kv.create_revision)),
    modRevision: ours(int(kv.mod_revision)),
    version: int(kv.version),
  });
}

/** The smallest byte string above every key starting with prefix (etcd's range_end for a prefix); undefined when there is none. */
function prefixEndBytes(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** `http://host:port` (or `host:port`) → URL; refuses what this client cannot speak. */
export function parseEtcdEndpoint(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
  } catch {
    throw new Error(`invalid etcd endpoint "${endpoint}": expected http://HOST:PORT`);
  }
  if (u.protocol !== 'http:') throw new Error(`invalid etcd endpoint "${endpoint}": only http:// is supported (no TLS client yet)`);
  if (u.pathname !== '/' || u.search || u.username) throw new Error(`invalid etcd endpoint "${endpoint}": expected http://HOST:PORT`);
  return u;
}

// ---------------------------------------------------------------------------
// Transport errors.

/** No usable answer from an endpoint. `sent`: the whole request went out, so a write may have been applied. */
class ConnectionError extends Error {
  constructor(readonly endpoint: string, readonly sent: boolean, message: string) {
    super(message);
  }
}

/** etcd answered with a gRPC error (the gateway's `{"error","code","message"}`). */
class EtcdError extends Error {
  constructor(readonly endpoint: string, readonly code: number, message: string) {
    super(message);
  }
}

// gRPC codes etcd uses for "this member cannot serve now" (no leader, stopping,
// timed out): another member may.
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

export class EtcdStore implements Store {
  readonly kind = 'etcd';
  readonly endpoints: readonly string[];
  private readonly urls: URL[];
  /** The endpoint that answered last: requests start there. */
  private current = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  /** Watch streams hold their connection for their lifetime: no pooling. */
  readonly watchAgent = new http.Agent({ keepAlive: false });
  private readonly requestTimeoutMs: number;
  readonly watchRetryMs: number;
  private closed = false;
  /** The compaction point as far as this process knows: its own compactions and those etcd reported. */
  private compacted = 0;
  private readonly watchers = new Set<EtcdWatcher>();

  constructor(endpoints: string[], options: EtcdStoreOptions = {}) {
    if (endpoints.length === 0) throw new Error('etcd needs at least one endpoint');
    this.urls = endpoints.map(parseEtcdEndpoint);
    this.endpoints = this.urls.map((u) => u.origin);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.watchRetryMs = options.watchRetryMs ?? 15_000;
  }

  /** Open watchers (for tests that check nothing leaks). */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Fails with Unavailable unless some endpoint answers: lets `openStore` report a wrong URL at start. */
  async ping(): Promise<void> {
    await this.revision();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    if (key === '') return undefined; // etcd cannot hold the empty key
    const r = await this.call<EtcdRangeResponse>('/v3/kv/range', { key: b64(key) }, true);
    return r.kvs?.[0] ? kvOf(r.kvs[0]) : undefined;
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResponse> {
    this.assertOpen();
    const p = Buffer.from(prefix, 'utf8');
    const start = opts.startKey === undefined ? undefined : Buffer.from(opts.startKey, 'utf8');
    let from = start && Buffer.compare(start, p) > 0 ? start : p;
    // etcd has no empty key; "\0" with range_end "\0" is every key.
    if (from.length === 0) from = Buffer.from([0]);
    const end = prefixEndBytes(p);
    if (end && Buffer.compare(from, end) >= 0) {
      return { kvs: [], revision: await this.revision(), more: false, count: 0 };
    }
    const body: Record<string, unknown> = { key: b64(from), range_end: end ? b64(end) : NUL };
    if (opts.limit && opts.limit > 0) body['limit'] = String(opts.limit);
    if (opts.countOnly) body['count_only'] = true;
    const r = await this.call<EtcdRangeResponse>('/v3/kv/range', body, true);
    return {
      kvs: (r.kvs ?? []).map(kvOf),
      revision: ours(int(r.header?.revision)),
      more: r.more === true,
      count: int(r.count),
    };
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    this.assertOpen();
    validateTxn(req);
    for (const x of [...req.compare, ...req.success]) {
      if (x.key === '') throw new TypeError('txn: etcd cannot store the empty key');
    }
    // Each key's last op stands for all of its ops (etcd refuses duplicates).
    const lastOp = new Map<string, number>();
    req.success.forEach((op, i) => lastOp.set(op.key, i));
    const ops = req.success.filter((op, i) => lastOp.get(op.key) === i);
    const r = await this.call<EtcdTxnResponse>('/v3/kv/txn', {
      compare: req.compare.map((c) => ({
        target: 'MOD', result: 'EQUAL', key: b64(c.key),
        mod_revision: String(c.modRevision === 0 ? 0 : theirs(c.modRevision)),
      })),
      success: ops.map((op) => op.type === 'put'
        ? { request_put: { key: b64(op.key), value: b64(op.value), prev_kv: true } }
        : { request_delete_range: { key: b64(op.key), prev_kv: true } }),
      // On failure, read the compared keys in the same txn: the caller learns why.
      failure: req.compare.map((c) => ({ request_range: { key: b64(c.key) } })),
    }, false);
    const revision = ours(int(r.header?.revision));
    const responses = r.responses ?? [];
    if (r.succeeded !== true) {
      const current = req.compare.map((_, i) => {
        const kv = responses[i]?.response_range?.kvs?.[0];
        return kv ? kvOf(kv) : undefined;
      });
      return { succeeded: false, revision, results: [], current };
    }
    const state = new Map<string, KeyValue | undefined>();
    let wrote = false;
    ops.forEach((op, i) => {
      const resp = responses[i];
      if (op.type === 'put') {
        const prev = resp?.response_put?.prev_kv;
        state.set(op.key, prev ? kvOf(prev) : undefined);
        wrote = true;
      } else {
        const prev = resp?.response_delete_range?.prev_kvs?.[0];
        state.set(op.key, prev ? kvOf(prev) : undefined);
        if (int(resp?.response_delete_range?.deleted) > 0) wrote = true;
      }
    });
    // The results, op by op in sequence from each key's previous kv. A put
    // that the collapse dropped (put then delete of an absent key: etcd wrote
    // nothing) reports the revision the txn would have had.
    const rev = wrote ? revision : revision + 1;
    const results = req.success.map((op) => {
      const prev = state.get(op.key);
      if (op.type === 'delete') {
        state.set(op.key, undefined);
        return prev;
      }
      const kv = Object.freeze({
        key: op.key, value: op.value,
        createRevision: prev?.createRevision ?? rev, modRevision: rev, version: (prev?.version ?? 0) + 1,
      });
      state.set(op.key, kv);
      return kv;
    });
    return { succeeded: true, revision, results };
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): Watcher {
    this.assertOpen();
    if (!Number.isSafeInteger(afterRevision) || afterRevision < 0) {
      throw new TypeError(`watch: afterRevision must be a non-negative integer, got ${String(afterRevision)}`);
    }
    if (afterRevision < this.compacted) {
      throw new StoreError('Compacted', `required revision ${afterRevision + 1} has been compacted (compacted revision is ${this.compacted})`);
    }
    // A future revision is found out when etcd accepts the watch (its header
    // has the current revision): another API server may have written past
    // what this one saw, so only etcd can tell. It ends the watch with onError.
    const w = new EtcdWatcher(this, prefix, afterRevision, cb);
    this.watchers.add(w);
    w.connect();
    return w;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    const r = await this.call<EtcdRangeResponse>('/v3/kv/range', { key: NUL, count_only: true }, true);
    return ours(int(r.header?.revision));
  }

  async compact(rev: number): Promise<void> {
    this.assertOpen();
    if (!Number.isSafeInteger(rev) || rev < 0) throw new TypeError(`compact: revision must be a non-negative integer, got ${String(rev)}`);
    if (rev <= this.compacted) return;
    try {
      await this.call('/v3/kv/compaction', { revision: String(theirs(rev)) }, true);
    } catch (e) {
      if (e instanceof StoreError && e.code === 'FutureRevision') {
        const current = await this.revision().catch(() => undefined);
        throw new StoreError('FutureRevision', `cannot compact to revision ${rev}: it is a future revision (current revision is ${current ?? 'unknown'})`);
      }
      // Someone (another API server's compactor) already compacted past it.
      if (!(e instanceof StoreError && e.code === 'Compacted')) throw e;
    }
    this.noteCompacted(rev);
  }

  async compactedRevision(): Promise<number> {
    this.assertOpen();
    return this.compacted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new StoreError('Closed', 'storage is closed');
    for (const w of [...this.watchers]) w.fail(err);
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  // -------------------------------------------------------------------------
  // For EtcdWatcher.

  noteCompacted(rev: number): void {
    if (rev > this.compacted) this.compacted = rev;
  }

  removeWatcher(w: EtcdWatcher): void {
    this.watchers.delete(w);
  }

  /** The endpoint index a new stream should try first. */
  preferredEndpoint(): number {
    return this.current;
  }

  url(i: number): URL {
    return this.urls[i % this.urls.length]!;
  }

  get endpointCount(): number {
    return this.urls.length;
  }

  isClosed(): boolean {
    return this.closed;
  }

  // -------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreError('Closed', 'storage is closed');
  }

  /**
   * One gRPC-gateway call, failing over across endpoints. A request that may
   * have reached etcd is only retried when repeating it is harmless
   * (`idempotent`: reads, compaction); a write whose fate is unknown fails
   * with Unavailable rather than risk being applied twice.
   */
  private async call<T>(path: string, body: unknown, idempotent: boolean): Promise<T> {
    const failures: string[] = [];
    const n = this.urls.length;
    const first = this.current;
    for (let i = 0; i < n; i++) {
      const idx = (first + i) % n;
      const url = this.urls[idx]!;
      try {
        const r = await this.post<T>(url, path, body);
        this.current = idx;
        return r;
      } catch (e) {
        if (this.closed) throw new StoreError('Closed', 'storage is closed');
        if (e instanceof EtcdError) {
          const mapped = mapEtcdError(e);
          if (mapped) throw mapped;
          if (!(e.code === UNAVAILABLE || e.code === DEADLINE_EXCEEDED)) {
            throw new Error(`etcd at ${url.origin}: ${e.message}`);
          }
          if (!idempotent && !/no leader/.test(e.message)) {
            throw new StoreError('Unavailable', `etcd at ${url.origin}: ${e.message} (the write may or may not have been applied)`);
          }
          failures.push(`${url.origin}: ${e.message}`);
          continue;
        }
        if (e instanceof ConnectionError) {
          if (e.sent && !idempotent) {
            throw new StoreError('Unavailable', `etcd at ${url.origin}: ${e.message} (the write may or may not have been applied)`);
          }
          failures.push(`${url.origin}: ${e.message}`);
          continue;
        }
        throw e;
      }
    }
    throw new StoreError('Unavailable', `etcd is unavailable: ${failures.join('; ')}`);
  }

  private post<T>(url: URL, path: string, body: unknown): Promise<T> {
    const data = Buffer.from(JSON.stringify(body), 'utf8');
    return new Promise<T>((resolve, reject) => {
      let sent = false;
      const req = http.request({
        host: url.hostname, port: url.port || 80, path, method: 'POST', agent: this.agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': data.length },
        timeout: this.requestTimeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new ConnectionError(url.origin, true, errorMessage(e))));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: { error?: unknown; code?: number; message?: string };
          try {
            json = JSON.parse(text) as typeof json;
          } catch {
            reject(new ConnectionError(url.origin, true, `answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (res.statusCode === 200 && json.error === undefined) resolve(json as T);
          else reject(new EtcdError(url.origin, json.code ?? -1, json.message ?? String(json.error ?? `HTTP ${res.statusCode}`)));
        });
      });
      req.on('finish', () => { sent = true; });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.requestTimeoutMs} ms`)));
      req.on('error', (e) => reject(new ConnectionError(url.origin, sent, errorMessage(e))));
      req.end(data);
    });
  }
}

/** etcd's errors that are ours too. */
function mapEtcdError(e: EtcdError): StoreError | undefined {
  if (/required revision has been compacted/.test(e.message)) return new StoreError('Compacted', e.message);
  if (/required revision is a future revision/.test(e.message)) return new StoreError('FutureRevision', e.message);
  return undefined;
}

// ---------------------------------------------------------------------------

/** One watch: one gateway stream at a time, re-established from the last delivered revision when it breaks. */
class EtcdWatcher implements Watcher {
  /** The last revision delivered (ours): a new stream starts after it. */
  private last: number;
  private closed = false;
  private req: http.ClientRequest | undefined;
  private endpoint: number;
  private timer: NodeJS.Timeout | undefined;
  private failingSince: number | undefined;
  private backoffMs = 0;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    afterRevision: number,
    private readonly cb: WatchCallbacks,
  ) {
    this.last = afterRevision;
    this.endpoint = store.preferredEndpoint();
  }

  connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    const url = this.store.url(this.endpoint);
    const p = Buffer.from(this.prefix, 'utf8');
    const end = prefixEndBytes(p);
    const body = Buffer.from(JSON.stringify({
      create_request: {
        key: p.length ? b64(p) : NUL,
        range_end: end ? b64(end) : NUL,
        start_revision: String(theirs(this.last + 1)),
        prev_kv: true,
      },
    }), 'utf8');
    const req = http.request({
      host: url.hostname, port: url.port || 80, path: '/v3/watch', method: 'POST', agent: this.store.watchAgent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
    }, (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => this.broken(req, `etcd at ${url.origin} answered ${res.statusCode}: ${text.slice(0, 200)}`));
        res.on('error', (e) => this.broken(req, errorMessage(e)));
        return;
      }
      // The gateway writes one JSON message per line.
      let buf = '';
      res.on('data', (chunk: string) => {
        let from = buf.length;
        buf += chunk;
        for (;;) {
          const nl = buf.indexOf('\n', from);
          if (nl < 0) break;
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          from = 0;
          if (line.trim() !== '') this.message(req, line);
          if (this.closed || this.req !== req) return;
        }
      });
      res.on('end', () => this.broken(req, `etcd at ${url.origin} ended the watch stream`));
      res.on('error', (e) => this.broken(req, errorMessage(e)));
    });
    // Notice a peer that vanished without closing the connection.
    req.on('socket', (s) => s.setKeepAlive(true, 5000));
    req.on('error', (e) => this.broken(req, `etcd at ${url.origin}: ${errorMessage(e)}`));
    this.req = req;
    req.end(body);
  }

  private message(req: http.ClientRequest, line: string): void {
    let m: { result?: EtcdWatchResponse; error?: { message?: string } };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      this.broken(req, `unreadable watch message: ${line.slice(0, 200)}`);
      return;
    }
    if (m.error) {
      this.broken(req, `etcd: ${m.error.message ?? JSON.stringify(m.error)}`);
      return;
    }
    const r = m.result;
    if (!r) return;
    if (r.created) {
      this.failingSince = undefined;
      this.backoffMs = 0;
      const current = ours(int(r.header?.revision));
      if (this.last > current) {
        this.fail(new StoreError('FutureRevision', `required revision ${this.last} is a future revision (current revision is ${current})`));
        return;
      }
    }
    if (r.canceled) {
      const compactRevision = int(r.compact_revision);
      if (compactRevision > 0) {
        const c = ours(compactRevision);
        this.store.noteCompacted(c);
        this.fail(new StoreError('Compacted', `required revision ${this.last + 1} has been compacted (compacted revision is ${c})`));
      } else {
        this.fail(new StoreError('Unavailable', `etcd cancelled the watch: ${r.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    const evs = r.events ?? [];
    // One response may hold several revisions (a replay); a revision is never split.
    for (let i = 0; i < evs.length && !this.closed;) {
      const etcdRev = int(evs[i]!.kv?.mod_revision);
      const batch: WatchEvent[] = [];
      for (; i < evs.length && int(evs[i]!.kv?.mod_revision) === etcdRev; i++) {
        const e = evs[i]!;
        const kv = e.kv ?? {};
        const prevKv = e.prev_kv ? kvOf(e.prev_kv) : undefined;
        const del = e.type === 'DELETE';
        // etcd drops the prevKv of the events at its compaction point: an update
        // or delete without one is from history we declared gone.
        if (!prevKv && (del || int(kv.version) > 1)) {
          this.store.noteCompacted(ours(etcdRev));
          this.fail(new StoreError('Compacted', `required revision ${ours(etcdRev)} has been compacted`));
          return;
        }
        const event: WatchEvent = del
          ? { type: 'delete', kv: tombstone(unb64(kv.key), ours(etcdRev)), prevKv: prevKv! }
          : prevKv ? { type: 'put', kv: kvOf(kv), prevKv } : { type: 'put', kv: kvOf(kv) };
        batch.push(Object.freeze(event));
      }
      const rev = ours(etcdRev);
      if (rev <= this.last) continue; // already delivered (a resumed stream never repeats, but be sure)
      this.last = rev;
      try {
        this.cb.onEvents(batch);
      } catch (err) {
        // The consumer's state may be half-updated: end this watch, as the other backends do.
        const e = new StoreError('Unavailable', `watch callback threw: ${errorMessage(err)}`);
        e.cause = err;
        this.fail(e, err);
        return;
      }
    }
  }

  /** The stream ended or failed: resume on the next endpoint, unless etcd has been unreachable for too long. */
  private broken(req: http.ClientRequest, reason: string): void {
    if (this.closed || this.req !== req) return;
    this.req = undefined;
    req.destroy();
    if (this.store.isClosed()) return;
    const now = Date.now();
    this.failingSince ??= now;
    if (now - this.failingSince >= this.store.watchRetryMs) {
      this.fail(new StoreError('Unavailable', `watch lost: no etcd endpoint for ${now - this.failingSince} ms: ${reason}`));
      return;
    }
    this.endpoint = (this.endpoint + 1) % this.store.endpointCount;
    // Straight to the next endpoint once; then back off up to 1 s per round.
    this.timer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(1000, Math.max(50, this.backoffMs * 2));
  }

  fail(err: StoreError, callbackError?: unknown): void {
    if (this.closed) return;
    this.close();
    reportWatchEnd(this.cb, err, callbackError);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const req = this.req;
    this.req = undefined;
    req?.destroy();
    this.store.removeWatcher(this);
  }
}

// The generic registry: CRUD, list and watch of one resource over a Store, as
// kube-apiserver's generic registry (k8s.io/apiserver/pkg/registry/generic/registry)
// does it: keys /registry/<group>/<resource>/[<namespace>/]<name>, the object's
// resourceVersion is the key's modRevision, every write is a compare-and-swap.
import { randomUUID } from 'node:crypto';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { errors, StatusError, type FieldError } from '../../api/errors.js';
import { groupVersion, type ResourceInfo } from '../../api/resources.js';
import type { Compare, KeyValue, Op, Store, WatchEvent } from '../../storage/store.js';
import { StoreError } from '../../storage/store.js';

/** ObjectMeta as the server writes it (kubernetes-types marks server-set fields readonly). */
export type Meta = { -readonly [K in keyof ObjectMeta]: ObjectMeta[K] };

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  [field: string]: unknown;
}

export interface ListResult {
  items: Obj[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** A predicate over objects (label + field selectors), built by the caller. */
export type ObjFilter = (o: Obj) => boolean;

/** Extra writes that must commit atomically with the object (e.g. IP/port allocations). */
export interface TxnExtras {
  compare: Compare[];
  ops: Op[];
}

/**
 * The per-kind behaviour, as kube-apiserver's RESTCreateStrategy /
 * RESTUpdateStrategy: what is reset on create, kept on update, defaulted and
 * validated. All hooks are synchronous and pure except `txnExtras`, which may
 * read the store (allocation state) and is re-run on every CAS retry.
 */
export interface Strategy {
  /** Resets what a client may not set on create (status when there is a status subresource). */
  prepareForCreate?(obj: Obj): void;
  /** Main-resource update: keep what only the status subresource may change. */
  prepareForUpdate?(obj: Obj, old: Obj): void;
  /** Status update: keep everything but status. */
  prepareForStatusUpdate?(obj: Obj, old: Obj): void;
  defaults?(obj: Obj): void;
  validate?(obj: Obj): FieldError[];
  validateUpdate?(obj: Obj, old: Obj): FieldError[];
  validateStatusUpdate?(obj: Obj, old: Obj): FieldError[];
  /** Whether spec changes bump metadata.generation. */
  tracksGeneration?: boolean;
  /** Object written with the main one, in the same transaction (allocations). Throws StatusError to refuse. */
  txnExtras?(obj: Obj, old: Obj | undefined, op: 'create' | 'update' | 'delete'): Promise<{ obj: Obj; extras: TxnExtras }>;
  /** Whether a delete without grace removes the object at once (pods on a node wait for the node agent). */
  gracefulDeletion?(obj: Obj, gracePeriodSeconds: number | undefined): number | undefined;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Who writes: recorded in managedFields as an Update entry. */
  fieldManager?: string;
  /** The writer already computed managedFields (server-side apply). */
  managedFieldsDone?: boolean;
}

/** Records field ownership of a write (kube's fieldmanager); old undefined on create. */
export type FieldManagement = (old: Obj | undefined, obj: Obj, manager: string, subresource: string) => Obj;

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface ObjWatchEvent {
  type: WatchEventType;
  object: Obj;
}

/** RFC 3339 at second precision, as metav1.Time marshals. */
export function nowTimestamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Encodes a continue token like apiserver's storage (base64 JSON {v, rv, start}). */
export function encodeContinue(rv: number, startKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: startKey })).toString('base64url');
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const j = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (j.v !== 'meta.k8s.io/v1' || typeof j.rv !== 'number' || typeof j.start !== 'string') throw new Error('bad');
    return { rv: j.rv, start: j.start };
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

const MAX_CAS_RETRIES = 16;

export class Registry {
  readonly info: ResourceInfo;
  readonly strategy: Strategy;
  private readonly store: Store;
  private readonly prefix: string;

  private readonly fieldManagement?: FieldManagement;

  constructor(info: ResourceInfo, store: Store, strategy: Strategy = {}, fieldManagement?: FieldManagement) {
    this.fieldManagement = fieldManagement;
    this.info = info;
    this.store = store;
    this.strategy = strategy;
    this.prefix = `/registry/${info.group || 'core'}/${info.plural}/`;
  }

  get groupResource(): { group: string; resource: string } {
    return { group: this.info.group, resource: this.info.plural };
  }

  get groupKind(): { group: string; kind: string } {
    return { group: this.info.group, kind: this.info.kind };
  }

  key(namespace: string | undefined, name: string): string {
    return this.info.namespaced ? `${this.prefix}${namespace}/${name}` : `${this.prefix}${name}`;
  }

  /** The key prefix of a namespace's objects (or all objects when namespace is empty). */
  keyPrefix(namespace?: string): string {
    return this.info.namespaced && namespace ? `${this.prefix}${namespace}/` : this.prefix;
  }

  /** Turns a stored kv into the object a client sees (with resourceVersion). */
  decode(kv: KeyValue): Obj {
    let o: Obj;
    try {
      o = JSON.parse(kv.value) as Obj;
    } catch {
      throw errors.internal(`object at ${kv.key} is not valid JSON`);
    }
    o.apiVersion = groupVersion(this.info);
    o.kind = this.info.kind;
    o.metadata = { ...o.metadata, resourceVersion: String(kv.modRevision) };
    return o;
  }

  private encode(o: Obj): string {
    const copy: Obj = { ...o, metadata: { ...o.metadata } };
    delete copy.metadata.resourceVersion;
    copy.apiVersion = groupVersion(this.info);
    copy.kind = this.info.kind;
    return JSON.stringify(copy);
  }

  async getKV(namespace: string | undefined, name: string): Promise<KeyValue | undefined> {
    return this.store.get(this.key(namespace, name));
  }

  async get(namespace: string | undefined, name: string): Promise<Obj> {
    const kv = await this.getKV(namespace, name);
    if (!kv) throw errors.notFound(this.groupResource, name);
    return this.decode(kv);
  }

  async tryGet(namespace: string | undefined, name: string): Promise<Obj | undefined> {
    const kv = await this.getKV(namespace, name);
    return kv ? this.decode(kv) : undefined;
  }

  async list(namespace: string | undefined, opts: { filter?: ObjFilter; limit?: number; continue?: string } = {}): Promise<ListResult> {
    const prefix = this.keyPrefix(namespace);
    let startKey: string | undefined;
    if (opts.continue) startKey = decodeContinue(opts.continue).start;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const items: Obj[] = [];
    let revision = 0;
    // Fill a page with matching objects, reading the store in chunks; a
    // selective filter must not make one page scan unboundedly many calls.
    const chunk = limit ? Math.max(limit, 100) : 0;
    let more = false;
    let lastKey: string | undefined;
    for (;;) {
      const r = await this.store.range(prefix, { startKey, limit: chunk });
      if (!revision) revision = r.revision;
      let i = 0;
      for (; i < r.kvs.length; i++) {
        const kv = r.kvs[i]!;
        const o = this.decode(kv);
        lastKey = kv.key;
        if (opts.filter && !opts.filter(o)) continue;
        items.push(o);
        if (limit && items.length >= limit) { i++; break; }
      }
      const leftInChunk = i < r.kvs.length;
      if (limit && items.length >= limit) {
        more = leftInChunk || r.more;
        break;
      }
      if (!r.more) break;
      startKey = lastKey + '\0';
    }
    const result: ListResult = { items, resourceVersion: String(revision) };
    if (more && lastKey !== undefined) {
      result.continue = encodeContinue(revision, lastKey + '\0');
      if (!opts.filter) {
        const c = await this.store.range(prefix, { startKey: lastKey + '\0', countOnly: true });
        result.remainingItemCount = c.count;
      }
    }
    return result;
  }

  private invalid(name: string, errs: FieldError[]): StatusError {
    return errors.invalid(this.groupKind, name, errs);
  }

  /** Creates obj (already namespaced and named by the caller, or with generateName). */
  /**
   * Writes that carry allocation state (txnExtras) are serialised within this
   * process: every one of them compares the same allocation key, so running
   * them concurrently only makes all but one fail their compare and retry
   * (under group commit, a whole batch at a time). One API server owns a store
   * (SQLite is opened exclusively), so a local queue is enough; the compare
   * still guards against anything else.
   */
  private allocationQueue: Promise<unknown> = Promise.resolve();

  private serialised<T>(f: () => Promise<T>): Promise<T> {
    if (!this.strategy.txnExtras) return f();
    const run = this.allocationQueue.then(f, f);
    this.allocationQueue = run.catch(() => undefined);
    return run;
  }

  create(obj: Obj, opts: WriteOptions & { internal?: boolean } = {}): Promise<Obj> {
    return this.serialised(() => this.createNow(obj, opts));
  }

  private async createNow(obj: Obj, opts: WriteOptions & { internal?: boolean }): Promise<Obj> {
    const s = this.strategy;
    obj = clone(obj);
    obj.apiVersion = groupVersion(this.info);
    obj.kind = this.info.kind;
    if (!this.info.namespaced) delete obj.metadata.namespace;
    const generated = !obj.metadata.name && !!obj.metadata.generateName;
    if (s.prepareForCreate) s.prepareForCreate(obj);
    if (s.defaults) s.defaults(obj);
    if (this.fieldManagement && opts.fieldManager && !opts.managedFieldsDone) {
      obj = this.fieldManagement(undefined, obj, opts.fieldManager, '');
    }
    const md = obj.metadata;
    for (let attempt = 0; ; attempt++) {
      if (generated) md.name = md.generateName + randomSuffix();
      delete md.resourceVersion;
      md.uid = randomUUID();
      md.creationTimestamp = nowTimestamp();
      delete md.deletionTimestamp;
      delete md.deletionGracePeriodSeconds;
      if (s.tracksGeneration) md.generation = 1; else delete md.generation;
      if (!md.name) {
        throw this.invalid('', [{ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' }]);
      }
      // Internal writes (the apiserver's own endpoints) skip validation, as kube's reconcilers write storage directly.
      const errs = s.validate && !opts.internal ? s.validate(obj) : [];
      if (errs.length) throw this.invalid(md.name, errs);
      let toWrite = obj;
      let extras: TxnExtras = { compare: [], ops: [] };
      if (s.txnExtras) ({ obj: toWrite, extras } = await s.txnExtras(obj, undefined, 'create'));
      if (opts.dryRun) return { ...toWrite, metadata: { ...toWrite.metadata } };
      const key = this.key(md.namespace, md.name);
      const r = await this.store.txn({
        compare: [{ key, modRevision: 0 }, ...extras.compare],
        success: [{ type: 'put', key, value: this.encode(toWrite) }, ...extras.ops],
      });
      if (r.succeeded) return this.decode(r.results[0]!);
      if (r.current?.[0]) {
        // The key exists. A generated name that collided gets another try, as k8s does.
        if (generated && attempt < MAX_CAS_RETRIES) continue;
        throw errors.alreadyExists(this.groupResource, md.name);
      }
      if (attempt >= MAX_CAS_RETRIES) throw errors.internal('too many conflicts writing allocation state');
      // An allocation-state key moved under us: recompute against the new state.
    }
  }

  /**
   * The read-modify-write loop every update goes through (PUT, PATCH, status,
   * finalizer changes): `mutate` builds the desired object from the current
   * one; it is re-run on a CAS conflict unless the caller pinned a resourceVersion.
   */
  guaranteedUpdate(...args: Parameters<Registry['guaranteedUpdateNow']>): Promise<{ obj: Obj; created: boolean }> {
    // A create-if-absent (server-side apply) calls create() from inside: only the outer write waits in the queue.
    if (args[3]?.createIfAbsent) return this.guaranteedUpdateNow(...args);
    return this.serialised(() => this.guaranteedUpdateNow(...args));
  }

  private async guaranteedUpdateNow(
    namespace: string | undefined,
    name: string,
    mutate: (current: Obj) => Obj | Promise<Obj>,
    opts: WriteOptions & {
      subresource?: 'status' | '';
      createIfAbsent?: (() => Promise<Obj>);
      /** A server-internal write (pods/binding): no strategy prepare or validation, as kube's assignPod writes through storage directly. */
      internal?: boolean;
    } = {},
  ): Promise<{ obj: Obj; created: boolean }> {
    const s = this.strategy;
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) {
        if (opts.createIfAbsent) return { obj: await opts.createIfAbsent(), created: true };
        throw errors.notFound(this.groupResource, name);
      }
      const current = this.decode(kv);
      const desired = clone(await mutate(clone(current)));
      const pinnedRV = desired.metadata?.resourceVersion;
      if (pinnedRV && pinnedRV !== current.metadata.resourceVersion) {
        throw errors.staleObject(this.groupResource, name);
      }
      desired.apiVersion = current.apiVersion;
      desired.kind = current.kind;
      if (!desired.metadata) desired.metadata = {};
      const md = desired.metadata;
      const old = current.metadata;
      // Fields the client may not change: kept from the stored object.
      md.name = old.name;
      if (this.info.namespaced) md.namespace = old.namespace; else delete md.namespace;
      md.uid = old.uid;
      md.creationTimestamp = old.creationTimestamp;
      if (old.deletionTimestamp) {
        md.deletionTimestamp = old.deletionTimestamp;
        md.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
      } else {
        delete md.deletionTimestamp;
        delete md.deletionGracePeriodSeconds;
      }
      if (md.generateName === undefined && old.generateName) md.generateName = old.generateName;
      // An unconditional update validates as if it named the stored version (kube sets it before ValidateObjectMetaUpdate).
      if (!md.resourceVersion) md.resourceVersion = old.resourceVersion;
      if (opts.internal) {
        // written as given
      } else if (opts.subresource === 'status') {
        if (s.prepareForStatusUpdate) s.prepareForStatusUpdate(desired, current);
      } else if (s.prepareForUpdate) {
        s.prepareForUpdate(desired, current);
      }
      if (s.defaults) s.defaults(desired);
      let withFields = desired;
      if (this.fieldManagement && opts.fieldManager && !opts.managedFieldsDone) {
        withFields = this.fieldManagement(current, desired, opts.fieldManager, opts.subresource ?? '');
        desired.metadata.managedFields = withFields.metadata.managedFields;
      }
      if (s.tracksGeneration) {
        const g = old.generation ?? 1;
        md.generation = deepEqual(desired['spec'], current['spec']) ? g : g + 1;
      } else {
        delete md.generation;
      }
      const errs = opts.internal ? [] : opts.subresource === 'status'
        ? (s.validateStatusUpdate ? s.validateStatusUpdate(desired, current) : [])
        : (s.validateUpdate ? s.validateUpdate(desired, current) : []);
      if (errs.length) throw this.invalid(name, errs);
      let toWrite = desired;
      let extras: TxnExtras = { compare: [], ops: [] };
      if (s.txnExtras && opts.subresource !== 'status') ({ obj: toWrite, extras } = await s.txnExtras(desired, current, 'update'));
      // A no-op write keeps the resourceVersion, as kube-apiserver does.
      const unchanged = deepEqual({ ...toWrite, metadata: { ...toWrite.metadata, resourceVersion: undefined, managedFields: undefined } },
        { ...current, metadata: { ...current.metadata, resourceVersion: undefined, managedFields: undefined } });
      if (unchanged || opts.dryRun) {
        return { obj: unchanged ? current : { ...toWrite, metadata: { ...toWrite.metadata, resourceVersion: current.metadata.resourceVersion } }, created: false };
      }
      // Finalizers emptied on an object being deleted: the delete completes now.
      if (md.deletionTimestamp && !(md.finalizers?.length)) {
        const r = await this.store.txn({ compare: [{ key, modRevision: kv.modRevision }, ...extras.compare], success: [{ type: 'delete', key }, ...extras.ops] });
        if (r.succeeded) return { obj: { ...toWrite, metadata: { ...toWrite.metadata, resourceVersion: String(r.revision) } }, created: false };
      } else {
        const r = await this.store.txn({
          compare: [{ key, modRevision: kv.modRevision }, ...extras.compare],
          success: [{ type: 'put', key, value: this.encode(toWrite) }, ...extras.ops],
        });
        if (r.succeeded) return { obj: this.decode(r.results[0]!), created: false };
      }
      if (pinnedRV) throw errors.staleObject(this.groupResource, name);
      if (attempt >= MAX_CAS_RETRIES) throw errors.staleObject(this.groupResource, name);
    }
  }

  /**
   * Deletes, or starts a graceful deletion: objects with finalizers (or pods
   * that a node must stop first) get deletionTimestamp and stay until the
   * last finalizer is removed. Returns the object and whether it is gone.
   */
  delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<{ obj: Obj; deleted: boolean }> {
    return this.serialised(() => this.deleteNow(namespace, name, opts));
  }

  private async deleteNow(namespace: string | undefined, name: string, opts: DeleteOptions): Promise<{ obj: Obj; deleted: boolean }> {
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw errors.notFound(this.groupResource, name);
      const current = this.decode(kv);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid) {
        throw errors.conflict(this.groupResource, name,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
        throw errors.conflict(this.groupResource, name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
      }
      const md = current.metadata;
      let finalizers = [...(md.finalizers ?? [])];
      if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
      if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
      const grace = this.strategy.gracefulDeletion ? this.strategy.gracefulDeletion(current, opts.gracePeriodSeconds) : undefined;
      const pending = finalizers.length > 0 || (grace !== undefined && grace > 0);
      if (pending) {
        if (md.deletionTimestamp) {
          // Already terminating: a shorter grace period may still be requested.
          if (grace === undefined || (md.deletionGracePeriodSeconds ?? 0) <= grace || finalizers.length === (md.finalizers?.length ?? 0)) {
            if (grace === undefined || (md.deletionGracePeriodSeconds ?? 0) <= grace) return { obj: current, deleted: false };
          }
        }
        const next = clone(current);
        next.metadata.finalizers = finalizers.length ? finalizers : undefined;
        if (!next.metadata.finalizers) delete next.metadata.finalizers;
        next.metadata.deletionTimestamp = new Date(Date.now() + (grace ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        next.metadata.deletionGracePeriodSeconds = grace ?? 0;
        if (opts.dryRun) return { obj: next, deleted: false };
        const r = await this.store.txn({ compare: [{ key, modRevision: kv.modRevision }], success: [{ type: 'put', key, value: this.encode(next) }] });
        if (r.succeeded) return { obj: this.decode(r.results[0]!), deleted: false };
      } else {
        let extras: TxnExtras = { compare: [], ops: [] };
        if (this.strategy.txnExtras) ({ extras } = await this.strategy.txnExtras(current, current, 'delete'));
        if (opts.dryRun) return { obj: current, deleted: true };
        const r = await this.store.txn({ compare: [{ key, modRevision: kv.modRevision }, ...extras.compare], success: [{ type: 'delete', key }, ...extras.ops] });
        if (r.succeeded) {
          return { obj: { ...current, metadata: { ...current.metadata, resourceVersion: String(r.revision) } }, deleted: true };
        }
      }
      if (attempt >= MAX_CAS_RETRIES) throw errors.staleObject(this.groupResource, name);
    }
  }

  /**
   * Watches objects under the namespace (or all). Events with revision > rv.
   * Translates store events into ADDED/MODIFIED/DELETED, and with a filter
   * turns an object leaving the selection into DELETED and one entering it
   * into ADDED, as the apiserver's watch cache does.
   */
  watch(namespace: string | undefined, afterRevision: number, filter: ObjFilter | undefined,
    onEvent: (events: ObjWatchEvent[]) => void, onError: (e: StatusError) => void): { close(): void } {
    const prefix = this.keyPrefix(namespace);
    const translate = (e: WatchEvent): ObjWatchEvent | undefined => {
      if (e.type === 'delete') {
        if (!e.prevKv) return undefined;
        const o = this.decode(e.prevKv);
        o.metadata.resourceVersion = String(e.kv.modRevision);
        if (filter && !filter(o)) return undefined;
        return { type: 'DELETED', object: o };
      }
      const o = this.decode(e.kv);
      const now = !filter || filter(o);
      if (!e.prevKv) return now ? { type: 'ADDED', object: o } : undefined;
      const before = !filter || filter(this.decode(e.prevKv));
      if (now && before) return { type: 'MODIFIED', object: o };
      if (now) return { type: 'ADDED', object: o };
      if (before) return { type: 'DELETED', object: o };
      return undefined;
    };
    try {
      return this.store.watch(prefix, afterRevision, {
        onEvents: (evs) => {
          const out: ObjWatchEvent[] = [];
          for (const e of evs) {
            try {
              const t = translate(e);
              if (t) out.push(t);
            } catch {
              // A corrupt stored object is skipped, never ends everyone's watch.
            }
          }
          if (out.length) onEvent(out);
        },
        onError: (e) => onError(e.code === 'Compacted' ? errors.resourceExpired() : errors.internal(e.message)),
      });
    } catch (e) {
      if (e instanceof StoreError && e.code === 'Compacted') {
        throw errors.resourceExpired(`too old resource version: ${afterRevision}`);
      }
      if (e instanceof StoreError && e.code === 'FutureRevision') {
        throw errors.timeout(`Too large resource version: ${afterRevision}, current: unknown`);
      }
      throw e;
    }
  }

  async currentRevision(): Promise<number> {
    return this.store.revision();
  }
}

const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
/** 5 characters from the alphabet apimachinery's rand.String uses (no vowels, no confusables). */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

export { isPlainObject };

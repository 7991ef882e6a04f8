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
import { copyJSON, freezeJSONInPlace, frozenJSONCopy, rememberJSON, setOwn } from '../wire.js';

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
  /**
   * The caller hands its object over (create), or `mutate` neither changes
   * its argument nor returns anything shared with it or with anything else,
   * on every call (update): the registry then works on it without a copy.
   */
  owned?: boolean;
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
  /** Read-only: the same object may be handed to every watcher (its JSON: wire.jsonOf). */
  object: Obj;
}

/** RFC 3339 at second precision, as metav1.Time marshals. */
export function nowTimestamp(d = new Date()): string {
  const sec = Math.floor(d.getTime() / 1000);
  if (sec !== lastStampSecond) {
    lastStampSecond = sec;
    lastStamp = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastStamp;
}
let lastStampSecond = NaN;
let lastStamp = '';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values; a member whose value is undefined counts as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>, bo = b as Record<string, unknown>;
  let na = 0;
  for (const k of Object.keys(ao)) {
    const x = ao[k];
    if (x === undefined) continue;
    na++;
    if (!deepEqual(x, bo[k])) return false;
  }
  let nb = 0;
  for (const k of Object.keys(bo)) if (bo[k] !== undefined) nb++;
  return na === nb;
}

/** A deep copy of a JSON-shaped object (much cheaper than structuredClone). */
export function clone<T>(v: T): T {
  return copyJSON(v);
}

/**
 * One stored version of an object, decoded once: `obj` is shared read-only
 * (deep-frozen) by every reader of that version, and its client JSON is
 * `head + "resourceVersion":"<rv>" + tail` (the stored text plus that member).
 */
interface Decoded {
  rev: number;
  obj: Obj;
  head: string;
  tail: string;
  /** The version written before this one, while a filtered watch may still ask whether it matched. */
  prev?: Decoded;
}

const rvMember = (rv: string): string => `"resourceVersion":${JSON.stringify(rv)}`;

/** Objects of recently written versions kept decoded, per resource. */
const DECODED_CACHE_SIZE = 2048;

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
  /** `{"apiVersion":…,"kind":…,"metadata":` — how every stored object of this resource starts. */
  private readonly jsonPrefix: string;
  /**
   * The last version of recently written keys, decoded (key → version): a
   * write's answer, its watch events for every watcher and the next update's
   * read of the same key need no JSON.parse or JSON.stringify of their own.
   * Bounded: the least recently written key goes first (reads of an evicted
   * or older version parse the stored text, as before).
   */
  private readonly decoded = new Map<string, Decoded>();

  constructor(info: ResourceInfo, store: Store, strategy: Strategy = {}, fieldManagement?: FieldManagement) {
    this.fieldManagement = fieldManagement;
    this.info = info;
    this.store = store;
    this.strategy = strategy;
    this.prefix = `/registry/${info.group || 'core'}/${info.plural}/`;
    this.jsonPrefix = `{"apiVersion":${JSON.stringify(groupVersion(info))},"kind":${JSON.stringify(info.kind)},"metadata":`;
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

  /**
   * Turns a stored kv into the object a client sees (with resourceVersion).
   * Read-only: a recently written version is the shared, frozen object of
   * the decoded cache (its JSON remembered, see wire.ts); copy it (clone) to change it.
   */
  decode(kv: KeyValue): Obj {
    const d = this.cached(kv);
    return d ? d.obj : this.parse(kv);
  }

  /** A fresh, mutable decoding of kv. */
  private parse(kv: KeyValue): Obj {
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

  /** The decoded version kv holds, when it is one this registry wrote recently. */
  private cached(kv: KeyValue): Decoded | undefined {
    const d = this.decoded.get(kv.key);
    if (!d) return undefined;
    if (d.rev === kv.modRevision) return d;
    return d.prev?.rev === kv.modRevision ? d.prev : undefined;
  }

  /**
   * The stored text of o: `{"apiVersion","kind","metadata"` (without
   * resourceVersion) then the other members, and the two halves of its
   * client JSON around the resourceVersion member.
   */
  private encode(o: Obj): { value: string; head: string; tail: string } {
    const md: Record<string, unknown> = {};
    const meta = (o.metadata ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(meta)) if (k !== 'resourceVersion') setOwn(md, k, meta[k]);
    const rest: Record<string, unknown> = {};
    for (const k of Object.keys(o)) if (k !== 'apiVersion' && k !== 'kind' && k !== 'metadata') setOwn(rest, k, o[k]);
    const mdJSON = JSON.stringify(md);
    const restJSON = JSON.stringify(rest);
    const restTail = restJSON.length > 2 ? ',' + restJSON.slice(1) : '}';
    return {
      value: this.jsonPrefix + mdJSON + restTail,
      head: this.jsonPrefix + (mdJSON.length > 2 ? mdJSON.slice(0, -1) + ',' : '{'),
      tail: '}' + restTail,
    };
  }

  /**
   * Records the version a successful put wrote (kv, from o encoded as e) and
   * returns it decoded: frozen, shared, its JSON remembered. prevRev is the
   * version it replaced (0 on create). `o` is the registry's own working
   * copy, nobody else's: it becomes that object, frozen in place.
   */
  private written(kv: KeyValue, o: Obj, e: { head: string; tail: string }, prevRev: number): Obj {
    const rv = String(kv.modRevision);
    let obj: Obj;
    if (Object.isFrozen(o) || !o.metadata || Object.isFrozen(o.metadata)) {
      const md: Record<string, unknown> = { ...o.metadata, resourceVersion: rv };
      obj = frozenJSONCopy({ ...o, apiVersion: groupVersion(this.info), kind: this.info.kind, metadata: md }) as Obj;
    } else {
      o.apiVersion = groupVersion(this.info);
      o.kind = this.info.kind;
      o.metadata.resourceVersion = rv;
      obj = freezeJSONInPlace(o);
    }
    rememberJSON(obj, e.head + rvMember(rv) + e.tail);
    const before = this.decoded.get(kv.key);
    const d: Decoded = { rev: kv.modRevision, obj, head: e.head, tail: e.tail };
    if (before && prevRev && before.rev === prevRev) {
      before.prev = undefined;
      d.prev = before;
    }
    this.decoded.delete(kv.key);
    this.decoded.set(kv.key, d);
    if (this.decoded.size > DECODED_CACHE_SIZE) this.decoded.delete(this.decoded.keys().next().value as string);
    return obj;
  }

  /** The object of a delete event: the deleted version with the delete's revision. */
  private deletedObject(prevKv: KeyValue, rev: number): Obj {
    const rv = String(rev);
    const d = this.cached(prevKv);
    if (!d) {
      const o = this.parse(prevKv);
      o.metadata.resourceVersion = rv;
      return o;
    }
    const obj = Object.freeze({ ...d.obj, metadata: Object.freeze({ ...d.obj.metadata, resourceVersion: rv }) }) as Obj;
    rememberJSON(obj, d.head + rvMember(rv) + d.tail);
    return obj;
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
    if (!opts.owned) obj = clone(obj);
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
      const enc = this.encode(toWrite);
      const r = await this.store.txn({
        compare: [{ key, modRevision: 0 }, ...extras.compare],
        success: [{ type: 'put', key, value: enc.value }, ...extras.ops],
      });
      if (r.succeeded) return this.written(r.results[0]!, toWrite, enc, 0);
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
      // current is read-only (possibly the shared decoded version); desired is this write's own.
      const current = this.decode(kv);
      const desired = opts.owned ? await mutate(current) : clone(await mutate(clone(current)));
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
        const enc = this.encode(toWrite);
        const r = await this.store.txn({
          compare: [{ key, modRevision: kv.modRevision }, ...extras.compare],
          success: [{ type: 'put', key, value: enc.value }, ...extras.ops],
        });
        if (r.succeeded) return { obj: this.written(r.results[0]!, toWrite, enc, kv.modRevision), created: false };
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
        const enc = this.encode(next);
        const r = await this.store.txn({ compare: [{ key, modRevision: kv.modRevision }], success: [{ type: 'put', key, value: enc.value }] });
        if (r.succeeded) return { obj: this.written(r.results[0]!, next, enc, kv.modRevision), deleted: false };
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
        const o = this.deletedObject(e.prevKv, e.kv.modRevision);
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
        // etcd reports Compacted and FutureRevision here too (only the server knows, when another API server wrote).
        onError: (e) => onError(e.code === 'Compacted' ? errors.resourceExpired()
          : e.code === 'FutureRevision' ? errors.timeout(`Too large resource version: ${afterRevision}, current: unknown`)
            : errors.internal(e.message)),
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

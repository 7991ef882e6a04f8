// A stateful fake of the Client contract (as knftables' Fake beside its
// interface): an in-memory object store with etcd-style revisions, paged
// lists, watches that replay history from a revision, compaction (a watch from
// before it gets an ERROR 410 Expired event, as kube-apiserver sends), and
// fault injection. For unit tests of informers and controllers; scenario
// tests use the real API server.
//
// Not an API server: no defaulting, validation, admission or generateName
// collisions; patches support 'merge' (and 'apply', treated as a merge).
import { errors } from '../api/errors.js';
import * as fields from '../api/fields.js';
import * as labels from '../api/labels.js';
import { groupVersion, type ResourceInfo } from '../api/resources.js';
import type {
  Client, DeleteOptions, KObject, ListOptions, ListResult, PatchOptions, PatchType, WatchEvent, WatchHandle, WatchOptions, WriteOptions,
} from './types.js';

interface Stored { rev: number; obj: KObject }
interface HistoryEntry { rev: number; key: string; type: 'ADDED' | 'MODIFIED' | 'DELETED'; obj: KObject }
interface FakeWatch {
  prefix: string;
  r: ResourceInfo;
  namespace?: string;
  opts: WatchOptions;
  onEvent: (e: WatchEvent) => void;
  onClose: (err?: Error) => void;
  closed: boolean;
}

/** Which calls a fault applies to. */
export type FakeVerb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete' | 'watch';

function clone<T>(v: T): T { return structuredClone(v); }

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class FakeClient implements Client {
  private rev = 0;
  private compacted = 0;
  private readonly objects = new Map<string, Stored>();
  private readonly history: HistoryEntry[] = [];
  private readonly watches = new Set<FakeWatch>();
  private readonly faults: { verb: FakeVerb; error: Error; times: number }[] = [];
  private nameSeq = 0;
  /** Every call made, in order, e.g. `create configmaps ns/name`. */
  readonly calls: string[] = [];

  /** The current revision. */
  revision(): number { return this.rev; }

  /** Drops history at revisions <= rev: watches from before it get 410. Defaults to the current revision. */
  compact(rev = this.rev): void {
    this.compacted = Math.max(this.compacted, rev);
    const keep = this.history.findIndex((h) => h.rev > this.compacted);
    this.history.splice(0, keep < 0 ? this.history.length : keep);
  }

  /** The next `times` calls of `verb` fail with `error` (before touching state). */
  failNext(verb: FakeVerb, error: Error, times = 1): void { this.faults.push({ verb, error, times }); }

  /** Ends every open watch normally, as a server timeout does. */
  endWatches(): void {
    for (const w of [...this.watches]) this.finish(w);
  }

  openWatches(): number { return this.watches.size; }

  private fault(verb: FakeVerb): Error | undefined {
    const i = this.faults.findIndex((f) => f.verb === verb);
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (--f.times <= 0) this.faults.splice(i, 1);
    return f.error;
  }

  private prefix(r: ResourceInfo): string { return `${r.group}/${r.plural}/`; }
  private key(r: ResourceInfo, namespace: string | undefined, name: string): string {
    return `${this.prefix(r)}${r.namespaced ? (namespace ?? '') : ''}/${name}`;
  }
  private gr(r: ResourceInfo) { return { group: r.group, resource: r.plural }; }

  private selected(r: ResourceInfo, namespace: string | undefined, obj: KObject, opts: { labelSelector?: string; fieldSelector?: string }): boolean {
    if (r.namespaced && namespace && obj.metadata?.namespace !== namespace) return false;
    if (opts.labelSelector && !labels.matches(labels.parse(opts.labelSelector), obj.metadata?.labels ?? {})) return false;
    if (opts.fieldSelector && !fields.objectMatches(r.kind, obj, fields.parse(opts.fieldSelector))) return false;
    return true;
  }

  private write(r: ResourceInfo, key: string, type: HistoryEntry['type'], obj: KObject): KObject {
    const rev = ++this.rev;
    const stored = clone(obj);
    stored.metadata = { ...stored.metadata, resourceVersion: String(rev) };
    if (type === 'DELETED') this.objects.delete(key);
    else this.objects.set(key, { rev, obj: stored });
    this.history.push({ rev, key, type, obj: stored });
    for (const w of this.watches) {
      if (key.startsWith(w.prefix) && this.selected(w.r, w.namespace, stored, w.opts)) this.deliver(w, [{ type, object: clone(stored) }]);
    }
    return clone(stored);
  }

  private deliver(w: FakeWatch, events: WatchEvent[], thenClose?: Error): void {
    // Asynchronously, as a network transport would.
    queueMicrotask(() => {
      for (const e of events) {
        if (w.closed) return;
        w.onEvent(e);
      }
      if (thenClose) this.finish(w, thenClose);
    });
  }

  private finish(w: FakeWatch, err?: Error): void {
    if (w.closed) return;
    w.closed = true;
    this.watches.delete(w);
    w.onClose(err);
  }

  async get<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string): Promise<T> {
    this.calls.push(`get ${r.plural} ${namespace ?? ''}/${name}`);
    const f = this.fault('get'); if (f) throw f;
    const s = this.objects.get(this.key(r, namespace, name));
    if (!s) throw errors.notFound(this.gr(r), name);
    return clone(s.obj) as T;
  }

  async list<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.calls.push(`list ${r.plural} ${namespace ?? ''}${opts.continue ? ' continue' : ''}`);
    const f = this.fault('list'); if (f) throw f;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(this.prefix(r))).sort();
    const start = opts.continue ? Number(opts.continue) : 0;
    const items: T[] = [];
    let i = start;
    for (; i < keys.length; i++) {
      if (opts.limit && items.length >= opts.limit) break;
      const o = this.objects.get(keys[i]!)!.obj;
      if (this.selected(r, namespace, o, opts)) items.push(clone(o) as T);
    }
    const metadata: ListResult['metadata'] = { resourceVersion: String(this.rev) };
    if (i < keys.length) metadata.continue = String(i);
    return { items, metadata };
  }

  async create<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject, _opts?: WriteOptions & { name?: string }): Promise<T> {
    const ns = r.namespaced ? (namespace ?? obj.metadata?.namespace) : undefined;
    let name = obj.metadata?.name;
    if (!name && obj.metadata?.generateName) name = `${obj.metadata.generateName}${(++this.nameSeq).toString(36).padStart(5, '0')}`;
    this.calls.push(`create ${r.plural} ${ns ?? ''}/${name ?? ''}`);
    const f = this.fault('create'); if (f) throw f;
    if (!name) throw errors.invalid({ group: r.group, kind: r.kind }, '', [{ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' }]);
    const key = this.key(r, ns, name);
    if (this.objects.has(key)) throw errors.alreadyExists(this.gr(r), name);
    const o: KObject = { ...clone(obj), apiVersion: groupVersion(r), kind: r.kind };
    o.metadata = { ...o.metadata, name, uid: `uid-${++this.nameSeq}`, creationTimestamp: new Date(0).toISOString() };
    if (ns) o.metadata.namespace = ns;
    return this.write(r, key, 'ADDED', o) as T;
  }

  async update<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, obj: KObject, _opts?: WriteOptions): Promise<T> {
    const ns = r.namespaced ? (namespace ?? obj.metadata?.namespace) : undefined;
    const name = obj.metadata?.name ?? '';
    this.calls.push(`update ${r.plural} ${ns ?? ''}/${name}`);
    const f = this.fault('update'); if (f) throw f;
    const key = this.key(r, ns, name);
    const cur = this.objects.get(key);
    if (!cur) throw errors.notFound(this.gr(r), name);
    const rv = obj.metadata?.resourceVersion;
    if (rv && rv !== String(cur.rev)) throw errors.staleObject(this.gr(r), name);
    const o = { ...clone(obj), apiVersion: groupVersion(r), kind: r.kind };
    o.metadata = { ...cur.obj.metadata, ...o.metadata };
    return this.write(r, key, 'MODIFIED', o) as T;
  }

  async patch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, name: string, type: PatchType, patch: unknown, _opts?: PatchOptions): Promise<T> {
    this.calls.push(`patch ${r.plural} ${namespace ?? ''}/${name}`);
    const f = this.fault('patch'); if (f) throw f;
    if (type !== 'merge' && type !== 'apply') throw errors.unsupportedMediaType(type);
    const key = this.key(r, namespace, name);
    const cur = this.objects.get(key);
    if (!cur) {
      if (type === 'apply') return this.create(r, namespace, { ...(patch as KObject), metadata: { ...(patch as KObject).metadata, name } });
      throw errors.notFound(this.gr(r), name);
    }
    const next = mergePatch(cur.obj, patch) as KObject;
    const rv = (patch as KObject)?.metadata?.resourceVersion;
    if (rv && rv !== String(cur.rev)) throw errors.staleObject(this.gr(r), name);
    return this.write(r, key, 'MODIFIED', next) as T;
  }

  async delete(r: ResourceInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    this.calls.push(`delete ${r.plural} ${namespace ?? ''}/${name}`);
    const f = this.fault('delete'); if (f) throw f;
    const key = this.key(r, namespace, name);
    const cur = this.objects.get(key);
    if (!cur) throw errors.notFound(this.gr(r), name);
    if (opts.preconditions?.uid && opts.preconditions.uid !== cur.obj.metadata?.uid) {
      throw errors.conflict(this.gr(r), name, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${cur.obj.metadata?.uid}`);
    }
    this.write(r, key, 'DELETED', cur.obj);
  }

  watch<T extends KObject = KObject>(r: ResourceInfo, namespace: string | undefined, opts: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void, onClose: (err?: Error) => void): WatchHandle {
    this.calls.push(`watch ${r.plural} ${namespace ?? ''} rv=${opts.resourceVersion ?? ''}`);
    const w: FakeWatch = {
      prefix: this.prefix(r), r, namespace: r.namespaced ? namespace : undefined, opts,
      onEvent: onEvent as (e: WatchEvent) => void, onClose, closed: false,
    };
    const handle = { close: () => this.finish(w) };
    const f = this.fault('watch');
    if (f) {
      w.closed = true;
      queueMicrotask(() => onClose(f));
      return handle;
    }
    const rvText = opts.resourceVersion ?? '';
    const initial: WatchEvent[] = [];
    if (rvText === '' || rvText === '0') {
      for (const [k, s] of this.objects) {
        if (k.startsWith(w.prefix) && this.selected(r, w.namespace, s.obj, opts)) initial.push({ type: 'ADDED', object: clone(s.obj) });
      }
    } else {
      const from = Number(rvText);
      if (from < this.compacted) {
        const e = errors.resourceExpired(`too old resource version: ${from} (${this.compacted + 1})`);
        this.watches.add(w);
        this.deliver(w, [{ type: 'ERROR', object: e.status as unknown as KObject }], e);
        return handle;
      }
      for (const h of this.history) {
        if (h.rev > from && h.key.startsWith(w.prefix) && this.selected(r, w.namespace, h.obj, opts)) initial.push({ type: h.type, object: clone(h.obj) });
      }
    }
    this.watches.add(w);
    if (initial.length) this.deliver(w, initial);
    return handle;
  }
}


// The informer's cache, split as kube-rs's reflector store: one writer that
// applies watch events and relists synchronously (and reports what changed,
// for event handlers), and any number of readers that only look. Objects are
// stored as received and must not be mutated by readers. Besides the
// namespace index, named indexes (client-go's Indexers: a function from an
// object to the values it is filed under) are kept up to date on every add,
// update, delete and relist, so a reader finds e.g. the pods with a label
// without scanning the cache.
import type { KObject, WatchEvent } from './types.js';

/** `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function objectKey(obj: KObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** Splits a key made by objectKey. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export type CacheChange<T extends KObject = KObject> =
  | { type: 'add'; obj: T }
  | { type: 'update'; old: T; obj: T }
  /** `obj` is the last state known: the DELETED event's object, or the cached one for a delete discovered by a relist. */
  | { type: 'delete'; obj: T };

/**
 * The values an object is filed under in a named index (client-go's
 * IndexFunc). Must be pure and cheap: it runs on every change of every
 * object. Duplicates are ignored.
 */
export type IndexFunc<T extends KObject = KObject> = (obj: T) => readonly string[];

class Index<T extends KObject> {
  /** value → key → object. */
  readonly byValue = new Map<string, Map<string, T>>();
  constructor(readonly fn: IndexFunc<T>) {}

  add(key: string, obj: T, values: readonly string[]): void {
    for (const v of values) {
      let m = this.byValue.get(v);
      if (!m) this.byValue.set(v, (m = new Map()));
      m.set(key, obj);
    }
  }

  remove(key: string, values: readonly string[]): void {
    for (const v of values) {
      const m = this.byValue.get(v);
      if (!m) continue;
      m.delete(key);
      if (!m.size) this.byValue.delete(v);
    }
  }
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class CacheState<T extends KObject> {
  byKey = new Map<string, T>();
  /** namespace ('' for cluster-scoped) → key → object. */
  byNamespace = new Map<string, Map<string, T>>();
  indexes = new Map<string, Index<T>>();
  synced = false;
  resourceVersion = '';

  put(key: string, obj: T): void {
    const old = this.byKey.get(key);
    this.byKey.set(key, obj);
    const ns = obj.metadata?.namespace ?? '';
    if (old && (old.metadata?.namespace ?? '') !== ns) this.dropFromNamespace(key, old);
    let s = this.byNamespace.get(ns);
    if (!s) this.byNamespace.set(ns, (s = new Map()));
    s.set(key, obj);
    for (const idx of this.indexes.values()) {
      const now = idx.fn(obj);
      if (old) {
        const before = idx.fn(old);
        // The common update (status, not labels) files the object under the same values: replace it in place.
        if (!sameValues(before, now)) idx.remove(key, before);
      }
      idx.add(key, obj, now);
    }
  }

  remove(key: string): T | undefined {
    const old = this.byKey.get(key);
    if (!old) return undefined;
    this.byKey.delete(key);
    this.dropFromNamespace(key, old);
    for (const idx of this.indexes.values()) idx.remove(key, idx.fn(old));
    return old;
  }

  private dropFromNamespace(key: string, old: T): void {
    const ns = old.metadata?.namespace ?? '';
    const s = this.byNamespace.get(ns);
    if (s) {
      s.delete(key);
      if (!s.size) this.byNamespace.delete(ns);
    }
  }
}

export class CacheReader<T extends KObject = KObject> {
  /** @internal */
  constructor(private readonly s: CacheState<T>) {}

  get(namespace: string | undefined, name: string): T | undefined {
    return this.s.byKey.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined { return this.s.byKey.get(key); }

  /** Every object, or those of one namespace (served from the namespace index). */
  list(namespace?: string): T[] {
    if (namespace === undefined) return [...this.s.byKey.values()];
    const objs = this.s.byNamespace.get(namespace);
    return objs ? [...objs.values()] : [];
  }

  /** Whether an index of that name was added (CacheWriter.addIndex). */
  hasIndex(name: string): boolean { return this.s.indexes.has(name); }

  /** The objects filed under `value` in the named index (client-go's ByIndex); throws for an index never added. */
  byIndex(name: string, value: string): T[] {
    const idx = this.s.indexes.get(name);
    if (!idx) throw new Error(`cache has no index ${JSON.stringify(name)}`);
    const objs = idx.byValue.get(value);
    return objs ? [...objs.values()] : [];
  }

  /** How many objects are filed under `value` in the named index (0 for an unknown index). */
  countByIndex(name: string, value: string): number {
    return this.s.indexes.get(name)?.byValue.get(value)?.size ?? 0;
  }

  keys(): string[] { return [...this.s.byKey.keys()]; }

  get size(): number { return this.s.byKey.size; }

  /** True once a full list has been applied. */
  hasSynced(): boolean { return this.s.synced; }

  /** The resourceVersion the cache reflects (from the last list, event or bookmark). */
  get resourceVersion(): string { return this.s.resourceVersion; }
}

export class CacheWriter<T extends KObject = KObject> {
  readonly reader: CacheReader<T>;
  /** @internal */
  constructor(private readonly s: CacheState<T>) { this.reader = new CacheReader(s); }

  /**
   * Adds a named index, filled at once from the current content and kept up
   * to date from then on. Adding the same name again with the same function
   * is a no-op (controllers sharing an informer may each ask for it); with a
   * different function it throws.
   */
  addIndex(name: string, fn: IndexFunc<T>): void {
    const cur = this.s.indexes.get(name);
    if (cur) {
      if (cur.fn !== fn) throw new Error(`cache index ${JSON.stringify(name)} already exists with another function`);
      return;
    }
    const idx = new Index(fn);
    for (const [k, o] of this.s.byKey) idx.add(k, o, fn(o));
    this.s.indexes.set(name, idx);
  }

  /** Applies one watch event; returns what changed (nothing for bookmarks, errors, or deletes of unknown objects). */
  apply(e: WatchEvent<T>): CacheChange<T> | undefined {
    const rv = e.object?.metadata?.resourceVersion;
    if (e.type === 'ERROR') return undefined;
    if (rv) this.s.resourceVersion = rv;
    if (e.type === 'BOOKMARK') return undefined;
    const key = objectKey(e.object);
    if (e.type === 'DELETED') {
      const old = this.s.remove(key);
      return old ? { type: 'delete', obj: e.object } : undefined;
    }
    const old = this.s.byKey.get(key);
    this.s.put(key, e.object);
    return old ? { type: 'update', old, obj: e.object } : { type: 'add', obj: e.object };
  }

  /**
   * Replaces the whole content with a fresh list (after a relist). Objects no
   * longer listed become synthetic deletes — their DELETED events were lost
   * with the watch — and listed objects whose resourceVersion moved become
   * updates, so handlers see exactly the difference.
   */
  replace(items: readonly T[], resourceVersion: string): CacheChange<T>[] {
    const next = new Map<string, T>();
    for (const o of items) next.set(objectKey(o), o);
    const changes: CacheChange<T>[] = [];
    for (const [k, old] of [...this.s.byKey]) {
      if (!next.has(k)) {
        this.s.remove(k);
        changes.push({ type: 'delete', obj: old });
      }
    }
    for (const [k, o] of next) {
      const old = this.s.byKey.get(k);
      this.s.put(k, o);
      if (!old) changes.push({ type: 'add', obj: o });
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion || !o.metadata?.resourceVersion) {
        changes.push({ type: 'update', old, obj: o });
      }
    }
    this.s.resourceVersion = resourceVersion;
    this.s.synced = true;
    return changes;
  }
}

/** A new empty cache: one writer (give it to the reflector) and its reader. */
export function createCache<T extends KObject = KObject>(): { writer: CacheWriter<T>; reader: CacheReader<T> } {
  const writer = new CacheWriter<T>(new CacheState<T>());
  return { writer, reader: writer.reader };
}

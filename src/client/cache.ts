// The informer's cache, split as kube-rs's reflector store: one writer that
// applies watch events and relists synchronously (and reports what changed,
// for event handlers), and any number of readers that only look. Objects are
// stored as received and must not be mutated by readers.
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

class CacheState<T extends KObject> {
  byKey = new Map<string, T>();
  /** namespace ('' for cluster-scoped) → keys. */
  byNamespace = new Map<string, Set<string>>();
  synced = false;
  resourceVersion = '';

  put(key: string, obj: T): void {
    this.byKey.set(key, obj);
    const ns = obj.metadata?.namespace ?? '';
    let s = this.byNamespace.get(ns);
    if (!s) this.byNamespace.set(ns, (s = new Set()));
    s.add(key);
  }

  remove(key: string): T | undefined {
    const old = this.byKey.get(key);
    if (!old) return undefined;
    this.byKey.delete(key);
    const ns = old.metadata?.namespace ?? '';
    const s = this.byNamespace.get(ns);
    if (s) {
      s.delete(key);
      if (!s.size) this.byNamespace.delete(ns);
    }
    return old;
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
    const keys = this.s.byNamespace.get(namespace);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) out.push(this.s.byKey.get(k)!);
    return out;
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

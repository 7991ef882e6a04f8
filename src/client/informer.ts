// Informers: a reflector (the watcher state machine of watcher.ts driven
// against a Client) filling a cache, with event handlers and sync tracking;
// and a factory that shares one informer per (resource, namespace, selectors)
// among every controller of a process, as client-go's SharedInformerFactory.
import type { ResourceInfo } from '../api/resources.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { createCache, type CacheChange, type CacheReader, type CacheWriter, type IndexFunc } from './cache.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { errorText, silentLogger, type Logger } from './log.js';
import type { Transform } from './transform.js';
import type { Client, KObject, WatchEvent, WatchHandle } from './types.js';
import { initialWatcherState, step, type WatcherEffect, type WatcherInput, type WatcherState } from './watcher.js';

export { step, initialWatcherState, isExpired } from './watcher.js';
export type { WatcherState, WatcherInput, WatcherEffect, StepResult, WatcherConfig } from './watcher.js';
export { createCache, objectKey, splitKey, CacheReader, CacheWriter } from './cache.js';
export type { CacheChange, IndexFunc } from './cache.js';

/** What to watch: all namespaces when `namespace` is undefined. */
export interface InformerScope {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface InformerOptions extends InformerScope {
  /** List page size. Default 500. */
  pageSize?: number;
  clock?: Clock;
  log?: Logger;
  backoff?: BackoffOptions;
  /** Server-side watch timeout range [min, 2·min) seconds, as client-go's reflector (default 300). */
  minWatchTimeoutSeconds?: number;
  random?: () => number;
  /** Applied to every listed or watched object before it is cached and handed to handlers (client-go's TransformFunc). */
  transform?: Transform;
}

export interface ResourceEventHandler<T extends KObject = KObject> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, obj: T): void;
  onDelete?(obj: T): void;
}

export interface Registration { dispose(): void }

/** Where the reflector puts what it learns. */
export interface ReflectorSink {
  replace(items: readonly KObject[], resourceVersion: string): void;
  apply(event: WatchEvent): void;
}

/**
 * The thin, effectful half of the watcher: performs effects with a Client
 * and a Clock, feeds their outcomes back into step(). Inputs that arrive while
 * an input is being processed (an in-process client may call back
 * synchronously) are queued, so each step sees the state the previous left.
 */
export class Reflector {
  private state: WatcherState = initialWatcherState;
  private readonly inputs: WatcherInput[] = [];
  private stepping = false;
  private closed = false;
  private started = false;
  private watchHandle: WatchHandle | undefined;
  /** Bumped whenever a watch or list is abandoned: callbacks from older ones are ignored. */
  private watchGen = 0;
  private listGen = 0;
  private timer: TimerHandle | undefined;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;

  constructor(private readonly client: Client, readonly resource: ResourceInfo, private readonly opts: InformerOptions,
    private readonly sink: ReflectorSink) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.random = opts.random ?? Math.random;
    this.backoff = new Backoff({ random: this.random, ...opts.backoff });
  }

  /** The current state (for tests and status). */
  get phase(): WatcherState['phase'] { return this.state.phase; }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.feed({ type: 'Resume' });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inputs.length = 0;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.listGen++;
    this.stopWatch();
  }

  private feed(input: WatcherInput): void {
    if (this.closed) return;
    this.inputs.push(input);
    if (this.stepping) return;
    this.stepping = true;
    try {
      while (this.inputs.length && !this.closed) {
        const r = step(this.state, this.inputs.shift()!, { pageSize: this.opts.pageSize ?? 500 });
        this.state = r.state;
        for (const e of r.effects) {
          if (this.closed) break;
          this.perform(e);
        }
      }
    } finally {
      this.stepping = false;
    }
  }

  private what(): Record<string, unknown> {
    return { resource: this.resource.plural, group: this.resource.group, namespace: this.opts.namespace ?? '' };
  }

  private perform(e: WatcherEffect): void {
    switch (e.type) {
      case 'List': {
        const gen = ++this.listGen;
        // Through a promise so that a transport throwing synchronously is a failed list, not a crash.
        Promise.resolve().then(() => this.client.list(this.resource, this.opts.namespace, {
          labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: e.limit, continue: e.continue,
        })).then(
          (page) => { if (gen === this.listGen) this.feed({ type: 'ListPage', page }); },
          (err: unknown) => { if (gen === this.listGen) this.feed({ type: 'ListFailed', error: asError(err) }); },
        );
        return;
      }
      case 'Watch': {
        this.stopWatch();
        const gen = ++this.watchGen;
        const min = this.opts.minWatchTimeoutSeconds ?? 300;
        this.log.debug('watch', { ...this.what(), resourceVersion: e.resourceVersion });
        const onEvent = (ev: WatchEvent) => { if (gen === this.watchGen) this.feed({ type: 'WatchEvent', event: ev }); };
        const onClose = (err?: Error) => {
          if (gen !== this.watchGen) return;
          this.watchHandle = undefined;
          this.watchGen++;
          this.feed({ type: 'WatchClosed', error: err });
        };
        let handle: WatchHandle;
        try {
          handle = this.client.watch(this.resource, this.opts.namespace, {
            resourceVersion: e.resourceVersion, allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector,
            timeoutSeconds: Math.floor(min * (1 + this.random())),
          }, onEvent, onClose);
        } catch (err) {
          // A transport that throws instead of calling onClose: the same failure.
          onClose(asError(err));
          return;
        }
        // A transport that calls back synchronously may already have ended or abandoned this watch.
        if (gen === this.watchGen) this.watchHandle = handle;
        else handle.close();
        return;
      }
      case 'StopWatch':
        this.stopWatch();
        return;
      case 'Replace':
        this.log.debug('listed', { ...this.what(), items: e.items.length, resourceVersion: e.resourceVersion });
        this.sink.replace(e.items, e.resourceVersion);
        return;
      case 'Apply':
        this.sink.apply(e.event);
        return;
      case 'Backoff': {
        const delay = this.backoff.next();
        this.log.warn('list/watch failed; retrying', { ...this.what(), error: errorText(e.error), retryInMs: Math.round(delay) });
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          this.feed({ type: 'Resume' });
        }, delay);
        return;
      }
      case 'ResetBackoff':
        this.backoff.reset();
        return;
    }
  }

  private stopWatch(): void {
    this.watchGen++;
    const h = this.watchHandle;
    this.watchHandle = undefined;
    h?.close();
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A reflector, its cache, and the handlers told about every change. */
export class Informer<T extends KObject = KObject> {
  readonly store: CacheReader<T>;
  private readonly writer: CacheWriter<T>;
  private readonly reflector: Reflector;
  private readonly handlers = new Set<ResourceEventHandler<T>>();
  private readonly syncWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private readonly log: Logger;
  private closed = false;

  constructor(client: Client, readonly resource: ResourceInfo, readonly opts: InformerOptions = {}) {
    const { writer, reader } = createCache<T>();
    this.writer = writer;
    this.store = reader;
    this.log = opts.log ?? silentLogger;
    const t = opts.transform;
    this.reflector = new Reflector(client, resource, opts, {
      replace: (items, rv) => this.notify(this.writer.replace((t ? items.map(t) : items) as T[], rv), true),
      apply: (e) => {
        const ev = t && (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') ? { type: e.type, object: t(e.object) } : e;
        const c = this.writer.apply(ev as WatchEvent<T>);
        this.notify(c ? [c] : [], false);
      },
    });
  }

  /** The reflector's phase: Empty, Listing, Watching or WatchPending. */
  get phase(): WatcherState['phase'] { return this.reflector.phase; }

  /**
   * Registers handlers. Objects already in the cache are replayed to the new
   * handler as adds, so a handler registered after sync misses nothing.
   */
  addEventHandler(h: ResourceEventHandler<T>): Registration {
    this.handlers.add(h);
    if (this.store.hasSynced()) for (const o of this.store.list()) this.call(h, { type: 'add', obj: o });
    return { dispose: () => { this.handlers.delete(h); } };
  }

  start(): void { this.reflector.start(); }

  /** Adds a named index to the cache (see CacheWriter.addIndex); read it with `store.byIndex`. */
  addIndex(name: string, fn: IndexFunc<T>): void { this.writer.addIndex(name, fn); }

  hasSynced(): boolean { return this.store.hasSynced(); }

  /** Resolves once the first full list is in the cache; rejects if the informer is closed first. */
  waitForSync(): Promise<void> {
    if (this.store.hasSynced()) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`informer for ${this.resource.plural} closed before it synced`));
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reflector.close();
    this.handlers.clear();
    for (const w of this.syncWaiters.splice(0)) w.reject(new Error(`informer for ${this.resource.plural} closed before it synced`));
  }

  private notify(changes: CacheChange<T>[], fromList: boolean): void {
    for (const c of changes) for (const h of [...this.handlers]) this.call(h, c);
    if (fromList) for (const w of this.syncWaiters.splice(0)) w.resolve();
  }

  private call(h: ResourceEventHandler<T>, c: CacheChange<T>): void {
    // A handler that throws is a bug in it; it must not stop the reflector or the other handlers.
    try {
      if (c.type === 'add') h.onAdd?.(c.obj);
      else if (c.type === 'update') h.onUpdate?.(c.old, c.obj);
      else h.onDelete?.(c.obj);
    } catch (e) {
      this.log.error('informer event handler failed', { resource: this.resource.plural, error: errorText(e) });
    }
  }
}

export interface InformerFactoryOptions {
  clock?: Clock;
  log?: Logger;
  pageSize?: number;
  backoff?: BackoffOptions;
  minWatchTimeoutSeconds?: number;
  /** For every informer of the factory (see InformerOptions.transform). */
  transform?: Transform;
}

/** One informer per (resource, namespace, selectors), shared by everyone asking; owns them all. */
export class InformerFactory {
  private readonly informers = new Map<string, Informer>();
  private started = false;
  private closed = false;

  constructor(private readonly client: Client, private readonly opts: InformerFactoryOptions = {}) {}

  /** The shared informer; started at once if the factory already is. */
  informer<T extends KObject = KObject>(r: ResourceInfo, scope: InformerScope = {}): Informer<T> {
    if (this.closed) throw new Error('informer factory is closed');
    const key = [r.group, r.version, r.plural, scope.namespace ?? '', scope.labelSelector ?? '', scope.fieldSelector ?? ''].join('|');
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, r, { ...this.opts, ...scope });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /** The existing informer for exactly this scope, if any (does not create one). */
  existing<T extends KObject = KObject>(r: ResourceInfo, scope: InformerScope = {}): Informer<T> | undefined {
    const key = [r.group, r.version, r.plural, scope.namespace ?? '', scope.labelSelector ?? '', scope.fieldSelector ?? ''].join('|');
    return this.informers.get(key) as unknown as Informer<T> | undefined;
  }

  start(): void {
    if (this.closed) return;
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  /** Resolves when every informer created so far has synced. */
  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const inf of this.informers.values()) inf.close();
    this.informers.clear();
  }
}

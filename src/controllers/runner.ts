// The loop around a pure Reconciler (controller-runtime's controller, level
// triggered): informers turn every change into keys, a rate-limited work
// queue hands each key to one worker at a time, the worker asks the
// reconciler for a plan against the informers' caches and applies the plan's
// writes in order. A failure anywhere requeues that key with per-key backoff;
// nothing one key does can stop the others.
import { isStatusError } from '../api/errors.js';
import type { ResourceInfo } from '../api/resources.js';
import { systemClock, type Clock } from '../client/clock.js';
import { EventRecorder } from '../client/events.js';
import { withoutTrimmedManagedFields } from '../client/transform.js';
import type { InformerFactory, Registration } from '../client/informer.js';
import { errorText, silentLogger, type Logger } from '../client/log.js';
import type { Client, KObject } from '../client/types.js';
import { WorkQueue, type RateLimiter } from '../client/workqueue.js';
import type { Action, Cache, Plan, Reconciler } from './types.js';

export interface RunControllerDeps {
  client: Client;
  /** Shared informers; the runner asks it for one informer per watched resource and never closes it. */
  informers: InformerFactory;
  clock?: Clock;
  /** Keys reconciled concurrently (never the same key twice at once). Default: the reconciler's `workers`, else 2. */
  workers?: number;
  log?: Logger;
  rateLimiter?: RateLimiter;
}

export interface ControllerMetrics {
  /** reconcile() calls (including ones that threw). */
  reconciles: number;
  /** Reconciles that threw or whose plan failed to apply. */
  errors: number;
  /** Keys requeued with backoff. */
  retries: number;
  /** API writes applied (benign AlreadyExists/NotFound included). */
  actions: number;
  eventsRecorded: number;
  queueDepth: number;
  /** Duration of the last reconcile + apply, by the controller's clock. */
  lastDurationMs: number;
  lastError?: string;
}

export interface RunningController {
  readonly name: string;
  /** Resolves once every watched informer has synced and workers run; rejects if closed before. */
  waitForSync(): Promise<void>;
  metrics(): ControllerMetrics;
  /** Stops handing out keys, waits for workers to finish their current key and for event writes. */
  close(): Promise<void>;
}

/** AlreadyExists on create and NotFound on delete mean the world is already as the plan wants. */
function benign(a: Action, e: unknown): boolean {
  if (!isStatusError(e)) return false;
  if (a.verb === 'create' && e.code === 409 && e.reason === 'AlreadyExists') return true;
  if (a.verb === 'delete' && e.code === 404) return true;
  return false;
}

function describe(a: Action): string {
  const name = a.verb === 'create' || a.verb === 'update' ? (a.object.metadata?.name ?? a.object.metadata?.generateName ?? '') : a.name;
  const what = `${a.resource.plural}${a.resource.group ? '.' + a.resource.group : ''}`;
  return `${a.verb} ${what} ${a.namespace ? a.namespace + '/' : ''}${name}${'subresource' in a && a.subresource ? '/' + a.subresource : ''}`;
}

export function runController(reconciler: Reconciler, deps: RunControllerDeps): RunningController {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger;
  const name = reconciler.name;
  const client = deps.client;
  const queue = new WorkQueue({ clock, name, rateLimiter: deps.rateLimiter });
  const recorder = new EventRecorder(client, { component: name, clock, log });
  const m = { reconciles: 0, errors: 0, actions: 0, eventsRecorded: 0, lastDurationMs: 0, lastError: undefined as string | undefined };
  let closed = false;

  /** Checks of keys waiting for their writes to show up in the caches. */
  const visibilityWaiters = new Set<() => void>();
  /**
   * Objects this controller wrote, by resource/namespace/name → resourceVersion.
   * The informer's echo of a controller's own write changes nothing it did not
   * already decide, so it does not enqueue the key again (kube's controllers
   * keep the same kind of tracker, e.g. EndpointSliceTracker.ShouldSync).
   */
  const ownWrites = new Map<string, string>();
  const writeKey = (r: ResourceInfo, ns: string | undefined, name: string) => `${r.group}/${r.plural}/${r.namespaced ? ns ?? '' : ''}/${name}`;

  const enqueue = (r: ResourceInfo, obj: KObject, old?: KObject) => {
    for (const w of visibilityWaiters) w();
    const wk = writeKey(r, obj.metadata?.namespace, obj.metadata?.name ?? '');
    const rv = ownWrites.get(wk);
    if (rv !== undefined) {
      ownWrites.delete(wk);
      if (rv === obj.metadata?.resourceVersion) return;
    }
    let keys: string[];
    try {
      keys = reconciler.keysFor(r, obj, old, cache);
    } catch (e) {
      log.error('keysFor failed', { controller: name, resource: r.plural, error: errorText(e) });
      return;
    }
    for (const k of keys) queue.add(k);
  };

  const watched = new Map<string, ResourceInfo>();
  for (const r of reconciler.watches) watched.set(`${r.group}/${r.plural}`, r);
  const informers = [...watched.values()].map((r) => deps.informers.informer(r));
  const stores = new Map(informers.map((inf) => [`${inf.resource.group}/${inf.resource.plural}`, inf.store]));
  // Indexes before handlers: an informer already synced replays its content to a new handler, whose keysFor may read them.
  const indexed = new Set<string>();
  for (const ix of reconciler.indexes ?? []) {
    const rk = `${ix.resource.group}/${ix.resource.plural}`;
    if (!watched.has(rk)) throw new Error(`controller ${name} indexes ${ix.resource.plural} but does not watch it`);
    deps.informers.informer(ix.resource).addIndex(ix.name, ix.values);
    indexed.add(`${rk}|${ix.name}`);
  }
  const cache: Cache = {
    list(r, namespace) {
      return storeFor(r).list(r.namespaced ? namespace : undefined);
    },
    get(r, namespace, objName) {
      return storeFor(r).get(r.namespaced ? namespace : undefined, objName);
    },
    byIndex(r, index, value) {
      if (!indexed.has(`${r.group}/${r.plural}|${index}`)) return undefined;
      return storeFor(r).byIndex(index, value);
    },
  };
  const registrations: Registration[] = informers.map((inf) => inf.addEventHandler({
    onAdd: (o) => enqueue(inf.resource, o),
    onUpdate: (old, o) => enqueue(inf.resource, o, old),
    onDelete: (o) => enqueue(inf.resource, o),
  }));

  function storeFor(r: ResourceInfo) {
    const store = stores.get(`${r.group}/${r.plural}`);
    if (!store) throw new Error(`controller ${name} reads ${r.plural} but does not watch it`);
    return store;
  }

  /** What a write left behind, so the next reconcile of the key can wait until the cache has seen it. */
  type Written = { r: ResourceInfo; namespace?: string; name: string; rv?: number; gone?: boolean };

  async function apply(a: Action): Promise<Written | undefined> {
    const fieldManager = name;
    const seen = (o: KObject | undefined): Written | undefined => {
      const n = o?.metadata?.name;
      if (!n || (a.verb !== 'delete' && a.subresource === 'binding')) return undefined;
      return { r: a.resource, namespace: o?.metadata?.namespace ?? a.namespace, name: n, rv: Number(o?.metadata?.resourceVersion) || undefined };
    };
    switch (a.verb) {
      case 'create':
        return seen(await client.create(a.resource, a.namespace, withoutTrimmedManagedFields(a.object), { fieldManager, subresource: a.subresource, name: a.name }));
      case 'update':
        // Objects built from a cache whose managedFields were trimmed (manager.ts) send none: the server keeps its own.
        return seen(await client.update(a.resource, a.namespace, withoutTrimmedManagedFields(a.object), { fieldManager, subresource: a.subresource }));
      case 'patch':
        // A controller owns what it applies: take fields over from other managers, as controllers do with force=true.
        return seen(await client.patch(a.resource, a.namespace, a.name, a.patchType, a.patch,
          { fieldManager, subresource: a.subresource, force: a.patchType === 'apply' ? true : undefined }));
      case 'delete':
        await client.delete(a.resource, a.namespace, a.name, { preconditions: a.preconditions, propagationPolicy: a.propagationPolicy });
        return { r: a.resource, namespace: a.namespace, name: a.name, gone: true };
    }
  }

  function visible(w: Written): boolean {
    if (!watched.has(`${w.r.group}/${w.r.plural}`)) return true;
    const cur = storeFor(w.r).get(w.r.namespaced ? w.namespace : undefined, w.name);
    if (w.gone) return cur === undefined || cur.metadata?.deletionTimestamp !== undefined;
    if (w.rv === undefined) return true;
    return Number(cur?.metadata?.resourceVersion ?? 0) >= w.rv;
  }

  /**
   * Read-your-writes: the key is not released until the informers have seen
   * what its plan wrote (client-go controllers track expectations for the
   * same reason), so the next reconcile never acts on a cache that predates
   * its own writes. Bounded: after `maxWaitMs` the cache is trusted anyway.
   */
  function waitVisible(ws: Written[], maxWaitMs = 2000): Promise<void> {
    const pending = ws.filter((w) => !visible(w));
    if (!pending.length) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: unknown;
      const finish = () => {
        visibilityWaiters.delete(check);
        clock.clearTimeout(timer);
        resolve();
      };
      const check = () => { if (closed || pending.every(visible)) finish(); };
      // Checked from the informers' one shared handler (registering a handler per write would replay the whole cache each time).
      visibilityWaiters.add(check);
      timer = clock.setTimeout(finish, maxWaitMs);
      check();
    });
  }

  const fail = (key: string, what: string, e: unknown) => {
    m.errors++;
    m.lastError = `${what}: ${errorText(e)}`;
    // A conflict is the normal outcome of a stale cache: retry quietly once the cache has caught up.
    const conflict = isStatusError(e) && e.code === 409;
    (conflict ? log.info : log.warn)(`${what} failed; requeued`, { controller: name, key, error: errorText(e), retries: queue.numRequeues(key) + 1 });
    queue.addRateLimited(key);
  };

  /**
   * Reconciles a key and applies its plan. Returns what is left to do once
   * the writes are visible in the caches (undefined when nothing is): the
   * worker moves on to another key meanwhile, and the key itself stays
   * "processing" in the queue until then, so it is never reconciled against
   * a cache that predates its own writes.
   */
  async function processKey(key: string): Promise<{ tail: Promise<void> } | undefined> {
    const start = clock.now();
    m.reconciles++;
    try {
      let plan: Plan;
      try {
        plan = reconciler.reconcile(key, cache, new Date(start));
        if (!plan || !Array.isArray(plan.actions)) throw new Error('reconcile returned no plan');
      } catch (e) {
        log.error('reconcile threw', { controller: name, key, error: errorText(e) });
        m.errors++;
        m.lastError = `reconcile: ${errorText(e)}`;
        queue.addRateLimited(key);
        return undefined;
      }
      let clean = true;
      const written: Written[] = [];
      for (const a of plan.actions) {
        try {
          const w = await apply(a);
          if (w) {
            written.push(w);
            if (w.rv !== undefined && !w.gone) ownWrites.set(writeKey(w.r, w.namespace, w.name), String(w.rv));
            if (ownWrites.size > 100_000) ownWrites.clear();
          }
          m.actions++;
        } catch (e) {
          if (benign(a, e)) { m.actions++; continue; }
          // Later actions may depend on this one (the plan's order is deliberate): stop here.
          fail(key, describe(a), e);
          clean = false;
          break;
        }
      }
      for (const ev of plan.events ?? []) {
        m.eventsRecorded++;
        void recorder.record(ev);
      }
      const finish = () => {
        if (!clean) return;
        queue.forget(key);
        if (plan.requeueAfterMs !== undefined && plan.requeueAfterMs >= 0) queue.addAfter(key, plan.requeueAfterMs);
      };
      if (written.every(visible)) {
        finish();
        return undefined;
      }
      return { tail: waitVisible(written).then(finish) };
    } finally {
      m.lastDurationMs = clock.now() - start;
    }
  }

  const workerCount = Math.max(1, deps.workers ?? reconciler.workers ?? 2);
  const workers: Promise<void>[] = [];
  /** Keys whose writes are not yet visible: released (queue.done) once they are. */
  const tails = new Set<Promise<void>>();
  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      let rest: { tail: Promise<void> } | undefined;
      try {
        rest = await processKey(key);
      } catch (e) {
        // processKey handles its own failures; this is a last guard so a worker never dies.
        log.error('controller worker failed', { controller: name, key, error: errorText(e) });
        queue.addRateLimited(key);
      }
      if (!rest) {
        queue.done(key);
        continue;
      }
      const t: Promise<void> = rest.tail.catch((e: unknown) => {
        log.error('controller worker failed', { controller: name, key, error: errorText(e) });
        queue.addRateLimited(key);
      }).finally(() => {
        tails.delete(t);
        queue.done(key);
      });
      tails.add(t);
    }
  }

  deps.informers.start();
  let onClose: () => void = () => undefined;
  const closedBeforeSync = new Promise<never>((_, reject) => {
    onClose = () => reject(new Error(`controller ${name} closed before its caches synced`));
  });
  closedBeforeSync.catch(() => undefined);
  const synced = Promise.race([Promise.all(informers.map((i) => i.waitForSync())), closedBeforeSync]).then(() => {
    if (closed) throw new Error(`controller ${name} closed before its caches synced`);
    log.info('caches synced; starting workers', { controller: name, workers: workerCount });
    for (let i = 0; i < workerCount; i++) workers.push(worker());
  });
  // Callers need not wait: a failure to sync is only reported through waitForSync().
  synced.catch(() => undefined);

  return {
    name,
    waitForSync: () => synced,
    metrics: () => ({
      reconciles: m.reconciles, errors: m.errors, retries: queue.metrics().retries, actions: m.actions,
      eventsRecorded: m.eventsRecorded, queueDepth: queue.len(), lastDurationMs: m.lastDurationMs,
      ...(m.lastError !== undefined ? { lastError: m.lastError } : {}),
    }),
    async close() {
      if (closed) return;
      closed = true;
      onClose();
      for (const r of registrations) r.dispose();
      queue.shutDown();
      await Promise.all(workers);
      // Keys still waiting to see their writes: stop waiting.
      for (const w of [...visibilityWaiters]) w();
      await Promise.all([...tails]);
      await recorder.flush();
    },
  };
}

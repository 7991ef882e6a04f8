// The controller manager (kube-controller-manager's shape): several
// reconcilers in one process over one shared InformerFactory, so each
// resource is listed and watched once however many controllers read it.
import type { Clock } from '../client/clock.js';
import { InformerFactory, type InformerFactoryOptions } from '../client/informer.js';
import { silentLogger, type Logger } from '../client/log.js';
import { trimManagedFields } from '../client/transform.js';
import type { Client } from '../client/types.js';
import { runController, type RunningController } from './runner.js';
import type { Reconciler } from './types.js';

export interface ControllerManagerOptions {
  clock?: Clock;
  /** Workers per controller: one number for all, or by controller name (default 2). */
  workers?: number | Readonly<Record<string, number>>;
  log?: Logger;
  /**
   * Page size, backoff, watch timeouts of the shared informers, and their
   * transform: by default trimManagedFields, as kube-controller-manager's
   * informers drop managedFields (no controller reads the field sets; with
   * them a cached Pod is twice the bytes and many times the objects to GC).
   * `transform: undefined` caches objects as received.
   */
  informers?: Omit<InformerFactoryOptions, 'clock' | 'log'>;
}

export interface RunningControllerManager {
  readonly informers: InformerFactory;
  readonly controllers: readonly RunningController[];
  /** Resolves once every controller's caches have synced. */
  waitForSync(): Promise<void>;
  /** Stops every controller (waiting for in-flight keys), then the informers. */
  close(): Promise<void>;
}

export function startControllerManager(client: Client, reconcilers: readonly Reconciler[], opts: ControllerManagerOptions = {}): RunningControllerManager {
  const seen = new Set<string>();
  for (const r of reconcilers) {
    if (seen.has(r.name)) throw new Error(`two controllers are named ${r.name}`);
    seen.add(r.name);
  }
  const log = opts.log ?? silentLogger;
  const informers = new InformerFactory(client, { transform: trimManagedFields, ...opts.informers, clock: opts.clock, log });
  const workersFor = (name: string): number | undefined =>
    typeof opts.workers === 'number' ? opts.workers : opts.workers?.[name];
  const controllers: RunningController[] = [];
  try {
    for (const r of reconcilers) {
      controllers.push(runController(r, { client, informers, clock: opts.clock, log, workers: workersFor(r.name) }));
    }
  } catch (e) {
    void Promise.all(controllers.map((c) => c.close())).finally(() => informers.close());
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    informers,
    controllers,
    waitForSync: async () => { await Promise.all(controllers.map((c) => c.waitForSync())); },
    close() {
      closing ??= (async () => {
        await Promise.all(controllers.map((c) => c.close()));
        informers.close();
      })();
      return closing;
    },
  };
}

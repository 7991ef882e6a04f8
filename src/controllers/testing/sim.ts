// Turn-based simulation helpers: run reconcilers over a FakeCache and play
// the parts of the system that are not controllers (a node agent that starts
// and stops pods).
import type { KObject } from '../../client/types.js';
import type { EventRecord, Reconciler } from '../types.js';
import { FakeCache, res } from './fakecache.js';

export interface StepResult {
  events: EventRecord[];
  errors: Error[];
}

/** Reconciles every object of the reconciler's primary (first watched) resource once, applying each plan. */
export function step(cache: FakeCache, rec: Reconciler, now: Date): StepResult {
  const primary = rec.watches[0]!;
  const out: StepResult = { events: [], errors: [] };
  for (const o of cache.list(primary)) {
    const key = o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata?.name ?? '';
    const plan = rec.reconcile(key, cache, now);
    out.events.push(...(plan.events ?? []));
    out.errors.push(...cache.apply(plan, now).errors.map((e) => e.error));
  }
  return out;
}

export interface KubeletOptions {
  node?: string;
  /** Pods that become Ready; default all. */
  ready?: (pod: KObject) => boolean;
}

/**
 * A node agent in one turn: binds unscheduled pods to `node` when there is no
 * scheduler in the test, runs them (Ready per `ready`), and finishes the
 * deletion of terminating pods.
 */
export function kubelet(cache: FakeCache, now: Date, opts: KubeletOptions = {}): void {
  const pods = res('pods');
  const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const p of cache.list(pods)) {
    const md = p.metadata ?? {};
    if (md.deletionTimestamp) {
      if (!md.finalizers?.length) cache.remove(pods, md.namespace, md.name ?? '');
      continue;
    }
    const spec = (p['spec'] ?? {}) as { nodeName?: string };
    const status = (p['status'] ?? {}) as { phase?: string; conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
    const next = structuredClone(p);
    const nspec = (next['spec'] ??= {}) as { nodeName?: string };
    if (!spec.nodeName) {
      if (!opts.node) continue;
      nspec.nodeName = opts.node;
    }
    const ready = opts.ready ? opts.ready(p) : true;
    const was = status.conditions?.find((c) => c.type === 'Ready');
    if (status.phase === 'Running' && (was?.status === 'True') === ready) continue;
    next['status'] = {
      ...status, phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: (was?.status === 'True') === ready ? was?.lastTransitionTime : ts }],
    };
    delete (next.metadata as { resourceVersion?: string }).resourceVersion;
    cache.add(next);
  }
}

// The ReplicaSet controller (kube's pkg/controller/replicaset), as a pure
// reconciler: claim pods (adopt matching orphans, release owned pods that no
// longer match), create or delete pods until the active ones number
// spec.replicas, and report status through the status subresource.
import type { ReplicaSet, ReplicaSetStatus } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import {
  asPod, claim, controllerRefOf, isBeingDeleted, isPodActive, isPodReady, namespaceWildcardKey, newControllerRef,
  parseTime, podAvailability, podReadyCondition, selectorRequirements, selects, splitKey,
} from './util.js';
import { matches, selectorFromSet } from '../../api/labels.js';

const podsRes = findResource('', 'v1', 'pods')!;
const rsRes = findResource('apps', 'v1', 'replicasets')!;

export const replicaSetKind = { apiVersion: 'apps/v1', kind: 'ReplicaSet' } as const;

export interface ReplicaSetControllerOptions {
  /** Most pods created or deleted in one sync (kube's --replicaset burst, 500). */
  burstReplicas?: number;
}

/** podPhaseToOrdinal in controller_utils.go. */
const phaseOrdinal: Readonly<Record<string, number>> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(p: Pod): number {
  return Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

/**
 * ActivePodsWithRanks.Less: the pods to delete first sort first.
 * Unassigned < assigned; Pending < Unknown < Running; not ready < ready;
 * lower pod-deletion-cost first; more co-located siblings first; ready for
 * less time first; more restarts first; newer first.
 */
export function compareForDeletion(a: Pod, b: Pod, rankA: number, rankB: number): number {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1;
  const pa = phaseOrdinal[a.status?.phase ?? ''] ?? 0;
  const pb = phaseOrdinal[b.status?.phase ?? ''] ?? 0;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1;
  const ca = Number(a.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0) || 0;
  const cb = Number(b.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0) || 0;
  if (ca !== cb) return ca - cb;
  if (rankA !== rankB) return rankB - rankA;
  if (ra && rb) {
    const ta = parseTime(podReadyCondition(a)?.lastTransitionTime);
    const tb = parseTime(podReadyCondition(b)?.lastTransitionTime);
    if (ta !== tb) return afterOrZero(ta, tb);
  }
  const xa = maxRestarts(a);
  const xb = maxRestarts(b);
  if (xa !== xb) return xb - xa;
  const ka = parseTime(a.metadata?.creationTimestamp);
  const kb = parseTime(b.metadata?.creationTimestamp);
  if (ka !== kb) return afterOrZero(ka, kb);
  return 0;
}

/** afterOrZero: an unset time sorts first, then the later time. */
function afterOrZero(a: number | undefined, b: number | undefined): number {
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return b - a;
}

/** getPodsToDelete: rank by siblings on the same node, sort, take the first `diff`. */
export function podsToDelete(filtered: readonly Pod[], related: readonly Pod[], diff: number): Pod[] {
  if (diff >= filtered.length) return [...filtered];
  const onNode = new Map<string, number>();
  for (const p of related) if (isPodActive(p)) onNode.set(p.spec?.nodeName ?? '', (onNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
  const ranked = filtered.map((p) => ({ p, rank: onNode.get(p.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => compareForDeletion(x.p, y.p, x.rank, y.rank) || (x.p.metadata?.name ?? '').localeCompare(y.p.metadata?.name ?? ''));
  return ranked.slice(0, diff).map((x) => x.p);
}

/** The pod a controller creates from its template (controller.GetPodFromTemplate). */
export function podFromTemplate(rs: ReplicaSet): KObject {
  const t = rs.spec?.template ?? {};
  const name = rs.metadata?.name ?? '';
  const md: Record<string, unknown> = {
    generateName: `${name}-`,
    namespace: rs.metadata?.namespace,
    ownerReferences: [newControllerRef(rs as KObject, replicaSetKind.apiVersion, replicaSetKind.kind)],
  };
  if (t.metadata?.labels) md['labels'] = { ...t.metadata.labels };
  if (t.metadata?.annotations) md['annotations'] = { ...t.metadata.annotations };
  if (t.metadata?.finalizers) md['finalizers'] = [...t.metadata.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata: md, spec: structuredClone(t.spec ?? { containers: [] }) };
}

interface StatusCounts {
  replicas: number;
  fullyLabeledReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  /** When the next ready pod turns available (ms), if one is waiting on minReadySeconds. */
  nextAvailableAt?: number;
}

/** calculateStatus in replica_set_utils.go. */
export function replicaSetStatusCounts(rs: ReplicaSet, active: readonly Pod[], now: Date): StatusCounts {
  const templateReqs = selectorFromSet(rs.spec?.template?.metadata?.labels ?? {});
  const minReady = rs.spec?.minReadySeconds ?? 0;
  const c: StatusCounts = { replicas: active.length, fullyLabeledReplicas: 0, readyReplicas: 0, availableReplicas: 0 };
  for (const p of active) {
    if (matches(templateReqs, p.metadata?.labels ?? {})) c.fullyLabeledReplicas++;
    if (!isPodReady(p)) continue;
    c.readyReplicas++;
    const av = podAvailability(p, minReady, now);
    if (av.available) c.availableReplicas++;
    else if (av.availableAt !== undefined) c.nextAvailableAt = Math.min(c.nextAvailableAt ?? Infinity, av.availableAt);
  }
  return c;
}

function statusEqual(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (a?.replicas ?? 0) === b.replicas && (a?.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0)
    && (a?.readyReplicas ?? 0) === (b.readyReplicas ?? 0) && (a?.availableReplicas ?? 0) === (b.availableReplicas ?? 0)
    && (a?.observedGeneration ?? 0) === (b.observedGeneration ?? 0);
}

function event(rs: ReplicaSet, type: 'Normal' | 'Warning', reason: string, message: string): EventRecord {
  return {
    involvedObject: { ...replicaSetKind, namespace: rs.metadata?.namespace, name: rs.metadata?.name ?? '', uid: rs.metadata?.uid, resourceVersion: rs.metadata?.resourceVersion },
    type, reason, message,
  };
}

function reconcileOne(rs: ReplicaSet, cache: Cache, now: Date, burst: number): Plan {
  const ns = rs.metadata?.namespace ?? '';
  const actions: Action[] = [];
  const events: EventRecord[] = [];
  const reqs = selectorRequirements(rs.spec?.selector);
  if (reqs === null || reqs.length === 0) {
    // Validation forbids this; a selector that selects nothing or everything must not grab pods.
    return { actions, events: [event(rs, 'Warning', 'SelectorInvalid', 'the ReplicaSet selector is empty or invalid; no pods are managed')] };
  }
  // As syncReplicaSet: only active pods are claimed, adopted or released.
  const pods = cache.list(podsRes, ns).filter((p) => isPodActive(asPod(p)));
  const claimed = claim(rs as KObject, replicaSetKind.apiVersion, replicaSetKind.kind, reqs, pods, podsRes);
  actions.push(...claimed.actions);
  const active = claimed.claimed.map(asPod);

  const desired = rs.spec?.replicas ?? 1;
  if (!isBeingDeleted(rs as KObject)) {
    const diff = active.length - desired;
    if (diff < 0) {
      const n = Math.min(-diff, burst);
      for (let i = 0; i < n; i++) {
        actions.push({ verb: 'create', resource: podsRes, namespace: ns, object: podFromTemplate(rs) });
        // The server picks the name (generateName); the event names the prefix.
        events.push(event(rs, 'Normal', 'SuccessfulCreate', `Created pod from template with generateName "${rs.metadata?.name}-"`));
      }
    } else if (diff > 0) {
      const related = relatedPods(rs, cache);
      for (const p of podsToDelete(active, related, Math.min(diff, burst))) {
        actions.push({ verb: 'delete', resource: podsRes, namespace: ns, name: p.metadata?.name ?? '', preconditions: { uid: p.metadata?.uid } });
        events.push(event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata?.name}`));
      }
    }
  }

  const counts = replicaSetStatusCounts(rs, active, now);
  const status: ReplicaSetStatus = {
    ...(rs.status ?? {}),
    replicas: counts.replicas,
    fullyLabeledReplicas: counts.fullyLabeledReplicas,
    readyReplicas: counts.readyReplicas,
    availableReplicas: counts.availableReplicas,
    observedGeneration: rs.metadata?.generation ?? rs.status?.observedGeneration,
  };
  if (!statusEqual(rs.status, status)) {
    actions.push({ verb: 'update', resource: rsRes, namespace: ns, subresource: 'status', object: { ...(rs as KObject), status } });
  }
  const plan: Plan = { actions, events };
  if (counts.nextAvailableAt !== undefined) plan.requeueAfterMs = Math.max(0, counts.nextAvailableAt - now.getTime()) + 1000;
  return plan;
}

/**
 * getIndirectlyRelatedPods: pods of every ReplicaSet sharing this one's
 * controller (a Deployment's old and new sets), so that scaling down prefers
 * pods doubled up on a node with their siblings.
 */
function relatedPods(rs: ReplicaSet, cache: Cache): Pod[] {
  const ns = rs.metadata?.namespace ?? '';
  const owner = controllerRefOf(rs as KObject);
  const sets = owner
    ? cache.list(rsRes, ns).filter((x) => controllerRefOf(x)?.uid === owner.uid)
    : [rs as KObject];
  const uids = new Set(sets.map((x) => x.metadata?.uid));
  return cache.list(podsRes, ns).filter((p) => uids.has(controllerRefOf(p)?.uid)).map(asPod);
}

function mergePlans(plans: Plan[]): Plan {
  const out: Plan = { actions: [], events: [] };
  for (const p of plans) {
    out.actions.push(...p.actions);
    out.events!.push(...(p.events ?? []));
    if (p.requeueAfterMs !== undefined) out.requeueAfterMs = Math.min(out.requeueAfterMs ?? Infinity, p.requeueAfterMs);
  }
  return out;
}

/**
 * Keys are `namespace/name` of a ReplicaSet, or `namespace/*` for "every
 * ReplicaSet in the namespace" (an orphan pod appeared that one of them may
 * adopt: keysFor cannot see the cache to find which).
 */
export function replicaSetController(opts: ReplicaSetControllerOptions = {}): Reconciler {
  const burst = opts.burstReplicas ?? 500;
  return {
    name: 'replicaset-controller',
    watches: [rsRes, podsRes],
    keysFor(r: ResourceInfo, obj: KObject, old?: KObject, cache?: Cache): string[] {
      const keys = new Set<string>();
      if (r.plural === 'replicasets') {
        keys.add(`${obj.metadata?.namespace}/${obj.metadata?.name}`);
        return [...keys];
      }
      for (const o of [obj, old]) {
        if (!o) continue;
        const ns = o.metadata?.namespace ?? '';
        const ref = controllerRefOf(o);
        if (ref) {
          if (ref.kind === replicaSetKind.kind && ref.apiVersion.startsWith('apps/')) keys.add(`${ns}/${ref.name}`);
        } else if (o === obj && !isBeingDeleted(o) && Object.keys(o.metadata?.labels ?? {}).length) {
          // An orphan: the ReplicaSets that select it may adopt it (getPodReplicaSets).
          if (!cache) { keys.add(namespaceWildcardKey(ns)); continue; }
          for (const rs of cache.list(rsRes, ns)) {
            if (selects(selectorRequirements((rs as ReplicaSet).spec?.selector), o)) keys.add(`${ns}/${rs.metadata?.name}`);
          }
        }
      }
      return [...keys];
    },
    reconcile(key: string, cache: Cache, now: Date): Plan {
      const { namespace, name } = splitKey(key);
      if (name === '*') {
        return mergePlans(cache.list(rsRes, namespace).map((rs) => reconcileOne(rs as ReplicaSet, cache, now, burst)));
      }
      const rs = cache.get(rsRes, namespace, name) as ReplicaSet | undefined;
      if (!rs) return { actions: [] };
      return reconcileOne(rs, cache, now, burst);
    },
  };
}

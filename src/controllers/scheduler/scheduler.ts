// The scheduler, as a pure reconciler: binds pending pods to Ready nodes
// through pods/binding, spreading them; reports what it could not place with
// kube-scheduler's FailedScheduling message and a PodScheduled=False condition.
//
// Filters, in kube-scheduler's plugin order (the first one that fails names
// the node's reason in the message):
//   NodeUnschedulable  spec.unschedulable, unless the pod tolerates
//                      node.kubernetes.io/unschedulable:NoSchedule
//   TaintToleration    NoSchedule/NoExecute taints the pod does not tolerate.
//                      A node whose Ready condition is not True counts as
//                      tainted node.kubernetes.io/not-ready (or /unreachable
//                      when Unknown), as the node lifecycle controller would
//                      taint it.
//   NodeAffinity       spec.nodeSelector and the required node affinity
//                      (matchExpressions on labels, matchFields on metadata.name)
// Score: fewest pods of the same owner on the node (spreading a ReplicaSet
// across nodes, like the default PodTopologySpread), then fewest
// non-terminal pods, then node name.
//
// Every reconcile replays the placement of all pending pods in queue order
// (priority, then age, then name) up to the pod at hand: the decision for a
// pod does not depend on whether the informer has already seen the bindings
// of the pods scheduled before it, so a burst of pods still spreads.
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodCondition, Taint, Toleration } from 'kubernetes-types/core/v1.js';
import { findResource, type ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import { asPod, controllerRefOf, isPodTerminal, parseTime, rfc3339, splitKey } from '../replicaset/util.js';

const podsRes = findResource('', 'v1', 'pods')!;
const nodesRes = findResource('', 'v1', 'nodes')!;

export const DefaultSchedulerName = 'default-scheduler';
/** The key that replays every pending pod (a node changed: some may fit now). */
export const AllPendingKey = '*';

export interface SchedulerOptions {
  schedulerName?: string;
  /** When to try an unschedulable pod again even if no node changes. */
  unschedulableRetryMs?: number;
}

/** Reasons, as kube-scheduler's plugins word them. */
export const FilterReasons = {
  unschedulable: 'node(s) were unschedulable',
  affinity: "node(s) didn't match Pod's node affinity/selector",
  taint: (t: Taint): string => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`,
} as const;

export const ErrNoNodesAvailable = 'no nodes available to schedule pods';

/** v1helper.TolerationsTolerateTaint / Toleration.ToleratesTaint. */
export function tolerates(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.key && t.key !== taint.key) return false;
    if (!t.key && t.operator !== 'Exists') return false;
    if (t.operator === 'Exists') return true;
    return (t.value ?? '') === (taint.value ?? '');
  });
}

/** The taints the scheduler sees on a node: its own, plus the condition taint for a node that is not Ready. */
export function effectiveTaints(n: Node): Taint[] {
  const taints = [...(n.spec?.taints ?? [])];
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    const key = ready?.status === 'Unknown' ? 'node.kubernetes.io/unreachable' : 'node.kubernetes.io/not-ready';
    if (!taints.some((t) => t.key === key && t.effect === 'NoSchedule')) taints.push({ key, effect: 'NoSchedule' });
  }
  return taints;
}

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const vals = r.values ?? [];
  switch (r.operator) {
    case 'In': return value !== undefined && vals.includes(value);
    case 'NotIn': return value === undefined || !vals.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt': case 'Lt': {
      if (value === undefined || vals.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(vals[0]!)) return false;
      return r.operator === 'Gt' ? BigInt(value) > BigInt(vals[0]!) : BigInt(value) < BigInt(vals[0]!);
    }
    default: return false;
  }
}

/** A NodeSelectorTerm: all its expressions and fields hold; an empty term matches nothing. */
function termMatches(term: NodeSelectorTerm, n: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = n.metadata?.labels ?? {};
  return exprs.every((e) => requirementMatches(e, Object.prototype.hasOwnProperty.call(labels, e.key) ? labels[e.key] : undefined))
    && fields.every((f) => f.key === 'metadata.name' && requirementMatches(f, n.metadata?.name));
}

/** The NodeAffinity filter: nodeSelector and requiredDuringSchedulingIgnoredDuringExecution. */
export function nodeAffinityMatches(p: Pod, n: Node): boolean {
  const labels = n.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(p.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const req = p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req) return (req.nodeSelectorTerms ?? []).some((t) => termMatches(t, n));
  return true;
}

/** Why the node cannot take the pod (the first failing filter), or undefined when it can. */
export function filterNode(p: Pod, n: Node): string | undefined {
  if (n.spec?.unschedulable && !tolerates(p.spec?.tolerations, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })) {
    return FilterReasons.unschedulable;
  }
  for (const t of effectiveTaints(n)) {
    if (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') continue;
    if (!tolerates(p.spec?.tolerations, t)) return FilterReasons.taint(t);
  }
  if (!nodeAffinityMatches(p, n)) return FilterReasons.affinity;
  return undefined;
}

/** FitError.Error(): "0/3 nodes are available: 1 node(s) …, 2 node(s) …." with the reasons sorted. */
export function fitErrorMessage(numNodes: number, reasons: readonly string[]): string {
  if (numNodes === 0) return ErrNoNodesAvailable;
  const hist = new Map<string, number>();
  for (const r of reasons) hist.set(r, (hist.get(r) ?? 0) + 1);
  const parts = [...hist].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}

export type Placement = { node: string } | { error: string };

/** Whether this scheduler is responsible for the pod now. */
export function isPendingFor(p: Pod, schedulerName: string): boolean {
  if (p.spec?.nodeName) return false;
  if (p.metadata?.deletionTimestamp) return false;
  if (isPodTerminal(p)) return false;
  return (p.spec?.schedulerName || DefaultSchedulerName) === schedulerName;
}

function queueOrder(a: Pod, b: Pod): number {
  const pa = a.spec?.priority ?? 0;
  const pb = b.spec?.priority ?? 0;
  if (pa !== pb) return pb - pa;
  const ta = parseTime(a.metadata?.creationTimestamp) ?? 0;
  const tb = parseTime(b.metadata?.creationTimestamp) ?? 0;
  if (ta !== tb) return ta - tb;
  const ka = `${a.metadata?.namespace}/${a.metadata?.name}`;
  const kb = `${b.metadata?.namespace}/${b.metadata?.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Places pending pods in queue order on the cache's nodes, counting each
 * placement toward the next; stops after `until` when given.
 */
export function schedule(cache: Cache, schedulerName: string, until?: string): Map<string, Placement> {
  const nodes = (cache.list(nodesRes) as unknown as Node[]).slice().sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  const pods = cache.list(podsRes).map(asPod);
  const load = new Map<string, number>();
  const ownerLoad = new Map<string, number>();
  const ownerKey = (p: Pod): string | undefined => controllerRefOf(p as KObject)?.uid;
  const count = (p: Pod, node: string): void => {
    load.set(node, (load.get(node) ?? 0) + 1);
    const o = ownerKey(p);
    if (o) ownerLoad.set(`${o}@${node}`, (ownerLoad.get(`${o}@${node}`) ?? 0) + 1);
  };
  for (const p of pods) if (p.spec?.nodeName && !isPodTerminal(p)) count(p, p.spec.nodeName);

  const pending = pods.filter((p) => isPendingFor(p, schedulerName)).sort(queueOrder);
  const out = new Map<string, Placement>();
  for (const p of pending) {
    const key = `${p.metadata?.namespace}/${p.metadata?.name}`;
    const reasons: string[] = [];
    let best: { name: string; own: number; total: number } | undefined;
    for (const n of nodes) {
      const why = filterNode(p, n);
      if (why) { reasons.push(why); continue; }
      const name = n.metadata?.name ?? '';
      const o = ownerKey(p);
      const cand = { name, own: o ? ownerLoad.get(`${o}@${name}`) ?? 0 : 0, total: load.get(name) ?? 0 };
      if (!best || cand.own < best.own || (cand.own === best.own && cand.total < best.total)) best = cand;
    }
    if (best) {
      out.set(key, { node: best.name });
      count(p, best.name);
    } else {
      out.set(key, { error: fitErrorMessage(nodes.length, reasons) });
    }
    if (key === until) break;
  }
  return out;
}

function podEvent(p: Pod, type: 'Normal' | 'Warning', reason: string, message: string): EventRecord {
  return {
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: p.metadata?.namespace, name: p.metadata?.name ?? '', uid: p.metadata?.uid, resourceVersion: p.metadata?.resourceVersion },
    type, reason, message,
  };
}

function bindAction(p: Pod, node: string): Action {
  const ns = p.metadata?.namespace ?? '';
  const name = p.metadata?.name ?? '';
  return {
    verb: 'create', resource: podsRes, namespace: ns, name, subresource: 'binding',
    object: {
      apiVersion: 'v1', kind: 'Binding',
      metadata: { name, namespace: ns },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    },
  };
}

/** The PodScheduled=False status patch, or undefined when the pod already says so. */
function unschedulablePatch(p: Pod, message: string, now: Date): Action | undefined {
  const cur = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (cur && cur.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message) return undefined;
  const cond: PodCondition = {
    type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message,
    lastTransitionTime: cur?.status === 'False' && cur.lastTransitionTime ? cur.lastTransitionTime : rfc3339(now),
  };
  return {
    verb: 'patch', resource: podsRes, namespace: p.metadata?.namespace, name: p.metadata?.name ?? '', subresource: 'status',
    patchType: 'strategic', patch: { status: { conditions: [{ ...cond, lastProbeTime: null }] } },
  };
}

export function scheduler(opts: SchedulerOptions = {}): Reconciler {
  const schedulerName = opts.schedulerName ?? DefaultSchedulerName;
  const retryMs = opts.unschedulableRetryMs ?? 10_000;
  return {
    name: schedulerName,
    watches: [podsRes, nodesRes],
    keysFor(r: ResourceInfo, obj: KObject): string[] {
      if (r.plural === 'nodes') return [AllPendingKey];
      return isPendingFor(asPod(obj), schedulerName) ? [`${obj.metadata?.namespace}/${obj.metadata?.name}`] : [];
    },
    reconcile(key: string, cache: Cache, now: Date): Plan {
      const actions: Action[] = [];
      const events: EventRecord[] = [];
      if (key === AllPendingKey) {
        let unschedulable = false;
        for (const [k, placement] of schedule(cache, schedulerName)) {
          const { namespace, name } = splitKey(k);
          const p = asPod(cache.get(podsRes, namespace, name)!);
          if ('node' in placement) {
            actions.push(bindAction(p, placement.node));
            events.push(podEvent(p, 'Normal', 'Scheduled', `Successfully assigned ${k} to ${placement.node}`));
          } else {
            unschedulable = true;
            // Only news is worth an event here; the pod's own key reports each attempt.
            const patch = unschedulablePatch(p, placement.error, now);
            if (patch) { actions.push(patch); events.push(podEvent(p, 'Warning', 'FailedScheduling', placement.error)); }
          }
        }
        return unschedulable ? { actions, events, requeueAfterMs: retryMs } : { actions, events };
      }
      const { namespace, name } = splitKey(key);
      const obj = cache.get(podsRes, namespace, name);
      if (!obj || !isPendingFor(asPod(obj), schedulerName)) return { actions };
      const p = asPod(obj);
      const placement = schedule(cache, schedulerName, key).get(key);
      if (!placement) return { actions };
      if ('node' in placement) {
        actions.push(bindAction(p, placement.node));
        events.push(podEvent(p, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${placement.node}`));
        return { actions, events };
      }
      const patch = unschedulablePatch(p, placement.error, now);
      if (patch) actions.push(patch);
      events.push(podEvent(p, 'Warning', 'FailedScheduling', placement.error));
      return { actions, events, requeueAfterMs: retryMs };
    },
  };
}

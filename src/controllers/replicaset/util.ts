// Helpers shared by the workload controllers (ReplicaSet, Deployment, and the
// scheduler's view of pods): controller references and claiming, pod
// readiness and availability, timestamps. Pure; mirrors what kube keeps in
// pkg/controller/controller_utils.go, controller_ref_manager.go and
// pkg/api/v1/pod/util.go.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Action } from '../types.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import { labelSelectorAsRequirements, matches, type Requirement } from '../../api/labels.js';

/** metav1.Time as the API prints it: RFC 3339, seconds precision, UTC. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Milliseconds since the epoch of an RFC 3339 time, or undefined. */
export function parseTime(t: string | null | undefined): number | undefined {
  if (!t) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

export function nsName(o: KObject): string {
  const md = o.metadata ?? {};
  return md.namespace ? `${md.namespace}/${md.name ?? ''}` : md.name ?? '';
}

/** Splits a `namespace/name` key; a key without a slash is a cluster-scoped name. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The key that stands for "every object of the primary kind in this namespace". */
export function namespaceWildcardKey(namespace: string): string {
  return `${namespace}/*`;
}

/** ReplicaSetsByCreationTimestamp / ActivePods' last rule: creation time, then name. */
export function byCreation(a: KObject, b: KObject): number {
  const ta = parseTime(a.metadata?.creationTimestamp) ?? 0;
  const tb = parseTime(b.metadata?.creationTimestamp) ?? 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata?.name ?? '';
  const nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

export function controllerRefOf(o: KObject | undefined): OwnerReference | undefined {
  return o?.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** metav1.NewControllerRef. */
export function newControllerRef(owner: KObject, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion, kind, name: owner.metadata?.name ?? '', uid: owner.metadata?.uid ?? '',
    controller: true, blockOwnerDeletion: true,
  };
}

export function isBeingDeleted(o: KObject | undefined): boolean {
  return !!o?.metadata?.deletionTimestamp;
}

/** The selector as requirements, or null when it is missing or invalid (selects nothing). */
export function selectorRequirements(selector: unknown): Requirement[] | null {
  try {
    return labelSelectorAsRequirements(selector as Parameters<typeof labelSelectorAsRequirements>[0]);
  } catch {
    return null;
  }
}

export function selects(reqs: Requirement[] | null, o: KObject): boolean {
  return reqs !== null && matches(reqs, o.metadata?.labels ?? {});
}

/**
 * A merge patch that sets an object's whole ownerReferences list, pinned to
 * the resourceVersion the decision was made on: a stale cache gets a 409 and
 * the key is retried, as kube's adoption re-checks with a live read.
 */
export function ownerRefsPatch(r: ResourceInfo, o: KObject, refs: OwnerReference[]): Action {
  const md = o.metadata ?? {};
  return {
    verb: 'patch', resource: r, namespace: md.namespace, name: md.name ?? '', patchType: 'merge',
    patch: { metadata: { resourceVersion: md.resourceVersion, ownerReferences: refs.length ? refs : null } },
  };
}

export interface ClaimResult {
  /** Objects this owner controls after the claim (owned and matching, plus adopted). */
  claimed: KObject[];
  actions: Action[];
}

/**
 * ControllerRefManager.ClaimObjects: keep owned objects that still match,
 * release owned ones that no longer match, adopt matching orphans (unless the
 * owner or the orphan is being deleted). Objects controlled by someone else
 * are left alone.
 */
export function claim(owner: KObject, ownerApiVersion: string, ownerKind: string,
  reqs: Requirement[] | null, candidates: readonly KObject[], r: ResourceInfo): ClaimResult {
  const uid = owner.metadata?.uid;
  const claimed: KObject[] = [];
  const actions: Action[] = [];
  for (const o of candidates) {
    const ref = controllerRefOf(o);
    const match = selects(reqs, o);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (match) { claimed.push(o); continue; }
      // Release: a terminating object is not worth a write.
      if (!isBeingDeleted(o)) {
        actions.push(ownerRefsPatch(r, o, (o.metadata?.ownerReferences ?? []).filter((x) => x.uid !== uid)));
      }
      continue;
    }
    if (!match || isBeingDeleted(owner) || isBeingDeleted(o)) continue;
    actions.push(ownerRefsPatch(r, o, [...(o.metadata?.ownerReferences ?? []), newControllerRef(owner, ownerApiVersion, ownerKind)]));
    claimed.push(o);
  }
  return { claimed, actions };
}

// ---------------------------------------------------------------------------
// Pods

export function asPod(o: KObject): Pod {
  return o as unknown as Pod;
}

/** controller.IsPodActive: not finished and not being deleted. */
export function isPodActive(p: Pod): boolean {
  const phase = p.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !p.metadata?.deletionTimestamp;
}

export function isPodTerminal(p: Pod): boolean {
  const phase = p.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

export function podReadyCondition(p: Pod): { status: string; lastTransitionTime?: string } | undefined {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(p: Pod): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/**
 * podutil.IsPodAvailable: ready for at least minReadySeconds. Returns the time
 * (ms) at which a ready pod will become available when it is not yet.
 */
export function podAvailability(p: Pod, minReadySeconds: number, now: Date): { available: boolean; availableAt?: number } {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return { available: false };
  if (!minReadySeconds) return { available: true };
  const since = parseTime(c.lastTransitionTime);
  if (since === undefined) return { available: false };
  const at = since + minReadySeconds * 1000;
  return at < now.getTime() ? { available: true } : { available: false, availableAt: at };
}

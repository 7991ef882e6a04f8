// The garbage collector (kube's pkg/controller/garbagecollector), as a pure
// reconciler over the kinds svcnet serves. Kube keeps a graph of owner
// references; here the graph is read from the cache on each reconcile.
//
// For an object (a "dependent") whose ownerReferences are examined:
//   solid    the owner exists with that uid and is not being deleted in the
//            foreground
//   dangling the owner is absent, or exists with another uid (recreated)
//   waiting  the owner is being deleted in the foreground (foregroundDeletion)
// - some solid owner: dangling and waiting references are removed (patch);
// - none, some waiting, and the object has dependents of its own: it is
//   deleted in the foreground, so its own dependents go first;
// - otherwise it is deleted (background unless its finalizers ask otherwise).
// An owner being deleted:
// - with the `orphan` finalizer: its dependents lose their reference to it,
//   then the finalizer is removed;
// - with `foregroundDeletion`: its dependents are deleted; once none with
//   blockOwnerDeletion remain, the finalizer is removed.
//
// Kube confirms an absent owner with a live GET before deleting; a pure
// reconciler cannot, so a dependent younger than `ownerLookupGraceMs` is not
// judged yet (its owner may simply not be in the cache yet) and is requeued.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import { findByKind, findResource, type ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, Plan, Reconciler } from '../types.js';
import { parseTime } from '../replicaset/util.js';

/** The kinds svcnet serves whose owner references are collected. */
export const collectedResources: readonly ResourceInfo[] = [
  findResource('', 'v1', 'pods')!,
  findResource('apps', 'v1', 'replicasets')!,
  findResource('apps', 'v1', 'deployments')!,
  findResource('discovery.k8s.io', 'v1', 'endpointslices')!,
  findResource('', 'v1', 'endpoints')!,
  findResource('', 'v1', 'services')!,
  findResource('', 'v1', 'configmaps')!,
];

export const OrphanFinalizer = 'orphan';
export const ForegroundFinalizer = 'foregroundDeletion';

export interface GarbageCollectorOptions {
  /** How long a dependent may have an owner missing from the cache before it is collected. */
  ownerLookupGraceMs?: number;
  /** Resources to collect; default collectedResources. */
  resources?: readonly ResourceInfo[];
}

function resourceId(r: ResourceInfo): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

/** `<resource>[.<group>]/<namespace>/<name>`, e.g. `replicasets.apps/default/web-5d8f7c9b4`. */
export function gcKey(r: ResourceInfo, namespace: string | undefined, name: string): string {
  return `${resourceId(r)}/${namespace ?? ''}/${name}`;
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

function hasFinalizer(o: KObject, f: string): boolean {
  return o.metadata?.finalizers?.includes(f) ?? false;
}

type Kind = 'solid' | 'dangling' | 'waiting';

class Collector {
  readonly actions: Action[] = [];
  requeueAfterMs: number | undefined;
  /** Objects already given an action in this plan (namespace/name per resource). */
  private readonly touched = new Set<string>();

  constructor(private readonly cache: Cache, private readonly now: Date, private readonly watched: readonly ResourceInfo[], private readonly graceMs: number) {}

  requeue(ms: number): void {
    this.requeueAfterMs = Math.min(this.requeueAfterMs ?? Infinity, Math.max(0, ms));
  }

  resourceOf(apiVersion: string, kind: string): ResourceInfo | undefined {
    const r = findByKind(apiVersion, kind);
    return r && this.watched.some((w) => w.group === r.group && w.plural === r.plural) ? r : undefined;
  }

  private resOfObj(o: KObject): ResourceInfo | undefined {
    return this.resourceOf(o.apiVersion ?? '', o.kind ?? '');
  }

  /** Every watched object in the namespace. */
  private objectsIn(namespace: string | undefined): { r: ResourceInfo; o: KObject }[] {
    return this.watched.flatMap((r) => (r.namespaced ? this.cache.list(r, namespace) : this.cache.list(r)).map((o) => ({ r, o })));
  }

  dependentsOf(owner: KObject): { r: ResourceInfo; o: KObject; ref: OwnerReference }[] {
    const uid = owner.metadata?.uid;
    if (!uid) return [];
    const out: { r: ResourceInfo; o: KObject; ref: OwnerReference }[] = [];
    for (const { r, o } of this.objectsIn(owner.metadata?.namespace)) {
      const ref = o.metadata?.ownerReferences?.find((x) => x.uid === uid);
      if (ref) out.push({ r, o, ref });
    }
    return out;
  }

  /** Objects whose reference names this owner identity but not the uid it has now (or it is gone). */
  danglingByName(r: ResourceInfo, namespace: string | undefined, name: string, current: KObject | undefined): { r: ResourceInfo; o: KObject }[] {
    const uid = current?.metadata?.uid;
    return this.objectsIn(r.namespaced ? namespace : undefined).filter(({ o }) => (o.metadata?.ownerReferences ?? []).some((ref) =>
      ref.kind === r.kind && groupOf(ref.apiVersion) === r.group && ref.name === name && ref.uid !== uid));
  }

  private classify(item: KObject, ref: OwnerReference): Kind {
    const r = this.resourceOf(ref.apiVersion, ref.kind);
    // An owner of a kind we do not watch cannot be verified: never collect on its account.
    if (!r) return 'solid';
    const owner = this.cache.get(r, r.namespaced ? item.metadata?.namespace : undefined, ref.name);
    if (!owner || owner.metadata?.uid !== ref.uid) return 'dangling';
    if (owner.metadata?.deletionTimestamp && hasFinalizer(owner, ForegroundFinalizer)) return 'waiting';
    return 'solid';
  }

  private once(r: ResourceInfo, o: KObject): boolean {
    const k = gcKey(r, o.metadata?.namespace, o.metadata?.name ?? '');
    if (this.touched.has(k)) return false;
    this.touched.add(k);
    return true;
  }

  /** attemptToDeleteItem: decide about one dependent from its owner references. */
  attemptToDelete(r: ResourceInfo, item: KObject): void {
    if (item.metadata?.deletionTimestamp) return;
    const refs = item.metadata?.ownerReferences ?? [];
    if (refs.length === 0) return;
    const kinds = refs.map((ref) => this.classify(item, ref));
    if (kinds.includes('dangling')) {
      const created = parseTime(item.metadata?.creationTimestamp) ?? 0;
      const age = this.now.getTime() - created;
      if (age < this.graceMs) { this.requeue(this.graceMs - age); return; }
    }
    if (!this.once(r, item)) return;
    const md = item.metadata ?? {};
    if (kinds.includes('solid')) {
      if (kinds.every((k) => k === 'solid')) return;
      const keep = refs.filter((_, i) => kinds[i] === 'solid');
      this.actions.push({
        verb: 'patch', resource: r, namespace: md.namespace, name: md.name ?? '', patchType: 'merge',
        patch: { metadata: { resourceVersion: md.resourceVersion, ownerReferences: keep } },
      });
      return;
    }
    let policy: 'Orphan' | 'Foreground' | 'Background' = 'Background';
    if (kinds.includes('waiting') && this.dependentsOf(item).length > 0) policy = 'Foreground';
    else if (hasFinalizer(item, OrphanFinalizer)) policy = 'Orphan';
    else if (hasFinalizer(item, ForegroundFinalizer)) policy = 'Foreground';
    this.actions.push({ verb: 'delete', resource: r, namespace: md.namespace, name: md.name ?? '', preconditions: { uid: md.uid }, propagationPolicy: policy });
  }

  private removeFinalizer(r: ResourceInfo, o: KObject, f: string): void {
    const md = o.metadata ?? {};
    const rest = (md.finalizers ?? []).filter((x) => x !== f);
    this.actions.push({
      verb: 'patch', resource: r, namespace: md.namespace, name: md.name ?? '', patchType: 'merge',
      patch: { metadata: { resourceVersion: md.resourceVersion, finalizers: rest.length ? rest : null } },
    });
  }

  /** orphanDependents, then the finalizer goes (on a later pass, once no dependent refers to the owner). */
  orphan(r: ResourceInfo, owner: KObject): void {
    const deps = this.dependentsOf(owner);
    if (deps.length === 0) { this.removeFinalizer(r, owner, OrphanFinalizer); return; }
    for (const { r: dr, o } of deps) {
      if (!this.once(dr, o)) continue;
      const md = o.metadata ?? {};
      const rest = (md.ownerReferences ?? []).filter((x) => x.uid !== owner.metadata?.uid);
      this.actions.push({
        verb: 'patch', resource: dr, namespace: md.namespace, name: md.name ?? '', patchType: 'merge',
        patch: { metadata: { resourceVersion: md.resourceVersion, ownerReferences: rest.length ? rest : null } },
      });
    }
    this.requeue(1000);
  }

  /** processDeletingDependentsItem: delete dependents; drop the finalizer when no blocking one is left. */
  foreground(r: ResourceInfo, owner: KObject): void {
    const deps = this.dependentsOf(owner);
    for (const { r: dr, o } of deps) this.attemptToDelete(dr, o);
    const blocking = deps.filter(({ ref }) => ref.blockOwnerDeletion === true);
    if (blocking.length === 0) this.removeFinalizer(r, owner, ForegroundFinalizer);
    else this.requeue(5000);
  }
}

export function garbageCollector(opts: GarbageCollectorOptions = {}): Reconciler {
  const watched = opts.resources ?? collectedResources;
  const graceMs = opts.ownerLookupGraceMs ?? 5000;
  const byId = new Map(watched.map((r) => [resourceId(r), r]));
  return {
    name: 'garbage-collector-controller',
    watches: watched,
    keysFor(r: ResourceInfo, obj: KObject, old?: KObject): string[] {
      const keys = new Set([gcKey(r, obj.metadata?.namespace, obj.metadata?.name ?? '')]);
      // A dependent that changed or went may unblock its owners' foreground or orphan deletion.
      for (const o of [obj, old]) {
        for (const ref of o?.metadata?.ownerReferences ?? []) {
          const or = findByKind(ref.apiVersion, ref.kind);
          if (or && byId.has(resourceId(or))) keys.add(gcKey(or, or.namespaced ? o?.metadata?.namespace : undefined, ref.name));
        }
      }
      return [...keys];
    },
    reconcile(key: string, cache: Cache, now: Date): Plan {
      const parts = key.split('/');
      if (parts.length !== 3) return { actions: [] };
      const r = byId.get(parts[0]!);
      if (!r) return { actions: [] };
      const namespace = r.namespaced ? parts[1] : undefined;
      const name = parts[2]!;
      const c = new Collector(cache, now, watched, graceMs);
      const obj = cache.get(r, namespace, name);
      if (obj) {
        if (obj.metadata?.deletionTimestamp) {
          if (hasFinalizer(obj, OrphanFinalizer)) c.orphan(r, obj);
          else if (hasFinalizer(obj, ForegroundFinalizer)) c.foreground(r, obj);
        } else {
          c.attemptToDelete(r, obj);
        }
      }
      // Dependents left behind by an owner of this name that is gone or was recreated.
      for (const d of c.danglingByName(r, namespace, name, obj)) c.attemptToDelete(d.r, d.o);
      const plan: Plan = { actions: c.actions };
      if (c.requeueAfterMs !== undefined) plan.requeueAfterMs = c.requeueAfterMs;
      return plan;
    },
  };
}

// A small in-memory Cache for reconciler tests, and `applyPlan`, a toy API
// server that applies a Plan's actions to it (create with generateName,
// update, merge patch, a strategic patch good enough for conditions, delete
// with finalizers, pods/binding). It lets a test run several controllers in
// turns and watch the world converge, without a server.
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { findByKind, groupVersion, resources, type ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, Plan } from '../types.js';

export function resourceFor(obj: KObject): ResourceInfo {
  const r = findByKind(obj.apiVersion ?? '', obj.kind ?? '');
  if (!r) throw new Error(`fakecache: unknown kind ${obj.apiVersion}/${obj.kind}`);
  return r;
}

export function res(plural: string): ResourceInfo {
  const r = resources.find((x) => x.plural === plural);
  if (!r) throw new Error(`fakecache: unknown resource ${plural}`);
  return r;
}

/** ObjectMeta with the server-set fields writable, as a toy server needs. */
type MutMeta = { -readonly [K in keyof ObjectMeta]: ObjectMeta[K] } & Record<string, unknown>;

function rid(r: ResourceInfo): string {
  return `${r.plural}.${r.group}`;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Enough of a strategic merge patch for tests: lists of objects with `type` merge by it. */
function strategicPatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object') return clone(patch);
  if (Array.isArray(patch)) {
    if (!Array.isArray(target) || !patch.every((x) => x && typeof x === 'object' && 'type' in x)) return clone(patch);
    const out = [...target] as Record<string, unknown>[];
    for (const p of patch as Record<string, unknown>[]) {
      const i = out.findIndex((x) => x['type'] === p['type']);
      if (i >= 0) out[i] = strategicPatch(out[i], p) as Record<string, unknown>;
      else out.push(clone(p));
    }
    return out;
  }
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = strategicPatch(out[k], v);
  }
  return out;
}

export class ConflictError extends Error {}
export class NotFoundError extends Error {}
export class AlreadyExistsError extends Error {}

export interface ApplyResult {
  /** Objects created, in order (with their final names). */
  created: KObject[];
  /** Errors by action index; a failed action does not stop the others. */
  errors: { index: number; error: Error }[];
}

export class FakeCache implements Cache {
  private readonly objs = new Map<string, Map<string, KObject>>();
  private rv = 1;
  private uidSeq = 0;
  private nameSeq = 0;

  constructor(objects: readonly KObject[] = []) {
    for (const o of objects) this.add(o);
  }

  private bucket(r: ResourceInfo): Map<string, KObject> {
    let b = this.objs.get(rid(r));
    if (!b) { b = new Map(); this.objs.set(rid(r), b); }
    return b;
  }

  private static k(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  /** Adds or replaces an object as is (a uid and resourceVersion are filled in when missing). */
  add(obj: KObject): KObject {
    const o = clone(obj);
    const md = (o.metadata ??= {}) as ObjectMeta & { uid?: string; resourceVersion?: string };
    md.uid ??= `uid-${md.name ?? ++this.uidSeq}`;
    md.resourceVersion ??= String(this.rv++);
    this.bucket(resourceFor(o)).set(FakeCache.k(md.namespace, md.name ?? ''), o);
    return o;
  }

  remove(r: ResourceInfo, namespace: string | undefined, name: string): void {
    this.bucket(r).delete(FakeCache.k(namespace, name));
  }

  list(r: ResourceInfo, namespace?: string): readonly KObject[] {
    const all = [...this.bucket(r).values()];
    const items = namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
    return items.sort((a, b) => FakeCache.k(a.metadata?.namespace, a.metadata?.name ?? '').localeCompare(FakeCache.k(b.metadata?.namespace, b.metadata?.name ?? '')));
  }

  get(r: ResourceInfo, namespace: string | undefined, name: string): KObject | undefined {
    return this.bucket(r).get(FakeCache.k(r.namespaced ? namespace : undefined, name));
  }

  /** Applies a plan's actions in order, like a runner over a real server would. */
  apply(plan: Plan, now: Date): ApplyResult {
    const result: ApplyResult = { created: [], errors: [] };
    plan.actions.forEach((a, index) => {
      try {
        const c = this.applyAction(a, now);
        if (c) result.created.push(c);
      } catch (error) {
        result.errors.push({ index, error: error as Error });
      }
    });
    return result;
  }

  private nextRV(o: KObject): void {
    (o.metadata as { resourceVersion?: string }).resourceVersion = String(this.rv++);
  }

  private applyAction(a: Action, now: Date): KObject | undefined {
    const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const ns = a.resource.namespaced ? a.namespace : undefined;
    switch (a.verb) {
      case 'create': {
        if (a.subresource === 'binding') {
          const pod = this.get(a.resource, ns, a.name ?? '');
          if (!pod) throw new NotFoundError(`pods "${a.name}" not found`);
          const spec = (pod['spec'] ??= {}) as { nodeName?: string };
          if (spec.nodeName) throw new ConflictError(`pod ${a.name} is already assigned to node "${spec.nodeName}"`);
          spec.nodeName = (a.object['target'] as { name: string }).name;
          this.nextRV(pod);
          return undefined;
        }
        const o = clone(a.object);
        const md = (o.metadata ??= {}) as MutMeta;
        if (!md.name && md.generateName) md.name = `${md.generateName}${(++this.nameSeq).toString(36).padStart(5, 'x')}`;
        md.namespace = ns;
        if (this.get(a.resource, ns, md.name ?? '')) throw new AlreadyExistsError(`${a.resource.plural} "${md.name}" already exists`);
        md['uid'] = `uid-${md.name}-${++this.uidSeq}`;
        md['creationTimestamp'] = ts;
        if (a.resource.group === 'apps') md.generation = 1;
        delete md['resourceVersion'];
        return this.add(o);
      }
      case 'update': {
        const md = a.object.metadata ?? {};
        const cur = this.get(a.resource, ns, md.name ?? '');
        if (!cur) throw new NotFoundError(`${a.resource.plural} "${md.name}" not found`);
        if (md.resourceVersion && md.resourceVersion !== cur.metadata?.resourceVersion) throw new ConflictError('the object has been modified');
        const next = a.subresource === 'status' ? { ...clone(cur), status: clone(a.object['status']) } : this.keepServerFields(cur, clone(a.object));
        this.put(a.resource, ns, md.name ?? '', next);
        return undefined;
      }
      case 'patch': {
        const cur = this.get(a.resource, ns, a.name);
        if (!cur) throw new NotFoundError(`${a.resource.plural} "${a.name}" not found`);
        let next: KObject;
        if (a.patchType === 'merge') next = mergePatch(cur, a.patch) as KObject;
        else if (a.patchType === 'strategic') next = strategicPatch(cur, a.patch) as KObject;
        else throw new Error(`fakecache: unsupported patch type ${a.patchType}`);
        const pinned = next.metadata?.resourceVersion;
        if (pinned && pinned !== cur.metadata?.resourceVersion) throw new ConflictError('the object has been modified');
        if (a.subresource === 'status') next = { ...clone(cur), status: next['status'] };
        else next = this.keepServerFields(cur, next);
        this.put(a.resource, ns, a.name, next);
        return undefined;
      }
      case 'delete': {
        const cur = this.get(a.resource, ns, a.name);
        if (!cur) throw new NotFoundError(`${a.resource.plural} "${a.name}" not found`);
        if (a.preconditions?.uid && a.preconditions.uid !== cur.metadata?.uid) throw new ConflictError('Precondition failed: UID');
        const fin = [...(cur.metadata?.finalizers ?? [])];
        if (a.propagationPolicy === 'Foreground' && !fin.includes('foregroundDeletion')) fin.push('foregroundDeletion');
        if (a.propagationPolicy === 'Orphan' && !fin.includes('orphan')) fin.push('orphan');
        if (fin.length) {
          const next = clone(cur);
          const md = next.metadata as MutMeta;
          md.finalizers = fin;
          md['deletionTimestamp'] ??= ts;
          this.nextRV(next);
          this.bucket(a.resource).set(FakeCache.k(ns, a.name), next);
        } else {
          this.remove(a.resource, ns, a.name);
        }
        return undefined;
      }
    }
  }

  /** Stores a written object; one being deleted whose last finalizer went is removed. */
  private put(r: ResourceInfo, ns: string | undefined, name: string, next: KObject): void {
    if (next.metadata?.deletionTimestamp && !(next.metadata.finalizers?.length)) {
      this.remove(r, ns, name);
      return;
    }
    this.nextRV(next);
    this.bucket(r).set(FakeCache.k(ns, name), next);
  }

  /** What a main-resource write keeps from the stored object: status, and generation bumps on spec change. */
  private keepServerFields(cur: KObject, next: KObject): KObject {
    next['status'] = clone(cur['status']);
    const md = next.metadata as MutMeta;
    const cmd = cur.metadata ?? {};
    md['uid'] = cmd.uid;
    md['creationTimestamp'] = cmd.creationTimestamp;
    if (cmd.deletionTimestamp) md['deletionTimestamp'] = cmd.deletionTimestamp;
    if (cmd.generation !== undefined) {
      md.generation = JSON.stringify(cur['spec']) === JSON.stringify(next['spec']) ? cmd.generation : cmd.generation + 1;
    }
    return next;
  }
}

/** The apiVersion a resource's objects carry. */
export function apiVersionOf(r: ResourceInfo): string {
  return groupVersion(r);
}

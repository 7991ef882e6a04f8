// Test support for the endpoint controllers: a stateful fake Cache that can
// also apply a Plan the way the API server would (names from generateName,
// uids, resourceVersions, conflicts), builders for Services, Pods, Nodes,
// and a plain-text rendering of plans that reads like a golden file.
import type { EndpointAddress, Endpoints, Node, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { findByKind, type ResourceInfo } from '../../api/resources.js';
import { createCache } from '../../client/cache.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, CacheIndex, Plan } from '../types.js';

function resourceOf(obj: KObject): ResourceInfo {
  const r = findByKind(obj.apiVersion ?? '', obj.kind ?? '');
  if (!r) throw new Error(`unknown kind ${obj.apiVersion} ${obj.kind}`);
  return r;
}

const same = (a: ResourceInfo, b: ResourceInfo): boolean => a.group === b.group && a.plural === b.plural;

/** A Cache over an array, which can also apply plans. */
export class FakeCache implements Cache {
  private objects: KObject[] = [];
  private rv = 100;
  private seq = 0;

  constructor(objects: readonly object[] = []) {
    for (const o of objects) this.add(o);
  }

  add(obj: object): this {
    const o = structuredClone(obj) as KObject;
    this.remove(resourceOf(o), o.metadata?.namespace, o.metadata?.name ?? '');
    this.objects.push(o);
    return this;
  }

  remove(r: ResourceInfo, namespace: string | undefined, name: string): void {
    this.objects = this.objects.filter((o) => !(same(resourceOf(o), r) && (!r.namespaced || o.metadata?.namespace === namespace) && o.metadata?.name === name));
  }

  list(r: ResourceInfo, namespace?: string): readonly KObject[] {
    return this.objects.filter((o) => same(resourceOf(o), r) && (namespace === undefined || !r.namespaced || o.metadata?.namespace === namespace));
  }

  get(r: ResourceInfo, namespace: string | undefined, name: string): KObject | undefined {
    return this.list(r, r.namespaced ? namespace : undefined).find((o) => o.metadata?.name === name);
  }

  /** Applies the plan's actions in order, as the API server would; throws on a conflict or a missing object. */
  apply(plan: Plan): this {
    for (const a of plan.actions) this.applyAction(a);
    return this;
  }

  private applyAction(a: Action): void {
    switch (a.verb) {
      case 'create': {
        const o = structuredClone(a.object);
        const md = { ...(o.metadata ?? {}) };
        if (!md.name) {
          md.name = `${md.generateName ?? ''}${(++this.seq).toString(36).padStart(5, 'x')}`;
        }
        if (this.get(a.resource, a.namespace, md.name)) throw new Error(`create: ${md.name} already exists`);
        md.namespace = a.namespace;
        md.uid = `uid-${md.name}`;
        md.resourceVersion = String(++this.rv);
        o.metadata = md;
        this.objects.push(o);
        return;
      }
      case 'update': {
        const o = structuredClone(a.object);
        const name = o.metadata?.name ?? '';
        const cur = this.get(a.resource, a.namespace, name);
        if (!cur) throw new Error(`update: ${name} not found`);
        const want = o.metadata?.resourceVersion;
        if (want && want !== cur.metadata?.resourceVersion) throw new Error(`update: conflict on ${name} (rv ${want} != ${cur.metadata?.resourceVersion})`);
        o.metadata = { ...o.metadata, uid: cur.metadata?.uid, resourceVersion: String(++this.rv) };
        this.remove(a.resource, a.namespace, name);
        this.objects.push(o);
        return;
      }
      case 'delete': {
        const cur = this.get(a.resource, a.namespace, a.name);
        if (!cur) throw new Error(`delete: ${a.name} not found`);
        if (a.preconditions?.uid && a.preconditions.uid !== cur.metadata?.uid) throw new Error(`delete: uid precondition failed on ${a.name}`);
        this.remove(a.resource, a.namespace, a.name);
        return;
      }
      case 'patch':
        throw new Error('patch not supported by FakeCache');
    }
  }

  /**
   * A snapshot of this cache that also answers `byIndex` for these indexes,
   * from the informer cache's own index code (client/cache.ts), as the
   * runner's cache does. Reconciling against it must give the same plan as
   * against the plain cache, which has no index and makes callers scan.
   */
  indexed(indexes: readonly CacheIndex[]): Cache {
    const caches = new Map<string, ReturnType<typeof createCache>>();
    const cacheFor = (r: ResourceInfo) => {
      const k = `${r.group}/${r.plural}`;
      let c = caches.get(k);
      if (!c) {
        c = createCache();
        for (const ix of indexes) if (same(ix.resource, r)) c.writer.addIndex(ix.name, ix.values);
        c.writer.replace(this.list(r), String(this.rv));
        caches.set(k, c);
      }
      return c.reader;
    };
    return {
      list: (r, namespace) => this.list(r, namespace),
      get: (r, namespace, name) => this.get(r, namespace, name),
      byIndex: (r, index, value) => {
        const store = cacheFor(r);
        return store.hasIndex(index) ? store.byIndex(index, value) : undefined;
      },
    };
  }

  slices(namespace = 'default'): EndpointSlice[] {
    return this.list(findByKind('discovery.k8s.io/v1', 'EndpointSlice')!, namespace) as unknown as EndpointSlice[];
  }
}

// ---------------------------------------------------------------------------
// Builders

export interface ServiceOpts {
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  selector?: Record<string, string> | null;
  ports?: ServicePort[];
  clusterIP?: string;
  ipFamilies?: ('IPv4' | 'IPv6')[];
  type?: string;
  publishNotReadyAddresses?: boolean;
}

/** A typed object that is also a KObject, as the Cache and keysFor take them. */
export type K<T> = T & KObject;

/** The object a create or update action writes, as an EndpointSlice. */
export function sliceOf(a: Action | undefined): EndpointSlice {
  if (!a || (a.verb !== 'create' && a.verb !== 'update')) throw new Error(`not a write: ${a?.verb}`);
  return a.object as unknown as EndpointSlice;
}

export function service(name: string, o: ServiceOpts = {}): K<Service> {
  const clusterIP = o.clusterIP ?? '10.96.0.10';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace ?? 'default', uid: o.uid ?? `svc-uid-${name}`, resourceVersion: '1', ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      type: o.type ?? 'ClusterIP',
      ...(o.selector === null ? {} : { selector: o.selector ?? { app: name } }),
      ports: o.ports ?? [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      clusterIP,
      clusterIPs: clusterIP === 'None' ? ['None'] : [clusterIP],
      ipFamilies: o.ipFamilies ?? ['IPv4'],
      ...(o.publishNotReadyAddresses ? { publishNotReadyAddresses: true } : {}),
    },
  };
}

export interface PodOpts {
  namespace?: string;
  labels?: Record<string, string>;
  ips?: string[];
  ready?: boolean;
  node?: string;
  phase?: string;
  deleting?: boolean;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  hostname?: string;
  subdomain?: string;
  resourceVersion?: string;
}

export function pod(name: string, o: PodOpts = {}): K<Pod> {
  const ips = o.ips ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: o.namespace ?? 'default', uid: `pod-uid-${name}`, resourceVersion: o.resourceVersion ?? '1',
      labels: o.labels ?? { app: 'web' },
      ...(o.deleting ? { deletionTimestamp: '2026-11-23T10:00:00Z' } : {}),
    },
    spec: {
      nodeName: o.node ?? 'node-1',
      containers: [{ name: 'c', image: 'x', ...(o.ports ? { ports: o.ports.map((p) => ({ protocol: 'TCP', ...p })) } : {}) }],
      ...(o.hostname ? { hostname: o.hostname } : {}),
      ...(o.subdomain ? { subdomain: o.subdomain } : {}),
    },
    status: {
      phase: o.phase ?? 'Running',
      ...(ips.length ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {}),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

export function node(name: string, zone?: string): K<Node> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `node-uid-${name}`, ...(zone ? { labels: { 'topology.kubernetes.io/zone': zone } } : {}) },
  };
}

// ---------------------------------------------------------------------------
// Plan rendering

function flags(c: Record<string, unknown> | undefined): string {
  const on = ['ready', 'serving', 'terminating'].filter((k) => c?.[k] === true);
  return `[${on.join(' ')}]`;
}

function portsText(ports: readonly { name?: string; protocol?: string; port?: number; appProtocol?: string }[] | undefined): string {
  return `[${(ports ?? []).map((p) => `${p.name || '-'}:${p.protocol ?? '?'}:${p.port ?? '?'}${p.appProtocol ? `(${p.appProtocol})` : ''}`).join(' ')}]`;
}

function sliceText(s: EndpointSlice): string[] {
  const lines = [`${s.addressType} ports=${portsText(s.ports)}`];
  for (const e of s.endpoints ?? []) {
    const extra = [
      e.targetRef ? `pod/${e.targetRef.name}` : '',
      e.hostname ? `hostname=${e.hostname}` : '',
      e.nodeName ? `node=${e.nodeName}` : '',
      e.zone ? `zone=${e.zone}` : '',
    ].filter(Boolean).join(' ');
    lines.push(`  ${[e.addresses.join(','), extra, flags(e.conditions as Record<string, unknown>)].filter(Boolean).join(' ')}`);
  }
  return lines;
}

function addressesText(list: readonly EndpointAddress[] | undefined): string {
  return (list ?? []).map((a) => `${a.ip}${a.targetRef ? `(${a.targetRef.name})` : ''}`).join(' ');
}

function endpointsText(ep: Endpoints): string[] {
  const lines: string[] = [];
  const ann = ep.metadata?.annotations ?? {};
  for (const k of Object.keys(ann).sort()) lines.push(`  @${k}=${ann[k]}`);
  for (const s of ep.subsets ?? []) {
    lines.push(`  ports=${portsText(s.ports)}`);
    if (s.addresses?.length) lines.push(`    ready: ${addressesText(s.addresses)}`);
    if (s.notReadyAddresses?.length) lines.push(`    notReady: ${addressesText(s.notReadyAddresses)}`);
  }
  return lines;
}

/**
 * One line per action, and for slices and Endpoints their contents:
 *
 *   create EndpointSlice default/web-* IPv4 ports=[http:TCP:8080]
 *     10.0.0.1 pod/a node=node-1 [ready serving]
 */
export function describePlan(plan: Plan): string {
  const lines: string[] = [];
  for (const a of plan.actions) {
    if (a.verb === 'delete') {
      lines.push(`delete ${a.resource.kind} ${a.namespace}/${a.name}`);
      continue;
    }
    if (a.verb === 'patch') {
      lines.push(`patch ${a.resource.kind} ${a.namespace}/${a.name}`);
      continue;
    }
    const md = a.object.metadata ?? {};
    const name = md.name ?? `${md.generateName ?? ''}*`;
    const rv = a.verb === 'update' && md.resourceVersion ? ` rv=${md.resourceVersion}` : '';
    if (a.resource.kind === 'EndpointSlice') {
      const [head, ...rest] = sliceText(a.object as unknown as EndpointSlice);
      lines.push(`${a.verb} EndpointSlice ${a.namespace}/${name}${rv} ${head}`, ...rest);
    } else if (a.resource.kind === 'Endpoints') {
      lines.push(`${a.verb} Endpoints ${a.namespace}/${name}${rv}`, ...endpointsText(a.object as unknown as Endpoints));
    } else {
      lines.push(`${a.verb} ${a.resource.kind} ${a.namespace}/${name}${rv}`);
    }
  }
  for (const e of plan.events ?? []) lines.push(`event ${e.type} ${e.reason}: ${e.message}`);
  if (plan.requeueAfterMs !== undefined) lines.push(`requeue after ${plan.requeueAfterMs}ms`);
  return lines.join('\n');
}

/** A template literal's lines, with common indentation and blank edges removed. */
export function golden(s: string): string {
  const lines = s.split('\n');
  while (lines.length && lines[0]!.trim() === '') lines.shift();
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

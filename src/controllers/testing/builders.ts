// Terse builders of plain API objects for reconciler tests.
import type { OwnerReference } from 'kubernetes-types/meta/v1.js';
import type { KObject } from '../../client/types.js';

export const T0 = '2024-01-01T00:00:00Z';

export function ownerRef(kind: string, name: string, uid: string, opts: { apiVersion?: string; controller?: boolean; block?: boolean } = {}): OwnerReference {
  const apiVersion = opts.apiVersion ?? (kind === 'ReplicaSet' || kind === 'Deployment' ? 'apps/v1' : 'v1');
  const r: OwnerReference = { apiVersion, kind, name, uid };
  if (opts.controller ?? true) r.controller = true;
  if (opts.block ?? true) r.blockOwnerDeletion = true;
  return r;
}

export interface PodOpts {
  ns?: string;
  labels?: Record<string, string>;
  owner?: OwnerReference;
  node?: string;
  phase?: string;
  ready?: boolean;
  /** When the Ready condition became True. */
  readySince?: string;
  created?: string;
  deleting?: boolean;
  restarts?: number;
  schedulerName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: unknown;
  tolerations?: unknown[];
  priority?: number;
  uid?: string;
}

export function pod(name: string, o: PodOpts = {}): KObject {
  const conditions: unknown[] = [];
  if (o.ready !== undefined) conditions.push({ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: o.readySince ?? T0 });
  const md: Record<string, unknown> = { name, namespace: o.ns ?? 'default', creationTimestamp: o.created ?? T0, uid: o.uid ?? `uid-${name}` };
  if (o.labels) md['labels'] = o.labels;
  if (o.owner) md['ownerReferences'] = [o.owner];
  if (o.deleting) md['deletionTimestamp'] = T0;
  const spec: Record<string, unknown> = { containers: [{ name: 'c', image: 'img' }] };
  if (o.node) spec['nodeName'] = o.node;
  if (o.schedulerName) spec['schedulerName'] = o.schedulerName;
  if (o.nodeSelector) spec['nodeSelector'] = o.nodeSelector;
  if (o.affinity) spec['affinity'] = o.affinity;
  if (o.tolerations) spec['tolerations'] = o.tolerations;
  if (o.priority !== undefined) spec['priority'] = o.priority;
  const status: Record<string, unknown> = { phase: o.phase ?? (o.node ? 'Running' : 'Pending'), conditions };
  if (o.restarts !== undefined) status['containerStatuses'] = [{ name: 'c', restartCount: o.restarts }];
  return { apiVersion: 'v1', kind: 'Pod', metadata: md, spec, status };
}

export interface NodeOpts {
  labels?: Record<string, string>;
  ready?: boolean | 'Unknown' | 'missing';
  unschedulable?: boolean;
  taints?: { key: string; value?: string; effect: string }[];
}

export function node(name: string, o: NodeOpts = {}): KObject {
  const ready = o.ready ?? true;
  const conditions = ready === 'missing' ? [] : [{ type: 'Ready', status: ready === 'Unknown' ? 'Unknown' : ready ? 'True' : 'False' }];
  const spec: Record<string, unknown> = {};
  if (o.unschedulable) spec['unschedulable'] = true;
  if (o.taints) spec['taints'] = o.taints;
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, uid: `uid-${name}`, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) }, creationTimestamp: T0 },
    spec, status: { conditions },
  };
}

export interface RSOpts {
  ns?: string;
  replicas?: number;
  selector?: Record<string, string>;
  labels?: Record<string, string>;
  owner?: OwnerReference;
  generation?: number;
  status?: Record<string, unknown>;
  minReadySeconds?: number;
  annotations?: Record<string, string>;
  created?: string;
  uid?: string;
  template?: Record<string, unknown>;
}

export function replicaSet(name: string, o: RSOpts = {}): KObject {
  const labels = o.labels ?? o.selector ?? { app: 'web' };
  const md: Record<string, unknown> = {
    name, namespace: o.ns ?? 'default', uid: o.uid ?? `uid-${name}`, generation: o.generation ?? 1, creationTimestamp: o.created ?? T0, labels,
  };
  if (o.owner) md['ownerReferences'] = [o.owner];
  if (o.annotations) md['annotations'] = o.annotations;
  const spec: Record<string, unknown> = {
    replicas: o.replicas ?? 1,
    selector: { matchLabels: o.selector ?? { app: 'web' } },
    template: o.template ?? { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'img' }] } },
  };
  if (o.minReadySeconds) spec['minReadySeconds'] = o.minReadySeconds;
  const obj: KObject = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: md, spec };
  if (o.status) obj['status'] = o.status;
  return obj;
}

export interface ServiceOpts {
  ns?: string;
  type?: string;
  lbClass?: string;
  ingress?: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  created?: string;
  ports?: { port: number; protocol?: string }[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  loadBalancerIP?: string;
  externalTrafficPolicy?: string;
  selector?: Record<string, string>;
  deleting?: boolean;
}

export function service(name: string, o: ServiceOpts = {}): KObject {
  const md: Record<string, unknown> = { name, namespace: o.ns ?? 'default', uid: `uid-${name}`, creationTimestamp: o.created ?? T0 };
  if (o.annotations) md['annotations'] = o.annotations;
  if (o.labels) md['labels'] = o.labels;
  if (o.deleting) { md['deletionTimestamp'] = T0; md['finalizers'] = ['example.com/hold']; }
  const spec: Record<string, unknown> = {
    type: o.type ?? 'LoadBalancer',
    ports: (o.ports ?? [{ port: 80 }]).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.port })),
    ipFamilies: o.ipFamilies ?? ['IPv4'],
    ipFamilyPolicy: o.ipFamilyPolicy ?? 'SingleStack',
    externalTrafficPolicy: o.externalTrafficPolicy ?? 'Cluster',
    selector: o.selector ?? { app: name },
  };
  if (o.lbClass) spec['loadBalancerClass'] = o.lbClass;
  if (o.loadBalancerIP) spec['loadBalancerIP'] = o.loadBalancerIP;
  const status = { loadBalancer: o.ingress ? { ingress: o.ingress.map((ip) => ({ ip, ipMode: 'VIP' })) } : {} };
  return { apiVersion: 'v1', kind: 'Service', metadata: md, spec, status };
}

export function configMap(name: string, ns: string, data: Record<string, string>): KObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, uid: `uid-${name}`, creationTimestamp: T0 }, data };
}

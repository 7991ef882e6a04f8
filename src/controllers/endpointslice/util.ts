// Helpers shared by the three endpoint controllers (EndpointSlice, Endpoints,
// EndpointSlice mirroring): the pod rules of k8s.io/endpointslice/util
// (ShouldPodBeInEndpoints, FindPort, IsPodReady), the well-known labels and
// annotations, the key mapping from Pod events to Services, and small
// value-comparison helpers. Pure.
import type { Container, ContainerPort, ObjectReference, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { ObjectMeta, OwnerReference } from 'kubernetes-types/meta/v1.js';
import { findByKind, type ResourceInfo } from '../../api/resources.js';
import type { Labels } from '../../api/labels.js';
import type { KObject } from '../../client/types.js';
import type { Cache, CacheIndex, EventRecord } from '../types.js';

// ---------------------------------------------------------------------------
// Names Kubernetes gives these labels and annotations (k8s.io/api).

/** discovery.LabelServiceName */
export const LabelServiceName = 'kubernetes.io/service-name';
/** discovery.LabelManagedBy */
export const LabelManagedBy = 'endpointslice.kubernetes.io/managed-by';
/** discovery.LabelSkipMirror */
export const LabelSkipMirror = 'endpointslice.kubernetes.io/skip-mirror';
/** v1.IsHeadlessService */
export const LabelHeadlessService = 'service.kubernetes.io/headless';
/** v1.LabelTopologyZone */
export const LabelTopologyZone = 'topology.kubernetes.io/zone';
/** v1.EndpointsOverCapacity */
export const AnnotationEndpointsOverCapacity = 'endpoints.kubernetes.io/over-capacity';
/** v1.EndpointsLastChangeTriggerTime */
export const AnnotationLastChangeTriggerTime = 'endpoints.kubernetes.io/last-change-trigger-time';
/** v1.LastAppliedConfigAnnotation */
export const AnnotationLastAppliedConfig = 'kubectl.kubernetes.io/last-applied-configuration';
/** resourcelock.LeaderElectionRecordAnnotationKey */
export const AnnotationLeaderElection = 'control-plane.alpha.kubernetes.io/leader';

/** The managed-by value of the EndpointSlice controller (kube-controller-manager's controllerName). */
export const EndpointSliceControllerName = 'endpointslice-controller.k8s.io';
/** The managed-by value of the EndpointSlice mirroring controller. */
export const EndpointSliceMirroringControllerName = 'endpointslicemirroring-controller.k8s.io';

// ---------------------------------------------------------------------------
// Resources

function mustFind(apiVersion: string, kind: string): ResourceInfo {
  const r = findByKind(apiVersion, kind);
  if (!r) throw new Error(`resource catalog has no ${apiVersion} ${kind}`);
  return r;
}

export const R = {
  services: mustFind('v1', 'Service'),
  pods: mustFind('v1', 'Pod'),
  nodes: mustFind('v1', 'Node'),
  endpoints: mustFind('v1', 'Endpoints'),
  endpointSlices: mustFind('discovery.k8s.io/v1', 'EndpointSlice'),
} as const;

export function isResource(r: ResourceInfo, want: ResourceInfo): boolean {
  return r.group === want.group && r.plural === want.plural;
}

/** The cache's objects of a kind, typed (the cache holds them as plain KObjects). */
export function listAs<T>(cache: Cache, r: ResourceInfo, namespace?: string): T[] {
  return [...cache.list(r, namespace)] as unknown as T[];
}

export function getAs<T>(cache: Cache, r: ResourceInfo, namespace: string | undefined, name: string): T | undefined {
  return cache.get(r, namespace, name) as unknown as T | undefined;
}

/** A typed object as the client's KObject. */
export function asK(obj: object): KObject {
  return obj as KObject;
}

// ---------------------------------------------------------------------------
// Keys

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function keyOf(obj: KObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export function byName(a: { metadata?: ObjectMeta }, b: { metadata?: ObjectMeta }): number {
  const x = a.metadata?.name ?? '';
  const y = b.metadata?.name ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Services

/**
 * Whether the Service selects pods. Kubernetes checks `spec.selector == nil`;
 * an empty selector (`{}`) does not survive the API server's storage round
 * trip (protobuf drops empty maps), so controllers see it as nil too: `{}`
 * selects nothing, not everything.
 */
export function hasSelector(svc: Service): boolean {
  const sel = svc.spec?.selector;
  return sel !== undefined && sel !== null && Object.keys(sel).length > 0;
}

/** A Service-style (equality, map) selector against labels: every pair present with that value. */
function setSelects(selector: Readonly<Record<string, string>>, labels: Labels | undefined): boolean {
  if (!labels) return false;
  for (const k in selector) {
    if (!Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== selector[k]) return false;
  }
  return true;
}

export function serviceSelects(svc: Service, labels: Labels | undefined): boolean {
  return hasSelector(svc) && setSelects(svc.spec!.selector!, labels);
}

/** helper.IsServiceIPSet: a ClusterIP other than None. */
export function isServiceIPSet(svc: Service): boolean {
  const ip = svc.spec?.clusterIP ?? '';
  return ip !== 'None' && ip !== '';
}

// ---------------------------------------------------------------------------
// Cache indexes (Reconciler.indexes): what spares a reconcile a scan of every
// pod, Service or slice of the namespace. Every lookup falls back to a scan of
// `cache.list` when the cache has no such index, with the same result.

/** The value a namespace + label pair is filed under ('\0' occurs in none of the three). */
export function labelIndexValue(namespace: string, key: string, value: string): string {
  return `${namespace}\0${key}\0${value}`;
}

function pairValues(namespace: string, set: Readonly<Record<string, string>> | undefined | null): string[] {
  const out: string[] = [];
  for (const k in set ?? {}) out.push(labelIndexValue(namespace, k, set![k]!));
  return out;
}

/** Pods by namespace + each of their label pairs. */
export const PodsByLabel: CacheIndex = {
  resource: R.pods,
  name: 'svcnet.io/pods-by-label',
  values: (o) => pairValues(o.metadata?.namespace ?? '', o.metadata?.labels),
};

/** Services with a selector, by namespace + each pair of their selector (a pod can only be selected by Services filed under one of its labels). */
export const ServicesBySelector: CacheIndex = {
  resource: R.services,
  name: 'svcnet.io/services-by-selector-pair',
  values: (o) => (hasSelector(o as Service) ? pairValues(o.metadata?.namespace ?? '', (o as Service).spec!.selector) : []),
};

/** EndpointSlices by `namespace/<kubernetes.io/service-name label>` (whoever manages them). */
export const SlicesByService: CacheIndex = {
  resource: R.endpointSlices,
  name: 'svcnet.io/endpointslices-by-service',
  values: (o) => {
    const svc = o.metadata?.labels?.[LabelServiceName];
    return svc === undefined ? [] : [`${o.metadata?.namespace ?? ''}/${svc}`];
  },
};

/** The pods of the Service's namespace its selector matches, by name. */
export function selectedPods(svc: Service, cache: Cache): Pod[] {
  if (!hasSelector(svc)) return [];
  const ns = svc.metadata?.namespace ?? '';
  const selector = svc.spec!.selector!;
  // Candidates: the pods filed under the selector's rarest pair, when the cache has the index; else the namespace.
  let candidates: readonly KObject[] | undefined;
  if (cache.byIndex) {
    for (const k in selector) {
      const c = cache.byIndex(R.pods, PodsByLabel.name, labelIndexValue(ns, k, selector[k]!));
      if (c === undefined) { candidates = undefined; break; }
      if (candidates === undefined || c.length < candidates.length) candidates = c;
      if (c.length === 0) break;
    }
  }
  const out: Pod[] = [];
  for (const o of candidates ?? cache.list(R.pods, ns)) {
    if (setSelects(selector, o.metadata?.labels)) out.push(o as unknown as Pod);
  }
  return out.sort(byName);
}

/** The slices labelled with this Service name (kubernetes.io/service-name) in the namespace, any manager, in cache order. */
export function slicesOfService(cache: Cache, namespace: string, name: string): EndpointSlice[] {
  const candidates = cache.byIndex?.(R.endpointSlices, SlicesByService.name, `${namespace}/${name}`) ?? cache.list(R.endpointSlices, namespace);
  const out: EndpointSlice[] = [];
  for (const s of candidates) if (s.metadata?.labels?.[LabelServiceName] === name) out.push(s as unknown as EndpointSlice);
  return out;
}

/** metav1.NewControllerRef. */
export function controllerRef(obj: { metadata?: ObjectMeta }, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion,
    kind,
    name: obj.metadata?.name ?? '',
    uid: obj.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function eventFor(obj: { metadata?: ObjectMeta }, apiVersion: string, kind: string, type: 'Normal' | 'Warning', reason: string, message: string): EventRecord {
  const md = obj.metadata ?? {};
  return {
    involvedObject: {
      apiVersion, kind, name: md.name ?? '',
      ...(md.namespace ? { namespace: md.namespace } : {}),
      ...(md.uid ? { uid: md.uid } : {}),
      ...(md.resourceVersion ? { resourceVersion: md.resourceVersion } : {}),
    },
    type, reason, message,
  };
}

// ---------------------------------------------------------------------------
// Pods (k8s.io/endpointslice/util, pkg/api/v1/pod)

export function isPodReady(pod: Pod): boolean {
  const c = (pod.status?.conditions ?? []).find((x) => x.type === 'Ready');
  return c !== undefined && c.status === 'True';
}

export function isPodTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Failed' || phase === 'Succeeded';
}

/**
 * ShouldPodBeInEndpoints: not terminal, has an IP, and, unless
 * includeTerminating, not being deleted.
 */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (!pod.status?.podIP && (pod.status?.podIPs ?? []).length === 0) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

/** ShouldSetHostname: the pod asked for a hostname under this Service's subdomain. */
export function shouldSetHostname(pod: Pod, svc: Service): boolean {
  const hostname = pod.spec?.hostname ?? '';
  return hostname.length > 0 && (pod.spec?.subdomain ?? '') === (svc.metadata?.name ?? '') &&
    (svc.metadata?.namespace ?? '') === (pod.metadata?.namespace ?? '');
}

function findNamedPort(containers: readonly Container[] | undefined, name: string, protocol: string): ContainerPort | undefined {
  for (const c of containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === name && (p.protocol ?? 'TCP') === protocol) return p;
    }
  }
  return undefined;
}

/**
 * FindPort: a numeric targetPort as is; a named one looked up among the
 * containers' ports by name and protocol (then among restartable init
 * containers, i.e. sidecars). undefined when the pod has no such port: the
 * callers then leave this service port out for this pod.
 */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const tp = sp.targetPort;
  // Defaulting sets targetPort = port; a missing one means the same.
  if (tp === undefined || tp === null) return sp.port;
  if (typeof tp === 'number') return tp;
  const protocol = sp.protocol ?? 'TCP';
  const found = findNamedPort(pod.spec?.containers, tp, protocol) ??
    findNamedPort((pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'), tp, protocol);
  return found?.containerPort;
}

// ---------------------------------------------------------------------------
// Mapping Pod events to Services (GetPodUpdateProjectionKey, GetServicesToUpdate)

function sameStringMap(a: Readonly<Record<string, string>> | undefined | null, b: Readonly<Record<string, string>> | undefined | null): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b ?? {}, k) && (a ?? {})[k] === (b ?? {})[k]);
}

/** Labels (or annotations) compared as Go's apiequality.Semantic does: nil equals empty. */
export const labelsEqual = sameStringMap;

/**
 * podEndpointsChanged: [podChanged, labelsChanged]. Kubernetes compares the
 * deletion timestamp, readiness and pod IPs; svcnet also compares the phase
 * and node name, so that a pod turning terminal without a readiness change is
 * not left in its slices until the next unrelated event.
 */
function podEndpointsChanged(oldPod: Pod, newPod: Pod): [boolean, boolean] {
  const labelsChanged = !sameStringMap(oldPod.metadata?.labels, newPod.metadata?.labels) ||
    (oldPod.spec?.hostname ?? '') !== (newPod.spec?.hostname ?? '') ||
    (oldPod.spec?.subdomain ?? '') !== (newPod.spec?.subdomain ?? '');
  if ((oldPod.metadata?.deletionTimestamp ?? '') !== (newPod.metadata?.deletionTimestamp ?? '')) return [true, labelsChanged];
  if (isPodReady(oldPod) !== isPodReady(newPod)) return [true, labelsChanged];
  const oldIPs = (oldPod.status?.podIPs ?? []).map((x) => x.ip);
  const newIPs = (newPod.status?.podIPs ?? []).map((x) => x.ip);
  if (oldIPs.length !== newIPs.length || oldIPs.some((ip, i) => ip !== newIPs[i])) return [true, labelsChanged];
  if ((oldPod.status?.podIP ?? '') !== (newPod.status?.podIP ?? '')) return [true, labelsChanged];
  if ((oldPod.status?.phase ?? '') !== (newPod.status?.phase ?? '')) return [true, labelsChanged];
  if ((oldPod.spec?.nodeName ?? '') !== (newPod.spec?.nodeName ?? '')) return [true, labelsChanged];
  return [false, labelsChanged];
}

/**
 * What keysFor needs to know about Services. The Reconciler contract gives
 * keysFor no cache, so a reconciler keeps this index of Service selectors
 * (as kube-controller-manager once kept its serviceSelectorCache), fed by
 * every Service event and refreshed by every reconcile. When the runner
 * passes a Cache as keysFor's fourth argument, the cache is used instead.
 */
export class ServiceSelectorIndex {
  private readonly byNamespace = new Map<string, Map<string, Service>>();

  /** Records the Service's current state; undefined = gone. */
  set(namespace: string, name: string, svc: Service | undefined): void {
    let m = this.byNamespace.get(namespace);
    if (!svc) {
      m?.delete(name);
      if (m && m.size === 0) this.byNamespace.delete(namespace);
      return;
    }
    if (!m) this.byNamespace.set(namespace, (m = new Map()));
    // Only what matching needs: the selector (and type, for callers that care).
    m.set(name, { metadata: { namespace, name }, spec: { selector: svc.spec?.selector, type: svc.spec?.type } });
  }

  services(namespace: string): Service[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  allKeys(): string[] {
    const keys: string[] = [];
    for (const [ns, m] of this.byNamespace) for (const name of m.keys()) keys.push(`${ns}/${name}`);
    return keys.sort();
  }
}

function servicesFor(namespace: string, labels: Labels | undefined, index: ServiceSelectorIndex, cache?: Cache): Set<string> {
  const out = new Set<string>();
  if (cache?.byIndex) {
    // Only Services filed under one of the pod's label pairs can select it.
    let indexed = true;
    for (const k in labels ?? {}) {
      const svcs = cache.byIndex(R.services, ServicesBySelector.name, labelIndexValue(namespace, k, labels![k]!));
      if (svcs === undefined) { indexed = false; break; }
      for (const s of svcs) if (serviceSelects(s as Service, labels)) out.add(`${namespace}/${s.metadata?.name ?? ''}`);
    }
    if (indexed) return out;
    out.clear();
  }
  const svcs = cache ? listAs<Service>(cache, R.services, namespace) : index.services(namespace);
  for (const s of svcs) if (serviceSelects(s, labels)) out.add(`${namespace}/${s.metadata?.name ?? ''}`);
  return out;
}

/**
 * The Services to reconcile for a Pod event: those selecting the pod (add,
 * delete); on update, nothing when nothing relevant changed, else the
 * services selecting its new labels, plus those of its old labels when the
 * labels changed (all of them if the pod changed too, only the ones that
 * gained or lost it otherwise).
 */
export function serviceKeysForPod(pod: Pod, old: Pod | undefined, index: ServiceSelectorIndex, cache?: Cache): string[] {
  const namespace = pod.metadata?.namespace ?? '';
  if (!old) return [...servicesFor(namespace, pod.metadata?.labels, index, cache)].sort();
  if (old.metadata?.resourceVersion && old.metadata.resourceVersion === pod.metadata?.resourceVersion) return [];
  const [podChanged, labelsChanged] = podEndpointsChanged(old, pod);
  if (!podChanged && !labelsChanged) return [];
  const now = servicesFor(namespace, pod.metadata?.labels, index, cache);
  if (!labelsChanged) return [...now].sort();
  const before = servicesFor(namespace, old.metadata?.labels, index, cache);
  const out = new Set<string>();
  if (podChanged) {
    for (const k of now) out.add(k);
    for (const k of before) out.add(k);
  } else {
    for (const k of now) if (!before.has(k)) out.add(k);
    for (const k of before) if (!now.has(k)) out.add(k);
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------
// Values

/** ObjectReferences compared ignoring resourceVersion (semanticIgnoreResourceVersion). */
export function objectRefsEqual(a: ObjectReference | undefined, b: ObjectReference | undefined): boolean {
  if (!a || !b) return !a && !b;
  return (a.kind ?? '') === (b.kind ?? '') && (a.namespace ?? '') === (b.namespace ?? '') &&
    (a.name ?? '') === (b.name ?? '') && (a.uid ?? '') === (b.uid ?? '') &&
    (a.apiVersion ?? '') === (b.apiVersion ?? '') && (a.fieldPath ?? '') === (b.fieldPath ?? '');
}

/** A deep copy of a cached object, safe to modify. */
export function clone<T>(obj: T): T {
  return structuredClone(obj);
}

/** utilerrors.Aggregate's text: one message bare, several deduplicated in brackets. */
export function aggregateMessages(msgs: readonly string[]): string {
  const uniq = [...new Set(msgs)];
  return uniq.length === 1 ? uniq[0]! : `[${uniq.join(', ')}]`;
}

/** Whether the runner's field manager (the reconciler's name) wrote the object. */
export function writtenBy(obj: { metadata?: ObjectMeta }, manager: string): boolean {
  return (obj.metadata?.managedFields ?? []).some((f) => f.manager === manager);
}

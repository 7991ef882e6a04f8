// The EndpointSlice controller (kube-controller-manager's
// pkg/controller/endpointslice with the k8s.io/endpointslice reconciler) as a
// pure Reconciler: for a Service with a selector, the slices that list the
// selected pods, per address family and per resolved port set, at most
// maxEndpointsPerSlice endpoints each, reached from the existing slices with
// as few writes as Kubernetes makes (see README.md).
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointPort, EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { formatIP, parseIPSloppy } from '../../api/validation/ip.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import { EndpointSet, endpointsEqualBeyondHash, portMapKey } from './endpointset.js';
import {
  EndpointSliceControllerName, LabelHeadlessService, LabelManagedBy, LabelServiceName, LabelTopologyZone, R,
  ServiceSelectorIndex, aggregateMessages, byName, controllerRef, eventFor, findPort, hasSelector, isPodReady,
  isResource, isServiceIPSet, labelsEqual, selectedPods, serviceKeysForPod, shouldPodBeInEndpoints, shouldSetHostname,
  splitKey, asK, getAs, listAs, PodsByLabel, ServicesBySelector, SlicesByService, slicesOfService,
} from './util.js';

export interface EndpointSliceReconcilerOptions {
  /** --max-endpoints-per-slice; Kubernetes' default is 100 (the API allows 1000). */
  maxEndpointsPerSlice?: number;
  /** How soon to retry a Service whose pods name a Node the cache does not have. Default 5000. */
  retryAfterMs?: number;
}

export const DefaultMaxEndpointsPerSlice = 100;

type AddressType = 'IPv4' | 'IPv6';

/** getAddressTypesForService: from spec.ipFamilies, else the clusterIP's family, else both. */
export function addressTypesForService(svc: Service): AddressType[] {
  const out: AddressType[] = [];
  for (const f of svc.spec?.ipFamilies ?? []) {
    if ((f === 'IPv4' || f === 'IPv6') && !out.includes(f)) out.push(f);
  }
  if (out.length > 0) return out;
  const ip = svc.spec?.clusterIP ?? '';
  if (ip !== '' && ip !== 'None') return [parseIPSloppy(ip)?.family === 'IPv6' ? 'IPv6' : 'IPv4'];
  return ['IPv4', 'IPv6'];
}

/** getEndpointPorts: one port per service port the pod resolves, in service port order. */
export function endpointPortsFor(svc: Service, pod: Pod): EndpointPort[] {
  const ports: EndpointPort[] = [];
  const sps = svc.spec?.ports ?? [];
  for (const sp of sps) {
    const port = findPort(pod, sp);
    // A named targetPort the pod does not declare: this port is left out for
    // this pod (which then lands in a slice with a different port set).
    if (port === undefined) continue;
    ports.push({
      name: sp.name ?? '',
      port,
      protocol: sp.protocol ?? 'TCP',
      ...(sp.appProtocol !== undefined && sp.appProtocol !== null ? { appProtocol: sp.appProtocol } : {}),
    });
  }
  return ports;
}

/** getEndpointAddresses: the pod's IPs of one family, in canonical form. */
function endpointAddresses(pod: Pod, addressType: AddressType): string[] {
  const out: string[] = [];
  for (const { ip } of pod.status?.podIPs ?? []) {
    const parsed = parseIPSloppy(ip ?? '');
    if (parsed && parsed.family === addressType) out.push(formatIP(parsed));
  }
  return out;
}

/** podToEndpoint. */
export function podToEndpoint(pod: Pod, node: Node | undefined, svc: Service, addressType: AddressType): Endpoint {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata?.deletionTimestamp;
  // "ready" is never true for a terminating pod, unless the Service publishes
  // not-ready addresses.
  const ready = !!svc.spec?.publishNotReadyAddresses || (serving && !terminating);
  const zone = node?.metadata?.labels?.[LabelTopologyZone] ?? '';
  return {
    addresses: endpointAddresses(pod, addressType),
    conditions: { ready, serving, terminating },
    ...(shouldSetHostname(pod, svc) ? { hostname: pod.spec!.hostname! } : {}),
    targetRef: {
      kind: 'Pod',
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    },
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(zone !== '' ? { zone } : {}),
  };
}

const reservedLabels = new Set([LabelServiceName, LabelManagedBy, LabelHeadlessService]);

/**
 * setEndpointSliceLabels: the Service's labels (but the reserved ones), the
 * headless label when the Service has no ClusterIP, service-name and
 * managed-by; `changed` when the slice's own non-reserved labels differ from
 * the Service's.
 */
function sliceLabels(slice: EndpointSlice | undefined, svc: Service, controllerName: string): { labels: Record<string, string>; changed: boolean } {
  const current: Record<string, string> = {};
  for (const [k, v] of Object.entries(slice?.metadata?.labels ?? {})) if (!reservedLabels.has(k)) current[k] = v;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.metadata?.labels ?? {})) if (!reservedLabels.has(k)) labels[k] = v;
  const changed = !labelsEqual(current, labels);
  if (!isServiceIPSet(svc)) labels[LabelHeadlessService] = '';
  labels[LabelServiceName] = svc.metadata?.name ?? '';
  labels[LabelManagedBy] = controllerName;
  return { labels, changed };
}

/** newEndpointSlice: an unnamed slice (generateName `<service>-`) owned by the Service. */
function newEndpointSlice(svc: Service, ports: EndpointPort[], addressType: AddressType, controllerName: string): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      // Service names are DNS labels, so "<name>-" is always a valid prefix.
      generateName: `${svc.metadata?.name ?? ''}-`,
      namespace: svc.metadata?.namespace ?? '',
      labels: sliceLabels(undefined, svc, controllerName).labels,
      ownerReferences: [controllerRef(svc, 'v1', 'Service')],
    },
    addressType,
    endpoints: [],
    ports,
  };
}

/** ownedBy: an owner reference to this very Service (same UID). */
function ownedBy(slice: EndpointSlice, svc: Service): boolean {
  const uid = svc.metadata?.uid ?? '';
  return (slice.metadata?.ownerReferences ?? []).some((o) => o.uid === uid && o.kind === 'Service' && o.apiVersion === 'v1');
}

/**
 * placeholderSliceCompare: a placeholder is recognised by namespace, labels,
 * owner references, address type, and having no ports and no endpoints.
 */
function isSamePlaceholder(existing: EndpointSlice, placeholder: EndpointSlice): boolean {
  const a = existing.metadata ?? {};
  const b = placeholder.metadata ?? {};
  return (a.namespace ?? '') === (b.namespace ?? '') &&
    labelsEqual(a.labels, b.labels) &&
    JSON.stringify(a.ownerReferences ?? []) === JSON.stringify(b.ownerReferences ?? []) &&
    existing.addressType === placeholder.addressType &&
    (existing.ports ?? []).length === 0 &&
    (existing.endpoints ?? []).length === 0;
}

/** getSliceToFill: the slice that ends up closest to full once n endpoints are added, if any fits them all. */
function sliceToFill(slices: EndpointSlice[], n: number, max: number): EndpointSlice | undefined {
  let closestDiff = max;
  let closest: EndpointSlice | undefined;
  for (const s of slices) {
    const diff = max - (n + (s.endpoints ?? []).length);
    if (diff >= 0 && diff < closestDiff) {
      closestDiff = diff;
      closest = s;
      if (diff === 0) return s;
    }
  }
  return closest;
}

interface SliceChanges {
  toCreate: EndpointSlice[];
  toUpdate: EndpointSlice[];
  toDelete: EndpointSlice[];
}

const sliceName = (s: EndpointSlice): string => s.metadata?.name ?? '';

class SliceReconciler {
  constructor(
    private readonly svc: Service,
    private readonly max: number,
    private readonly controllerName: string,
  ) {}

  /**
   * reconcileByPortMapping: (1) keep each existing slice's endpoints that are
   * still desired, updating changed ones, and note slices to update, delete
   * or leave alone; (2) top up the slices being updated anyway, fullest
   * first; (3) put what remains into the unchanged slice it fills best, or
   * into new slices.
   */
  byPortMapping(existing: EndpointSlice[], desired: EndpointSet, ports: EndpointPort[], addressType: AddressType): SliceChanges {
    const byName = new Map<string, EndpointSlice>();
    const unchanged = new Set<string>();
    const toUpdate = new Set<string>();
    const toDelete = new Set<string>();

    for (const slice of existing) {
      byName.set(sliceName(slice), slice);
      const kept: Endpoint[] = [];
      let endpointUpdated = false;
      for (const e of slice.endpoints ?? []) {
        const want = desired.get(e);
        if (!want) continue;
        kept.push(want);
        if (!endpointsEqualBeyondHash(want, e)) endpointUpdated = true;
        desired.delete(e);
      }
      const { labels, changed } = sliceLabels(slice, this.svc, this.controllerName);
      if (endpointUpdated || (slice.endpoints ?? []).length !== kept.length) {
        if (kept.length === 0) {
          toDelete.add(sliceName(slice));
        } else {
          // Copies of the cached slice share what they do not change (cached objects are never mutated, nor are plans).
          byName.set(sliceName(slice), { ...slice, endpoints: kept, metadata: { ...slice.metadata, labels } });
          toUpdate.add(sliceName(slice));
        }
      } else if (changed) {
        byName.set(sliceName(slice), { ...slice, endpoints: [...(slice.endpoints ?? [])], metadata: { ...slice.metadata, labels } });
        toUpdate.add(sliceName(slice));
      } else {
        unchanged.add(sliceName(slice));
      }
    }

    if (desired.size > 0 && toUpdate.size > 0) {
      const slices = [...toUpdate].map((n) => byName.get(n)!);
      // Fullest first; stable, so ties keep name order.
      slices.sort((a, b) => (b.endpoints ?? []).length - (a.endpoints ?? []).length);
      for (const s of slices) {
        while (desired.size > 0 && s.endpoints.length < this.max) s.endpoints.push(desired.pop()!);
      }
    }

    const toCreate: EndpointSlice[] = [];
    while (desired.size > 0) {
      let fill: EndpointSlice | undefined;
      if (desired.size < this.max && unchanged.size > 0) {
        const found = sliceToFill([...unchanged].map((n) => byName.get(n)!), desired.size, this.max);
        if (found) {
          fill = { ...found, endpoints: [...(found.endpoints ?? [])] };
          byName.set(sliceName(found), fill);
        }
      }
      fill ??= newEndpointSlice(this.svc, ports, addressType, this.controllerName);
      while (desired.size > 0 && fill.endpoints.length < this.max) fill.endpoints.push(desired.pop()!);
      if (fill.metadata?.name) {
        toUpdate.add(sliceName(fill));
        unchanged.delete(sliceName(fill));
      } else {
        toCreate.push(fill);
      }
    }

    return {
      toCreate,
      toUpdate: [...toUpdate].map((n) => byName.get(n)!),
      toDelete: [...toDelete].map((n) => byName.get(n)!),
    };
  }

  /** reconcileByAddressType. Returns the changes and the errors met (pods skipped for a missing Node). */
  byAddressType(pods: Pod[], existing: EndpointSlice[], addressType: AddressType, nodeOf: (name: string) => Node | undefined): SliceChanges & { errors: string[] } {
    const errors: string[] = [];
    const svcName = this.svc.metadata?.name ?? '';
    const svcNs = this.svc.metadata?.namespace ?? '';
    const toCreate: EndpointSlice[] = [];
    const toUpdate: EndpointSlice[] = [];
    const toDelete: EndpointSlice[] = [];

    const existingByPorts = new Map<string, EndpointSlice[]>();
    for (const s of existing) {
      if (ownedBy(s, this.svc)) {
        const k = portMapKey(s.ports);
        existingByPorts.set(k, [...(existingByPorts.get(k) ?? []), s]);
      } else {
        toDelete.push(s);
      }
    }

    const desired = new Map<string, { ports: EndpointPort[]; set: EndpointSet }>();
    for (const pod of pods) {
      if (!shouldPodBeInEndpoints(pod, true)) continue;
      const ports = endpointPortsFor(this.svc, pod);
      const k = portMapKey(ports);
      let d = desired.get(k);
      if (!d) desired.set(k, (d = { ports, set: new EndpointSet() }));
      const nodeName = pod.spec?.nodeName ?? '';
      const node = nodeOf(nodeName);
      if (!node && !this.svc.spec?.publishNotReadyAddresses) {
        // Leave the pod out now and retry, rather than keep a slice stuck on a
        // pod whose Node is gone; unless the Service asked for every address.
        errors.push(`skipping Pod ${pod.metadata?.name ?? ''} for Service ${svcNs}/${svcName}: Node ${nodeName} Not Found`);
        continue;
      }
      const e = podToEndpoint(pod, node, this.svc, addressType);
      if (e.addresses.length > 0) d.set.insert(e);
    }

    for (const [k, d] of desired) {
      const c = this.byPortMapping(existingByPorts.get(k) ?? [], d.set, d.ports, addressType);
      toCreate.push(...c.toCreate);
      toUpdate.push(...c.toUpdate);
      toDelete.push(...c.toDelete);
    }
    for (const [k, slices] of existingByPorts) if (!desired.has(k)) toDelete.push(...slices);

    // A Service always has at least one slice per address type: an empty
    // placeholder when nothing else would exist. Keep the existing one rather
    // than delete and recreate it.
    if (existing.length === toDelete.length && toCreate.length === 0) {
      const placeholder = newEndpointSlice(this.svc, [], addressType, this.controllerName);
      if (toDelete.length === 1 && isSamePlaceholder(toDelete[0]!, placeholder)) toDelete.length = 0;
      else toCreate.push(placeholder);
    }
    return { toCreate, toUpdate, toDelete, errors };
  }
}

/**
 * finalize: creates become updates of slices that would be deleted (same
 * address type, owned by this Service), so a changed port set or a
 * placeholder being filled reuses a slice; no creates for a Service being
 * deleted. Updates carry the reused slice's resourceVersion.
 */
function finalize(svc: Service, c: SliceChanges): Action[] {
  const toCreate = [...c.toCreate];
  const toUpdate = [...c.toUpdate];
  const toDelete = [...c.toDelete];
  for (let i = 0; i < toDelete.length && toCreate.length > 0;) {
    const del = toDelete[i]!;
    const slice = toCreate[toCreate.length - 1]!;
    if (del.addressType === slice.addressType && ownedBy(del, svc)) {
      const { generateName: _drop, ...md } = slice.metadata ?? {};
      slice.metadata = {
        ...md,
        name: sliceName(del),
        ...(del.metadata?.resourceVersion ? { resourceVersion: del.metadata.resourceVersion } : {}),
      };
      toCreate.pop();
      toUpdate.push(slice);
      toDelete.splice(i, 1);
    } else {
      i++;
    }
  }
  const ns = svc.metadata?.namespace ?? '';
  const actions: Action[] = [];
  if (!svc.metadata?.deletionTimestamp) {
    for (const s of toCreate) actions.push({ verb: 'create', resource: R.endpointSlices, namespace: ns, object: asK(s) });
  }
  for (const s of toUpdate) actions.push({ verb: 'update', resource: R.endpointSlices, namespace: ns, object: asK(s) });
  for (const s of toDelete) actions.push(deleteSlice(s));
  return actions;
}

function deleteSlice(s: EndpointSlice): Action {
  return {
    verb: 'delete',
    resource: R.endpointSlices,
    namespace: s.metadata?.namespace ?? '',
    name: sliceName(s),
    ...(s.metadata?.uid ? { preconditions: { uid: s.metadata.uid } } : {}),
  };
}

/** The slices this controller manages for a Service name (by label, as Kubernetes lists them). */
function managedSlices(cache: Cache, namespace: string, name: string, controllerName: string): EndpointSlice[] {
  return slicesOfService(cache, namespace, name)
    .filter((s) => s.metadata?.labels?.[LabelManagedBy] === controllerName)
    .sort(byName);
}

/**
 * The whole reconcile of one Service against its pods and existing slices
 * (Reconciler.Reconcile): per supported address type, then deletion of the
 * slices of address types the Service no longer has.
 */
export function reconcileService(svc: Service, pods: Pod[], existing: EndpointSlice[], nodeOf: (name: string) => Node | undefined,
  opts: { maxEndpointsPerSlice: number; controllerName: string }): { actions: Action[]; errors: string[] } {
  const types = addressTypesForService(svc);
  const byType = new Map<string, EndpointSlice[]>();
  const unsupported: EndpointSlice[] = [];
  for (const s of existing) {
    if (!types.includes(s.addressType as AddressType)) unsupported.push(s);
    else byType.set(s.addressType, [...(byType.get(s.addressType) ?? []), s]);
  }
  const r = new SliceReconciler(svc, opts.maxEndpointsPerSlice, opts.controllerName);
  const actions: Action[] = [];
  const errors: string[] = [];
  for (const t of types) {
    const c = r.byAddressType(pods, byType.get(t) ?? [], t, nodeOf);
    errors.push(...c.errors);
    actions.push(...finalize(svc, c));
  }
  for (const s of unsupported) actions.push(deleteSlice(s));
  return { actions, errors };
}

export function newEndpointSliceReconciler(opts: EndpointSliceReconcilerOptions = {}): Reconciler {
  const max = opts.maxEndpointsPerSlice ?? DefaultMaxEndpointsPerSlice;
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new RangeError(`maxEndpointsPerSlice must be between 1 and 1000, got ${max}`);
  const retryAfterMs = opts.retryAfterMs ?? 5000;
  const controllerName = EndpointSliceControllerName;
  const index = new ServiceSelectorIndex();

  return {
    name: 'endpoint-slice-controller',
    watches: [R.services, R.pods, R.endpointSlices, R.nodes],
    indexes: [PodsByLabel, ServicesBySelector, SlicesByService],
    // kube-controller-manager's --concurrent-service-endpoint-syncs.
    workers: 5,

    keysFor(r: ResourceInfo, obj: KObject, old?: KObject, cache?: Cache): string[] {
      const ns = obj.metadata?.namespace ?? '';
      if (isResource(r, R.services)) {
        index.set(ns, obj.metadata?.name ?? '', obj as Service);
        return [`${ns}/${obj.metadata?.name ?? ''}`];
      }
      if (isResource(r, R.pods)) return serviceKeysForPod(obj as Pod, old as Pod | undefined, index, cache);
      if (isResource(r, R.endpointSlices)) {
        // Slices of other managers (users, the mirroring controller) are not ours to fix.
        const keys = new Set<string>();
        for (const s of [obj, old]) {
          if (!s) continue;
          const labels = s.metadata?.labels ?? {};
          const svcName = labels[LabelServiceName];
          if (svcName && labels[LabelManagedBy] === controllerName) keys.add(`${s.metadata?.namespace ?? ''}/${svcName}`);
        }
        return [...keys].sort();
      }
      if (isResource(r, R.nodes)) {
        // A zone label arriving late (cloud providers add it) changes the
        // endpoints of every pod on the node; that is rare enough to resync all.
        if (!old || (old.metadata?.labels?.[LabelTopologyZone] ?? '') === (obj.metadata?.labels?.[LabelTopologyZone] ?? '')) return [];
        if (cache) {
          return listAs<Service>(cache, R.services).filter(hasSelector).map((s) => `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`).sort();
        }
        return index.allKeys();
      }
      return [];
    },

    reconcile(key: string, cache: Cache, _now: Date): Plan {
      const { namespace, name } = splitKey(key);
      const svc = getAs<Service>(cache, R.services, namespace, name);
      index.set(namespace, name, svc);
      // Slices already being deleted are left to finish (dropEndpointSlicesPendingDeletion).
      const existing = managedSlices(cache, namespace, name, controllerName).filter((s) => !s.metadata?.deletionTimestamp);

      if (!svc) {
        // Kubernetes leaves this to the garbage collector (the slices' owner
        // reference); svcnet has none, so the controller removes its own
        // slices of a Service that is gone.
        const orphans = existing.filter((s) => (s.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Service' && o.apiVersion === 'v1' && o.name === name && o.controller));
        return { actions: orphans.map(deleteSlice) };
      }
      if (svc.spec?.type === 'ExternalName') {
        // ExternalName Services get no endpoints (issues.k8s.io/105986).
        // Kubernetes merely stops updating slices left from an earlier type;
        // svcnet removes them so nothing routes to a name-only Service.
        return { actions: existing.map(deleteSlice) };
      }
      // Without a selector the user manages the slices; the ones this
      // controller made before the selector was removed stay as they are
      // (Kubernetes' documented behaviour, issues.k8s.io/103576).
      if (!hasSelector(svc)) return { actions: [] };

      const pods = selectedPods(svc, cache);
      const nodeOf = (nodeName: string): Node | undefined =>
        nodeName ? (getAs<Node>(cache, R.nodes, undefined, nodeName)) : undefined;
      const { actions, errors } = reconcileService(svc, pods, existing, nodeOf, { maxEndpointsPerSlice: max, controllerName });
      if (errors.length === 0) return { actions };
      const events: EventRecord[] = [eventFor(svc, 'v1', 'Service', 'Warning', 'FailedToUpdateEndpointSlices',
        `Error updating Endpoint Slices for Service ${namespace}/${name}: ${aggregateMessages(errors)}`)];
      return { actions, events, requeueAfterMs: retryAfterMs };
    },
  };
}

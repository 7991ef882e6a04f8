// The Endpoints controller (kube-controller-manager's pkg/controller/endpoint)
// as a pure Reconciler: one core/v1 Endpoints per Service with a selector,
// named like it, listing the selected pods' addresses (ready ones in
// `addresses`, the others in `notReadyAddresses`) per resolved port, in the
// canonical layout of RepackSubsets, truncated to 1000 addresses.
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service } from 'kubernetes-types/core/v1.js';
import { isIPv6String } from '../../api/validation/ip.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Cache, Plan, Reconciler } from '../types.js';
import {
  AnnotationEndpointsOverCapacity, AnnotationLeaderElection, LabelHeadlessService, R, ServiceSelectorIndex, findPort,
  hasSelector, isPodReady, isResource, isServiceIPSet, labelsEqual, selectedPods, serviceKeysForPod, shouldPodBeInEndpoints,
  shouldSetHostname, splitKey, writtenBy, asK, getAs, PodsByLabel, ServicesBySelector,
} from '../endpointslice/util.js';
import { repackSubsets, subsetsEqual } from './repack.js';

/** maxCapacity: addresses an Endpoints object holds before it is truncated. */
export const MaxEndpointsCapacity = 1000;

export interface EndpointsReconcilerOptions {
  /** Addresses kept before truncation (Kubernetes: 1000, not configurable there). */
  maxCapacity?: number;
}

export const EndpointsControllerName = 'endpoint-controller';

/**
 * podToEndpointAddressForService: the pod's IP of the Service's (first)
 * family — from spec.ipFamilies, else the clusterIP's, else (headless) the
 * pod's primary IP's — or undefined when the pod has none of that family.
 */
export function podToEndpointAddress(svc: Service, pod: Pod): EndpointAddress | undefined {
  let ipv6: boolean;
  const families = svc.spec?.ipFamilies ?? [];
  if (families.length > 0) {
    ipv6 = families[0] === 'IPv6';
  } else {
    const cip = svc.spec?.clusterIP ?? '';
    ipv6 = cip !== '' && cip !== 'None' ? isIPv6String(cip) : isIPv6String(pod.status?.podIP ?? '');
  }
  const ip = (pod.status?.podIPs ?? []).map((x) => x.ip ?? '').find((x) => isIPv6String(x) === ipv6);
  if (!ip) return undefined;
  return {
    ip,
    ...(shouldSetHostname(pod, svc) ? { hostname: pod.spec!.hostname! } : {}),
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    targetRef: {
      kind: 'Pod',
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    },
  };
}

/** The subsets for a Service from its pods, before repacking: one per pod and port. */
export function subsetsFor(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const subsets: EndpointSubset[] = [];
  const tolerateUnready = !!svc.spec?.publishNotReadyAddresses;
  const addSubset = (pod: Pod, addr: EndpointAddress, port: EndpointPort | undefined): void => {
    const ports = port ? [port] : [];
    if (tolerateUnready || isPodReady(pod)) subsets.push({ addresses: [addr], ports });
    else subsets.push({ notReadyAddresses: [addr], ports });
  };
  for (const pod of pods) {
    // Terminating pods only when the Service publishes not-ready addresses.
    if (!shouldPodBeInEndpoints(pod, tolerateUnready)) continue;
    const addr = podToEndpointAddress(svc, pod);
    if (!addr) continue;
    const sps = svc.spec?.ports ?? [];
    if (sps.length === 0) {
      // A headless Service may have no ports: addresses only.
      if (svc.spec?.clusterIP === 'None') addSubset(pod, addr, undefined);
      continue;
    }
    for (const sp of sps) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      addSubset(pod, addr, {
        name: sp.name ?? '',
        port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.appProtocol !== undefined && sp.appProtocol !== null ? { appProtocol: sp.appProtocol } : {}),
      });
    }
  }
  return subsets;
}

/**
 * truncateEndpoints: above `max` addresses, keep ready ones first, sharing
 * the room between subsets in proportion to their size (rounded up, the last
 * ones getting what is left). Returns whether it truncated.
 */
export function truncateSubsets(subsets: EndpointSubset[], max: number): boolean {
  let totalReady = 0;
  let totalNotReady = 0;
  for (const s of subsets) {
    totalReady += (s.addresses ?? []).length;
    totalNotReady += (s.notReadyAddresses ?? []).length;
  }
  if (totalReady + totalNotReady <= max) return false;
  let truncateReady = false;
  let room = max - totalReady;
  let numTotal = totalNotReady;
  if (totalReady > max) {
    truncateReady = true;
    room = max;
    numTotal = totalReady;
  }
  let canBeAdded = room;
  subsets.forEach((s, i) => {
    const numInSubset = truncateReady ? (s.addresses ?? []).length : (s.notReadyAddresses ?? []).length;
    const toBeAdded = Math.min(Math.ceil((numInSubset / numTotal) * room), canBeAdded);
    const next: EndpointSubset = {};
    if (truncateReady) {
      const addrs = (s.addresses ?? []).slice(0, toBeAdded);
      if (addrs.length) next.addresses = addrs;
      canBeAdded -= addrs.length;
    } else {
      if (s.addresses?.length) next.addresses = s.addresses;
      const nr = (s.notReadyAddresses ?? []).slice(0, toBeAdded);
      if (nr.length) next.notReadyAddresses = nr;
      canBeAdded -= nr.length;
    }
    if (s.ports?.length) next.ports = s.ports;
    subsets[i] = next;
  });
  return true;
}

/** The Endpoints object a Service should have, built over the current one when there is one. */
export function desiredEndpoints(svc: Service, pods: readonly Pod[], current: Endpoints | undefined, maxCapacity: number): Endpoints {
  const subsets = repackSubsets(subsetsFor(svc, pods));
  const labels: Record<string, string> = { ...(svc.metadata?.labels ?? {}) };
  if (!isServiceIPSet(svc)) labels[LabelHeadlessService] = '';
  else delete labels[LabelHeadlessService];
  const annotations: Record<string, string> = { ...(current?.metadata?.annotations ?? {}) };
  if (truncateSubsets(subsets, maxCapacity)) annotations[AnnotationEndpointsOverCapacity] = 'truncated';
  else delete annotations[AnnotationEndpointsOverCapacity];

  const base: Endpoints = current ? { ...current } : {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: svc.metadata?.name ?? '', namespace: svc.metadata?.namespace ?? '' },
  };
  const metadata = { ...base.metadata };
  if (Object.keys(labels).length) metadata.labels = labels;
  else delete metadata.labels;
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  else delete metadata.annotations;
  return { ...base, metadata, subsets };
}

export function newEndpointsReconciler(opts: EndpointsReconcilerOptions = {}): Reconciler {
  const maxCapacity = opts.maxCapacity ?? MaxEndpointsCapacity;
  const index = new ServiceSelectorIndex();
  const name = EndpointsControllerName;

  return {
    name,
    watches: [R.services, R.pods, R.endpoints],
    indexes: [PodsByLabel, ServicesBySelector],
    // kube-controller-manager's --concurrent-endpoint-syncs.
    workers: 5,

    keysFor(r: ResourceInfo, obj: KObject, old?: KObject, cache?: Cache): string[] {
      const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      if (isResource(r, R.services)) {
        index.set(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '', obj as Service);
        return [key];
      }
      if (isResource(r, R.pods)) return serviceKeysForPod(obj as Pod, old as Pod | undefined, index, cache);
      // An Endpoints object deleted or edited by someone else is put back.
      if (isResource(r, R.endpoints)) return [key];
      return [];
    },

    reconcile(key: string, cache: Cache, _now: Date): Plan {
      const { namespace, name: svcName } = splitKey(key);
      const svc = getAs<Service>(cache, R.services, namespace, svcName);
      index.set(namespace, svcName, svc);
      const current = getAs<Endpoints>(cache, R.endpoints, namespace, svcName);

      if (!svc) {
        // The Service is gone: so is its Endpoints. Only one this controller
        // wrote (a user's Endpoints may arrive before its Service), and never
        // a leader-election record.
        if (!current || current.metadata?.deletionTimestamp) return { actions: [] };
        if (current.metadata?.annotations?.[AnnotationLeaderElection] !== undefined) return { actions: [] };
        if (!writtenBy(current, name)) return { actions: [] };
        return {
          actions: [{
            verb: 'delete', resource: R.endpoints, namespace, name: svcName,
            ...(current.metadata?.uid ? { preconditions: { uid: current.metadata.uid } } : {}),
          }],
        };
      }
      // ExternalName Services get no endpoints; without a selector the user
      // manages the Endpoints.
      if (svc.spec?.type === 'ExternalName' || !hasSelector(svc)) return { actions: [] };

      const pods = selectedPods(svc, cache);
      const desired = desiredEndpoints(svc, pods, current, maxCapacity);
      if (current &&
        subsetsEqual(current.subsets, desired.subsets) &&
        labelsEqual(current.metadata?.labels, desired.metadata?.labels) &&
        labelsEqual(current.metadata?.annotations, desired.metadata?.annotations)) {
        return { actions: [] };
      }
      if (current) return { actions: [{ verb: 'update', resource: R.endpoints, namespace, object: asK(desired) }] };
      return { actions: [{ verb: 'create', resource: R.endpoints, namespace, object: asK(desired) }] };
    },
  };
}

// The EndpointSlice mirroring controller (kube-controller-manager's
// pkg/controller/endpointslicemirroring) as a pure Reconciler: for a Service
// without a selector whose Endpoints the user manages, EndpointSlices that
// mirror them (managed-by endpointslicemirroring-controller.k8s.io), one
// slice per Endpoints subset and address family, so that consumers of
// EndpointSlices (the proxy, DNS) see those endpoints too.
import type { EndpointAddress, EndpointPort as CoreEndpointPort, Endpoints, Service } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointPort, EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { formatIP, parseIPSloppy } from '../../api/validation/ip.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KObject } from '../../client/types.js';
import type { Action, Cache, EventRecord, Plan, Reconciler } from '../types.js';
import { EndpointSet, endpointsEqualBeyondHash, portMapKey } from '../endpointslice/endpointset.js';
import {
  AnnotationLastAppliedConfig, AnnotationLastChangeTriggerTime, AnnotationLeaderElection, EndpointSliceMirroringControllerName,
  LabelManagedBy, LabelServiceName, LabelSkipMirror, R, byName, controllerRef, eventFor, hasSelector, isResource, labelsEqual,
  splitKey, asK, getAs, SlicesByService, slicesOfService,
} from '../endpointslice/util.js';
import { repackSubsets } from '../endpoints/repack.js';

export interface EndpointSliceMirroringReconcilerOptions {
  /** --mirroring-max-endpoints-per-subset; Kubernetes' default is 1000. */
  maxEndpointsPerSubset?: number;
}

export const DefaultMaxEndpointsPerSubset = 1000;

type AddressType = 'IPv4' | 'IPv6';

/** shouldMirror: not opted out by the skip-mirror label, not a leader-election record. */
export function shouldMirror(ep: Endpoints | undefined): boolean {
  if (!ep) return false;
  if (ep.metadata?.labels?.[LabelSkipMirror] === 'true') return false;
  return ep.metadata?.annotations?.[AnnotationLeaderElection] === undefined;
}

/** addressToEndpoint: undefined (with no type) when the IP does not parse. */
function addressToEndpoint(a: EndpointAddress, ready: boolean): { endpoint: Endpoint; addressType: AddressType } | undefined {
  const ip = parseIPSloppy(a.ip ?? '');
  if (!ip) return undefined;
  return {
    addressType: ip.family,
    endpoint: {
      // Re-rendered, in case the Endpoints spelled it irregularly.
      addresses: [formatIP(ip)],
      conditions: { ready },
      ...(a.hostname ? { hostname: a.hostname } : {}),
      ...(a.targetRef ? { targetRef: a.targetRef } : {}),
      ...(a.nodeName !== undefined && a.nodeName !== null ? { nodeName: a.nodeName } : {}),
    },
  };
}

function epPortsToEpsPorts(ports: readonly CoreEndpointPort[] | undefined): EndpointPort[] {
  return (ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    protocol: p.protocol ?? 'TCP',
    ...(p.appProtocol !== undefined && p.appProtocol !== null ? { appProtocol: p.appProtocol } : {}),
  }));
}

const sliceKey = (ports: readonly EndpointPort[] | undefined, addressType: string): string => `${addressType}/${portMapKey(ports)}`;

/** The annotations a mirrored slice carries: the Endpoints', but the trigger time and kubectl's last-applied copy. */
function mirroredAnnotations(ep: Endpoints): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.metadata?.annotations ?? {})) {
    if (k !== AnnotationLastChangeTriggerTime && k !== AnnotationLastAppliedConfig) out[k] = v;
  }
  return out;
}

/** newEndpointSlice: the Endpoints' labels (service-name and managed-by overridden) and annotations; owned by the Endpoints. */
function newEndpointSlice(ep: Endpoints, ports: EndpointPort[], addressType: AddressType, existing: EndpointSlice | undefined): EndpointSlice {
  const name = ep.metadata?.name ?? '';
  const labels: Record<string, string> = { ...(ep.metadata?.labels ?? {}) };
  labels[LabelServiceName] = name;
  labels[LabelManagedBy] = EndpointSliceMirroringControllerName;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      ...(existing ? { name: existing.metadata?.name ?? '' } : { generateName: `${name}-` }),
      namespace: ep.metadata?.namespace ?? '',
      ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      labels,
      annotations: mirroredAnnotations(ep),
      ownerReferences: [controllerRef(ep, 'v1', 'Endpoints')],
    },
    addressType,
    endpoints: [],
    ports,
  };
}

interface Desired {
  ports: EndpointPort[];
  addressType: AddressType;
  set: EndpointSet;
}

/**
 * The actions mirroring one Endpoints into the existing mirrored slices, and
 * the Warning events Kubernetes records on the Endpoints.
 */
export function reconcileMirror(ep: Endpoints, existing: EndpointSlice[], maxPerSubset: number): { actions: Action[]; events: EventRecord[] } {
  const desired = new Map<string, Desired>();
  let invalid = 0;
  let skipped = 0;

  // Canonicalised first, so that subsets that are split differently but
  // mean the same thing mirror the same way.
  for (const subset of repackSubsets(ep.subsets)) {
    const ports = epPortsToEpsPorts(subset.ports);
    const keys = {} as Record<AddressType, string>;
    for (const t of ['IPv4', 'IPv6'] as const) {
      keys[t] = sliceKey(ports, t);
      if (!desired.has(keys[t])) desired.set(keys[t], { ports, addressType: t, set: new EndpointSet() });
    }
    const total = (subset.addresses ?? []).length + (subset.notReadyAddresses ?? []).length;
    let added = 0;
    const add = (list: readonly EndpointAddress[] | undefined, ready: boolean): void => {
      for (const a of list ?? []) {
        // At most maxPerSubset addresses per subset: one subset, one slice.
        if (added >= maxPerSubset) break;
        const e = addressToEndpoint(a, ready);
        if (!e) {
          invalid++;
          continue;
        }
        desired.get(keys[e.addressType])!.set.insert(e.endpoint);
        added++;
      }
    };
    add(subset.addresses, true);
    add(subset.notReadyAddresses, false);
    skipped += total - added;
  }

  const events: EventRecord[] = [];
  if (invalid > 0) {
    events.push(eventFor(ep, 'v1', 'Endpoints', 'Warning', 'InvalidIPAddress',
      `Skipped ${invalid} invalid IP addresses when mirroring to EndpointSlices`));
  }
  if (skipped > invalid) {
    events.push(eventFor(ep, 'v1', 'Endpoints', 'Warning', 'TooManyAddressesToMirror',
      `A max of ${maxPerSubset} addresses can be mirrored to EndpointSlices per Endpoints subset. ${skipped} addresses were skipped`));
  }

  const existingByKey = new Map<string, EndpointSlice[]>();
  for (const s of existing) {
    const k = sliceKey(s.ports, s.addressType);
    existingByKey.set(k, [...(existingByKey.get(k) ?? []), s]);
  }

  const toCreate: EndpointSlice[] = [];
  const toUpdate: EndpointSlice[] = [];
  const toDelete: EndpointSlice[] = [];
  const wantAnnotations = mirroredAnnotations(ep);
  for (const [k, d] of desired) {
    const slices = existingByKey.get(k) ?? [];
    if (d.set.size === 0) {
      toDelete.push(...slices);
      continue;
    }
    const first = slices[0];
    if (first) {
      // One slice per subset and family: any others go.
      toDelete.push(...slices.slice(1));
      let removed = 0;
      let updated = 0;
      let matched = 0;
      for (const e of first.endpoints ?? []) {
        const want = d.set.get(e);
        if (!want) removed++;
        else {
          matched++;
          if (!endpointsEqualBeyondHash(want, e)) updated++;
        }
      }
      const added = d.set.size - matched;
      const labels: Record<string, string> = { ...(first.metadata?.labels ?? {}) };
      delete labels[LabelManagedBy];
      delete labels[LabelServiceName];
      if (added === 0 && updated === 0 && removed === 0 && labelsEqual(ep.metadata?.labels, labels) &&
        labelsEqual(wantAnnotations, first.metadata?.annotations)) {
        continue;
      }
    }
    const slice = newEndpointSlice(ep, d.ports, d.addressType, first);
    while (d.set.size > 0 && slice.endpoints.length < maxPerSubset) slice.endpoints.push(d.set.pop()!);
    (first ? toUpdate : toCreate).push(slice);
  }
  for (const [k, slices] of existingByKey) if (!desired.has(k)) toDelete.push(...slices);

  // recycleSlices: a create and a delete of the same address type become an update.
  for (const t of ['IPv4', 'IPv6'] as const) {
    const creates = toCreate.filter((s) => s.addressType === t);
    const deletes = toDelete.filter((s) => s.addressType === t);
    for (let i = 0; i < creates.length && i < deletes.length; i++) {
      const c = creates[i]!;
      const d = deletes[i]!;
      toCreate.splice(toCreate.indexOf(c), 1);
      toDelete.splice(toDelete.indexOf(d), 1);
      const { generateName: _drop, ...md } = c.metadata ?? {};
      c.metadata = {
        ...md,
        name: d.metadata?.name ?? '',
        ...(d.metadata?.resourceVersion ? { resourceVersion: d.metadata.resourceVersion } : {}),
      };
      toUpdate.push(c);
    }
  }

  const ns = ep.metadata?.namespace ?? '';
  const actions: Action[] = [];
  // No new slices for an Endpoints being deleted.
  if (!ep.metadata?.deletionTimestamp) {
    for (const s of toCreate) actions.push({ verb: 'create', resource: R.endpointSlices, namespace: ns, object: asK(s) });
  }
  for (const s of toUpdate) actions.push({ verb: 'update', resource: R.endpointSlices, namespace: ns, object: asK(s) });
  for (const s of toDelete) actions.push(deleteSlice(s));
  return { actions, events };
}

function deleteSlice(s: EndpointSlice): Action {
  return {
    verb: 'delete',
    resource: R.endpointSlices,
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    ...(s.metadata?.uid ? { preconditions: { uid: s.metadata.uid } } : {}),
  };
}

export const EndpointSliceMirroringName = 'endpoint-slice-mirroring-controller';

export function newEndpointSliceMirroringReconciler(opts: EndpointSliceMirroringReconcilerOptions = {}): Reconciler {
  const max = opts.maxEndpointsPerSubset ?? DefaultMaxEndpointsPerSubset;
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new RangeError(`maxEndpointsPerSubset must be between 1 and 1000, got ${max}`);

  return {
    name: EndpointSliceMirroringName,
    watches: [R.services, R.endpoints, R.endpointSlices],
    indexes: [SlicesByService],
    // kube-controller-manager's --mirroring-concurrent-service-endpoint-syncs.
    workers: 5,

    keysFor(r: ResourceInfo, obj: KObject, old?: KObject): string[] {
      const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      if (isResource(r, R.services)) {
        // Only Services without a selector are mirrored; on update, only a
        // selector appearing or disappearing matters.
        const now = hasSelector(obj as Service);
        if (old) return now !== hasSelector(old as Service) ? [key] : [];
        return now ? [] : [key];
      }
      if (isResource(r, R.endpoints)) {
        return shouldMirror(obj as Endpoints) || (old !== undefined && shouldMirror(old as Endpoints)) ? [key] : [];
      }
      if (isResource(r, R.endpointSlices)) {
        const keys = new Set<string>();
        const svcNow = obj.metadata?.labels?.[LabelServiceName];
        const svcOld = old?.metadata?.labels?.[LabelServiceName];
        const mine = (o: KObject | undefined): boolean => o?.metadata?.labels?.[LabelManagedBy] === EndpointSliceMirroringControllerName;
        // A slice that changed hands or service is looked at from both sides.
        if (old && (svcNow !== svcOld || mine(obj) !== mine(old))) {
          if (svcNow) keys.add(`${obj.metadata?.namespace ?? ''}/${svcNow}`);
          if (svcOld) keys.add(`${old.metadata?.namespace ?? ''}/${svcOld}`);
        } else if (mine(obj) && svcNow) {
          keys.add(`${obj.metadata?.namespace ?? ''}/${svcNow}`);
        }
        return [...keys].sort();
      }
      return [];
    },

    reconcile(key: string, cache: Cache, _now: Date): Plan {
      const { namespace, name } = splitKey(key);
      const mirrored = slicesOfService(cache, namespace, name)
        .filter((s) => s.metadata?.labels?.[LabelManagedBy] === EndpointSliceMirroringControllerName)
        .sort(byName);
      const deleteAll = (): Plan => ({ actions: mirrored.filter((s) => !s.metadata?.deletionTimestamp).map(deleteSlice) });

      const ep = getAs<Endpoints>(cache, R.endpoints, namespace, name);
      if (!ep || !shouldMirror(ep)) return deleteAll();
      const svc = getAs<Service>(cache, R.services, namespace, name);
      // Mirroring is for Services without a selector, whose Endpoints the user
      // writes; a selector means the EndpointSlice controller is in charge.
      if (!svc || hasSelector(svc)) return deleteAll();

      const { actions, events } = reconcileMirror(ep, mirrored, max);
      return events.length ? { actions, events } : { actions };
    },
  };
}

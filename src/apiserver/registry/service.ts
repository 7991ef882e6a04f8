// The Service registry's allocation step: ClusterIPs and NodePorts are taken
// and released in the same store transaction as the Service itself, from the
// allocator state kept under one key (kube-apiserver keeps its RangeAllocation
// objects the same way). A concurrent writer moves that key's modRevision, the
// transaction's compare fails, and the registry recomputes: nothing is ever
// allocated twice or lost.
import type { Service } from 'kubernetes-types/core/v1.js';
import { errors } from '../../api/errors.js';
import type { KeyValue, Store } from '../../storage/store.js';
import type { ClusterConfig } from '../strategies.js';
import {
  admitService, newServiceAllocatorState, releaseServiceAllocations, restoreServiceAllocators, snapshotServiceAllocators,
  type ServiceAllocatorSnapshot, type ServiceAllocatorState,
} from './allocator/service.js';
import type { Obj, Strategy } from './generic.js';

export const SERVICE_RANGES_KEY = '/registry/ranges/services';

/** Reads the allocator state, or an empty one for these flags. A range whose flags changed starts over (repair refills it). */
export function loadAllocatorState(kv: KeyValue | undefined, config: ClusterConfig): ServiceAllocatorState {
  const fresh = newServiceAllocatorState({ serviceClusterIPRange: config.serviceClusterIPRange, serviceNodePortRange: config.serviceNodePortRange });
  if (!kv) return fresh;
  let snap: ServiceAllocatorSnapshot;
  try {
    snap = JSON.parse(kv.value) as ServiceAllocatorSnapshot;
  } catch {
    throw errors.internal(`allocation state at ${SERVICE_RANGES_KEY} is not valid JSON`);
  }
  const want = snapshotServiceAllocators(fresh);
  const same = want.serviceIPs.map((r) => r.range).join(',') === snap.serviceIPs.map((r) => r.range).join(',') &&
    want.serviceNodePorts.range === snap.serviceNodePorts.range;
  return same ? restoreServiceAllocators(snap) : fresh;
}

export function serviceAllocation(store: Store, config: ClusterConfig): NonNullable<Strategy['txnExtras']> {
  // Fail at start, with kube-apiserver's flag message, rather than on the first create.
  newServiceAllocatorState({ serviceClusterIPRange: config.serviceClusterIPRange, serviceNodePortRange: config.serviceNodePortRange });
  return async (obj: Obj, old: Obj | undefined, op) => {
    const kv = await store.get(SERVICE_RANGES_KEY);
    const state = loadAllocatorState(kv, config);
    const compare = [{ key: SERVICE_RANGES_KEY, modRevision: kv?.modRevision ?? 0 }];
    if (op === 'delete') {
      const next = releaseServiceAllocations(obj as unknown as Service, state);
      return { obj, extras: { compare, ops: [{ type: 'put', key: SERVICE_RANGES_KEY, value: JSON.stringify(snapshotServiceAllocators(next)) }] } };
    }
    const r = admitService({ service: obj as unknown as Service, oldService: old as unknown as Service | undefined, state });
    if (!r.ok) {
      if (r.failure.reason === 'Invalid') throw errors.invalid({ group: '', kind: 'Service' }, obj.metadata.name ?? '', r.failure.errors);
      throw errors.internal(r.failure.message);
    }
    const value = JSON.stringify(snapshotServiceAllocators(r.state));
    const ops = kv?.value === value ? [] : [{ type: 'put' as const, key: SERVICE_RANGES_KEY, value }];
    return { obj: r.service as unknown as Obj, extras: { compare, ops } };
  };
}

// Every controller svcnet runs, as kube-controller-manager's --controllers list.
import { newEndpointSliceReconciler } from './endpointslice/index.js';
import { newEndpointsReconciler } from './endpoints/index.js';
import { newEndpointSliceMirroringReconciler } from './endpointslicemirroring/index.js';
import type { Reconciler } from './types.js';

export interface ControllerOptions {
  /** --max-endpoints-per-slice (default 100). */
  maxEndpointsPerSlice?: number;
  /** Names to leave out (e.g. 'loadbalancer' to leave LoadBalancer Services <pending>). */
  disabled?: readonly string[];
}

export const controllerNames = ['endpointslice', 'endpoints', 'endpointslicemirroring'] as const;

export function defaultReconcilers(o: ControllerOptions = {}): Reconciler[] {
  const all: [string, () => Reconciler][] = [
    ['endpointslice', () => newEndpointSliceReconciler({ maxEndpointsPerSlice: o.maxEndpointsPerSlice })],
    ['endpoints', () => newEndpointsReconciler()],
    ['endpointslicemirroring', () => newEndpointSliceMirroringReconciler()],
  ];
  return all.filter(([n]) => !o.disabled?.includes(n)).map(([, f]) => f());
}

// Every controller svcnet runs, as kube-controller-manager's --controllers list.
import { newEndpointSliceReconciler } from './endpointslice/index.js';
import { newEndpointsReconciler } from './endpoints/index.js';
import { newEndpointSliceMirroringReconciler } from './endpointslicemirroring/index.js';
import { loadBalancerController } from './loadbalancer/index.js';
import { scheduler } from './scheduler/index.js';
import { replicaSetController } from './replicaset/index.js';
import { deploymentController } from './deployment/index.js';
import { garbageCollector } from './garbagecollector/index.js';
import type { Reconciler } from './types.js';

export interface ControllerOptions {
  /** --max-endpoints-per-slice (default 100). */
  maxEndpointsPerSlice?: number;
  /** Names to leave out (e.g. 'loadbalancer' to leave LoadBalancer Services <pending>). */
  disabled?: readonly string[];
  /** The load-balancer class svcnet's provider serves (default svcnet.io/lb; Services with no class are served too). */
  loadBalancerClass?: string;
}

export const controllerNames = [
  'endpointslice', 'endpoints', 'endpointslicemirroring', 'loadbalancer', 'scheduler', 'replicaset', 'deployment', 'garbagecollector',
] as const;

export function defaultReconcilers(o: ControllerOptions = {}): Reconciler[] {
  const all: [string, () => Reconciler][] = [
    ['endpointslice', () => newEndpointSliceReconciler({ maxEndpointsPerSlice: o.maxEndpointsPerSlice })],
    ['endpoints', () => newEndpointsReconciler()],
    ['endpointslicemirroring', () => newEndpointSliceMirroringReconciler()],
    ['loadbalancer', () => loadBalancerController({ loadBalancerClass: o.loadBalancerClass })],
    ['scheduler', () => scheduler()],
    ['replicaset', () => replicaSetController()],
    ['deployment', () => deploymentController()],
    ['garbagecollector', () => garbageCollector()],
  ];
  return all.filter(([n]) => !o.disabled?.includes(n)).map(([, f]) => f());
}

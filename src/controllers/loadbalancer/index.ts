// See README.md. The factories also go by the newXReconciler names the other controllers use.
export {
  loadBalancerController, reconcileLoadBalancers, settleAssignments, describeService, AllServicesKey, Annotations, DefaultLoadBalancerClass,
  type Assignment, type Assignments, type LoadBalancerOptions, type LoadBalancerPlan,
} from './loadbalancer.js';
export { allocate, sharingConflict, type Decision, type HeldAddresses, type LBEvent, type LBService } from './allocator.js';
export { parsePoolConfig, PoolsConfigMapName, PoolsConfigMapNamespace, PoolsDataKey, type Pool, type PoolConfig, type IPRange } from './pools.js';
export { loadBalancerController as newLoadBalancerReconciler } from './loadbalancer.js';

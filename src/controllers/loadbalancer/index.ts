// See README.md. The factories also go by the newXReconciler names the other controllers use.
export { loadBalancerController, describeService, AllServicesKey, Annotations, DefaultLoadBalancerClass, type LoadBalancerOptions } from './loadbalancer.js';
export { allocate, sharingConflict, type Decision, type LBEvent, type LBService } from './allocator.js';
export { parsePoolConfig, PoolsConfigMapName, PoolsConfigMapNamespace, PoolsDataKey, type Pool, type PoolConfig, type IPRange } from './pools.js';
export { loadBalancerController as newLoadBalancerReconciler } from './loadbalancer.js';

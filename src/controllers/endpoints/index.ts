// The Endpoints controller: see ../endpointslice/README.md.
export {
  EndpointsControllerName, MaxEndpointsCapacity, desiredEndpoints, newEndpointsReconciler, podToEndpointAddress, subsetsFor,
  truncateSubsets, type EndpointsReconcilerOptions,
} from './reconciler.js';
export { repackSubsets, sortSubsets, subsetsEqual } from './repack.js';

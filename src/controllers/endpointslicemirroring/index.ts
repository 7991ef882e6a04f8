// The EndpointSlice mirroring controller: see ../endpointslice/README.md.
export {
  DefaultMaxEndpointsPerSubset, EndpointSliceMirroringName, newEndpointSliceMirroringReconciler, reconcileMirror, shouldMirror,
  type EndpointSliceMirroringReconcilerOptions,
} from './reconciler.js';

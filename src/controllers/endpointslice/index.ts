// The EndpointSlice controller: see README.md.
export {
  DefaultMaxEndpointsPerSlice, addressTypesForService, endpointPortsFor, newEndpointSliceReconciler, podToEndpoint, reconcileService,
  type EndpointSliceReconcilerOptions,
} from './reconciler.js';
export {
  AnnotationEndpointsOverCapacity, AnnotationLastChangeTriggerTime, EndpointSliceControllerName, EndpointSliceMirroringControllerName,
  LabelHeadlessService, LabelManagedBy, LabelServiceName, LabelSkipMirror, LabelTopologyZone,
} from './util.js';

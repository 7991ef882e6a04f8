// See README.md. The factories also go by the newXReconciler names the other controllers use.
export { garbageCollector, gcKey, collectedResources, OrphanFinalizer, ForegroundFinalizer, type GarbageCollectorOptions } from './garbagecollector.js';
export { garbageCollector as newGarbageCollectorReconciler } from './garbagecollector.js';

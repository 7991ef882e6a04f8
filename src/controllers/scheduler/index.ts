// See README.md. The factories also go by the newXReconciler names the other controllers use.
export {
  scheduler, schedule, filterNode, fitErrorMessage, tolerates, effectiveTaints, nodeAffinityMatches, isPendingFor,
  AllPendingKey, DefaultSchedulerName, ErrNoNodesAvailable, FilterReasons, type Placement, type SchedulerOptions,
} from './scheduler.js';
export { scheduler as newSchedulerReconciler } from './scheduler.js';

// See README.md. The factories also go by the newXReconciler names the other controllers use.
export {
  deploymentController, newReplicaSetName, resolveFenceposts, scaledValue, maxSurge, maxUnavailable, Reasons,
  RevisionAnnotation, RevisionHistoryAnnotation, DesiredReplicasAnnotation, MaxReplicasAnnotation,
} from './deployment.js';
export { computeHash, equalIgnoreHash, podTemplateHashLabel } from './hash.js';
export { deploymentController as newDeploymentReconciler } from './deployment.js';

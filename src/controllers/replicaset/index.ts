// See README.md. The factories also go by the newXReconciler names the other controllers use.
export { replicaSetController, podFromTemplate, podsToDelete, compareForDeletion, replicaSetStatusCounts, type ReplicaSetControllerOptions } from './replicaset.js';
export { replicaSetController as newReplicaSetReconciler } from './replicaset.js';

// One validation entry point per kind, as the API server's registries call
// them: `validate(kind, obj)` on create, `validate(kind, obj, old)` on update.
// Services are validated here too, but kube-apiserver allocates their
// clusterIPs and nodePorts *before* validating them: use
// registry/allocator/service.ts admitService for the full create/update path.
import type { FieldError } from '../errors.js';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { ConfigMap, Endpoints, Event, Namespace, Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { ValidateDeployment, ValidateDeploymentUpdate, ValidateReplicaSet, ValidateReplicaSetUpdate } from './apps.js';
import { ValidateLease, ValidateLeaseUpdate } from './coordination.js';
import {
  ValidateConfigMap, ValidateConfigMapUpdate, ValidateEndpoints, ValidateEndpointsUpdate, ValidateEvent, ValidateEventUpdate,
  ValidateNamespace, ValidateNamespaceUpdate, ValidateNode, ValidateNodeUpdate, type EndpointValidationOptions,
} from './core.js';
import { ValidateEndpointSlice, ValidateEndpointSliceUpdate } from './discovery.js';
import { ValidatePodCreate, ValidatePodUpdate } from './pod.js';
import { ValidateService, ValidateServiceUpdate } from './service.js';

export interface ValidateOptions extends EndpointValidationOptions {}

export type ValidatedKind =
  | 'Namespace' | 'Node' | 'Pod' | 'Service' | 'Endpoints' | 'Event' | 'ConfigMap'
  | 'EndpointSlice' | 'Deployment' | 'ReplicaSet' | 'Lease';

/** The kinds `validate` knows; others pass unvalidated (an empty list). */
export const validatedKinds: readonly ValidatedKind[] = [
  'Namespace', 'Node', 'Pod', 'Service', 'Endpoints', 'Event', 'ConfigMap', 'EndpointSlice', 'Deployment', 'ReplicaSet', 'Lease',
];

/**
 * Validates `obj` of `kind` for a create (no `old`) or an update. Errors are
 * in Kubernetes' order; render them with errors.invalid(…).
 */
export function validate(kind: string, obj: object, old?: object, opts: ValidateOptions = {}): FieldError[] {
  switch (kind) {
    case 'Namespace': return old ? ValidateNamespaceUpdate(obj as Namespace, old as Namespace) : ValidateNamespace(obj as Namespace);
    case 'Node': return old ? ValidateNodeUpdate(obj as Node, old as Node) : ValidateNode(obj as Node);
    case 'Pod': return old ? ValidatePodUpdate(obj as Pod, old as Pod) : ValidatePodCreate(obj as Pod);
    case 'Service': return old ? ValidateServiceUpdate(obj as Service, old as Service) : ValidateService(obj as Service);
    case 'Endpoints': return old ? ValidateEndpointsUpdate(obj as Endpoints, old as Endpoints, opts) : ValidateEndpoints(obj as Endpoints, opts);
    case 'Event': return old ? ValidateEventUpdate(obj as Event, old as Event) : ValidateEvent(obj as Event);
    case 'ConfigMap': return old ? ValidateConfigMapUpdate(obj as ConfigMap, old as ConfigMap) : ValidateConfigMap(obj as ConfigMap);
    case 'EndpointSlice':
      return old ? ValidateEndpointSliceUpdate(obj as EndpointSlice, old as EndpointSlice, opts) : ValidateEndpointSlice(obj as EndpointSlice, opts);
    case 'Deployment': return old ? ValidateDeploymentUpdate(obj as Deployment, old as Deployment) : ValidateDeployment(obj as Deployment);
    case 'ReplicaSet': return old ? ValidateReplicaSetUpdate(obj as ReplicaSet, old as ReplicaSet) : ValidateReplicaSet(obj as ReplicaSet);
    case 'Lease': return old ? ValidateLeaseUpdate(obj as Lease, old as Lease) : ValidateLease(obj as Lease);
    default: return [];
  }
}

export { Path, field } from './field.js';
export * from './names.js';
export * from './meta.js';
export * from './service.js';
export { ValidatePodCreate, ValidatePodUpdate, ValidatePodSpec, ValidatePodTemplateSpec } from './pod.js';

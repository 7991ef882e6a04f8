// One defaulting entry point per kind, as the API server applies defaults
// when it decodes a request body.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Endpoints, Namespace, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { SetDefaults_Deployment, SetDefaults_ReplicaSet } from './apps.js';
import { SetDefaults_EndpointSlice, SetDefaults_Endpoints, SetDefaults_Namespace } from './core.js';
import { SetDefaults_Pod } from './pod.js';
import { SetDefaults_Service } from './service.js';

/** Applies `kind`'s defaults to `obj` in place. Kinds without defaults are left alone. */
export function setDefaults(kind: string, obj: object): void {
  switch (kind) {
    case 'Service': SetDefaults_Service(obj as Service); break;
    case 'Pod': SetDefaults_Pod(obj as Pod); break;
    case 'Deployment': SetDefaults_Deployment(obj as Deployment); break;
    case 'ReplicaSet': SetDefaults_ReplicaSet(obj as ReplicaSet); break;
    case 'Namespace': SetDefaults_Namespace(obj as Namespace); break;
    case 'Endpoints': SetDefaults_Endpoints(obj as Endpoints); break;
    case 'EndpointSlice': SetDefaults_EndpointSlice(obj as EndpointSlice); break;
    default: break;
  }
}

/** A defaulted deep copy of `obj`; `obj` is not modified. */
export function withDefaults<T extends object>(kind: string, obj: T): T {
  const copy = structuredClone(obj);
  setDefaults(kind, copy);
  return copy;
}

export * from './service.js';
export * from './pod.js';
export * from './apps.js';
export * from './core.js';

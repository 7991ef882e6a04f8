// Defaulting for the other core/v1 and discovery.k8s.io/v1 kinds svcnet
// serves, as kube-apiserver's defaulters (and, for Namespaces, the namespace
// strategy) leave them.
import type { ConfigMap, Endpoints, Namespace, NamespaceStatus } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

/** The label every Namespace carries with its own name (v1.LabelMetadataName). */
export const LabelMetadataName = 'kubernetes.io/metadata.name';

export function SetDefaults_Namespace(ns: Namespace): void {
  // Nameless namespaces (generateName) are labelled once named, by the strategy.
  if (ns.metadata?.name) {
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), [LabelMetadataName]: ns.metadata.name };
  }
  const status = ((ns as { status?: NamespaceStatus }).status ??= {});
  if (!status.phase) status.phase = 'Active';
}

/** The namespace strategy's PrepareForCreate: the `kubernetes` finalizer, phase Active. */
export function PrepareNamespaceForCreate(ns: Namespace): void {
  ns.spec = { ...(ns.spec ?? {}), finalizers: ['kubernetes'] };
  (ns as { status?: NamespaceStatus }).status = { phase: 'Active' };
}

export function SetDefaults_Endpoints(ep: Endpoints): void {
  for (const ss of ep.subsets ?? []) for (const p of ss.ports ?? []) if (!p.protocol) p.protocol = 'TCP';
}

export function SetDefaults_EndpointSlice(es: EndpointSlice): void {
  for (const p of es.ports ?? []) {
    if (p.name === undefined || p.name === null) p.name = '';
    if (!p.protocol) p.protocol = 'TCP';
  }
}

export function SetDefaults_ConfigMap(_cm: ConfigMap): void {
  // Kubernetes defaults `data` to an empty map, which JSON omits: nothing to show.
}

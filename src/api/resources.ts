// The catalog of resources svcnet serves: what discovery, routing, OpenAPI and
// clients agree on. Pure data.

export interface ResourceInfo {
  group: string;          // '' for core
  version: string;
  kind: string;
  listKind: string;
  plural: string;         // the resource name in URLs
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources served besides the main resource. */
  subresources: ('status' | 'scale' | 'binding' | 'proxy' | 'log' | 'exec' | 'attach' | 'portforward' | 'eviction')[];
  verbs: string[];
}

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function res(r: Omit<ResourceInfo, 'listKind' | 'verbs' | 'categories' | 'subresources' | 'shortNames'> &
  Partial<Pick<ResourceInfo, 'verbs' | 'categories' | 'subresources' | 'shortNames'>>): ResourceInfo {
  return {
    listKind: `${r.kind}List`,
    verbs: allVerbs,
    categories: [],
    subresources: [],
    shortNames: [],
    ...r,
  };
}

export const resources: readonly ResourceInfo[] = Object.freeze([
  res({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', singular: 'namespace', namespaced: false,
    shortNames: ['ns'], subresources: ['status'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }),
  res({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', singular: 'node', namespaced: false,
    shortNames: ['no'], subresources: ['status', 'proxy'] }),
  res({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod', namespaced: true,
    shortNames: ['po'], categories: ['all'], subresources: ['status', 'binding', 'log', 'exec', 'attach', 'portforward', 'proxy', 'eviction'] }),
  res({ group: '', version: 'v1', kind: 'Service', plural: 'services', singular: 'service', namespaced: true,
    shortNames: ['svc'], categories: ['all'], subresources: ['status', 'proxy'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] }),
  res({ group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints', namespaced: true,
    shortNames: ['ep'] }),
  res({ group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', namespaced: true,
    shortNames: ['ev'] }),
  res({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', namespaced: true,
    shortNames: ['cm'] }),
  res({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', singular: 'endpointslice',
    namespaced: true }),
  res({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment', namespaced: true,
    shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'] }),
  res({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset', namespaced: true,
    shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'] }),
  res({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease', namespaced: true }),
]);

export function groupVersion(r: Pick<ResourceInfo, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return resources.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function findByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return resources.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/** Group versions in discovery order (core first, then groups by name as kube-apiserver's priority roughly gives). */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of resources) seen.set(groupVersion(r), { group: r.group, version: r.version });
  return [...seen.values()];
}

// Discovery documents: /version, /api, /apis (legacy and aggregated
// apidiscovery.k8s.io/v2), /api/v1 and /apis/<group>/<version> resource lists.
// Pure: built once from the resource catalog.
import { groupVersion, groupVersions, resources, type ResourceInfo } from '../api/resources.js';

/** kubectl's dispatcher picks its binary from `minor`: FACTS says serve 32. */
export const versionInfo = Object.freeze({
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4-svcnet',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-11-23T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
});

export const DISCOVERY_V2_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

const subresourceVerbs: Record<string, string[]> = {
  status: ['get', 'patch', 'update'],
  scale: ['get', 'patch', 'update'],
  binding: ['create'],
  eviction: ['create'],
  log: ['get'],
  exec: ['create', 'get'],
  attach: ['create', 'get'],
  portforward: ['create', 'get'],
  proxy: ['create', 'delete', 'get', 'patch', 'update'],
};

function subresourceKind(r: ResourceInfo, sub: string): { group: string; version: string; kind: string } {
  switch (sub) {
    case 'scale': return { group: 'autoscaling', version: 'v1', kind: 'Scale' };
    case 'binding': return { group: '', version: 'v1', kind: 'Binding' };
    case 'eviction': return { group: 'policy', version: 'v1', kind: 'Eviction' };
    case 'log': case 'exec': return { group: '', version: 'v1', kind: sub === 'exec' ? 'PodExecOptions' : 'Pod' };
    case 'attach': return { group: '', version: 'v1', kind: 'PodAttachOptions' };
    case 'portforward': return { group: '', version: 'v1', kind: 'PodPortForwardOptions' };
    case 'proxy': return { group: '', version: 'v1', kind: `${r.kind}ProxyOptions` };
    default: return { group: r.group, version: r.version, kind: r.kind };
  }
}

export function apiVersions(): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] };
}

export function apiGroupList(): object {
  const groups = groupVersions().filter((gv) => gv.group !== '');
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((gv) => ({
      name: gv.group,
      versions: [{ groupVersion: `${gv.group}/${gv.version}`, version: gv.version }],
      preferredVersion: { groupVersion: `${gv.group}/${gv.version}`, version: gv.version },
    })),
  };
}

export function apiGroup(group: string): object | undefined {
  const gv = groupVersions().find((g) => g.group === group);
  if (!gv || !group) return undefined;
  return {
    kind: 'APIGroup', apiVersion: 'v1', name: group,
    versions: [{ groupVersion: `${group}/${gv.version}`, version: gv.version }],
    preferredVersion: { groupVersion: `${group}/${gv.version}`, version: gv.version },
  };
}

/** APIResourceList for one group version (legacy discovery). */
export function apiResourceList(group: string, version: string): object | undefined {
  const rs = resources.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const list: object[] = [];
  for (const r of rs) {
    const entry: Record<string, unknown> = {
      name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs,
    };
    if (r.shortNames.length) entry['shortNames'] = r.shortNames;
    if (r.categories.length) entry['categories'] = r.categories;
    entry['storageVersionHash'] = storageVersionHash(r);
    list.push(entry);
    for (const sub of r.subresources) {
      const k = subresourceKind(r, sub);
      const e: Record<string, unknown> = { name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind: k.kind, verbs: subresourceVerbs[sub] };
      if (k.group !== r.group || k.version !== r.version) { e['group'] = k.group; e['version'] = k.version; }
      list.push(e);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources: list };
}

function storageVersionHash(r: ResourceInfo): string {
  // kube-apiserver: base64 of the first 8 bytes of sha256("<group>/<version>/<kind>").
  // Clients only compare it for equality, so any stable value of that shape works.
  let h = 0n;
  for (const c of `${r.group}/${r.version}/${r.kind}`) h = (h * 131n + BigInt(c.charCodeAt(0))) & 0xffffffffffffffffn;
  return Buffer.from(h.toString(16).padStart(16, '0'), 'hex').toString('base64');
}

/** The aggregated discovery document (apidiscovery.k8s.io/v2) for /api (legacy=true) or /apis. */
export function aggregatedDiscovery(legacy: boolean): object {
  const gvs = groupVersions().filter((gv) => (gv.group === '') === legacy);
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: gvs.map((gv) => ({
      metadata: { name: gv.group, creationTimestamp: null },
      versions: [{
        version: gv.version,
        freshness: 'Current',
        resources: resources.filter((r) => r.group === gv.group && r.version === gv.version).map((r) => {
          const d: Record<string, unknown> = {
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: r.verbs,
          };
          if (r.shortNames.length) d['shortNames'] = r.shortNames;
          if (r.categories.length) d['categories'] = r.categories;
          if (r.subresources.length) {
            d['subresources'] = r.subresources.map((sub) => ({
              subresource: sub,
              responseKind: subresourceKind(r, sub),
              verbs: subresourceVerbs[sub],
            }));
          }
          return d;
        }),
      }],
    })),
  };
}

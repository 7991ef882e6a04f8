// endpoints.RepackSubsets (pkg/api/v1/endpoints): expands subsets to
// (address, port, ready) triples and packs them back into the canonical
// layout — one subset per set of addresses sharing the same ports — so that
// two Endpoints with the same meaning compare equal. Pure.
//
// Kubernetes orders ports and subsets by an md5 of their Go dump; svcnet
// orders them by their content (ports by name, port, protocol; subsets by
// their first address), which is as canonical and readable.
import type { EndpointAddress, EndpointPort, EndpointSubset } from 'kubernetes-types/core/v1.js';

/** Addresses are deduplicated by IP and target UID. */
function addressKey(a: EndpointAddress): string {
  return JSON.stringify([a.ip ?? '', a.targetRef?.uid ?? '']);
}

function portKey(p: EndpointPort | null): string {
  return p === null ? 'sentinel' : JSON.stringify([p.name ?? '', p.port ?? 0, p.protocol ?? '', p.appProtocol ?? null]);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** LessEndpointAddress: by IP bytes, then target UID (no target first). */
export function compareAddresses(a: EndpointAddress, b: EndpointAddress): number {
  const c = cmp(a.ip ?? '', b.ip ?? '');
  if (c !== 0) return c;
  if (!b.targetRef) return a.targetRef ? 1 : 0;
  if (!a.targetRef) return -1;
  return cmp(a.targetRef.uid ?? '', b.targetRef.uid ?? '');
}

function comparePorts(a: EndpointPort, b: EndpointPort): number {
  return cmp(a.name ?? '', b.name ?? '') || (a.port ?? 0) - (b.port ?? 0) || cmp(a.protocol ?? '', b.protocol ?? '') ||
    cmp(a.appProtocol ?? '', b.appProtocol ?? '');
}

function subsetSortKey(s: EndpointSubset): string {
  const first = s.addresses?.[0] ?? s.notReadyAddresses?.[0];
  return JSON.stringify([first?.ip ?? '', first?.targetRef?.uid ?? '', s]);
}

/** SortSubsets: addresses, ports, then the subsets themselves. Returns new arrays. */
export function sortSubsets(subsets: readonly EndpointSubset[]): EndpointSubset[] {
  const out = subsets.map((s) => {
    const r: EndpointSubset = {};
    if (s.addresses && s.addresses.length) r.addresses = [...s.addresses].sort(compareAddresses);
    if (s.notReadyAddresses && s.notReadyAddresses.length) r.notReadyAddresses = [...s.notReadyAddresses].sort(compareAddresses);
    if (s.ports && s.ports.length) r.ports = [...s.ports].sort(comparePorts);
    return r;
  });
  return out.sort((a, b) => cmp(subsetSortKey(a), subsetSortKey(b)));
}

export function repackSubsets(subsets: readonly EndpointSubset[] | undefined | null): EndpointSubset[] {
  const allAddrs = new Map<string, EndpointAddress>();
  // port key → (port, address key → ready). Insertion-ordered.
  const byPort = new Map<string, { port: EndpointPort | null; addrs: Map<string, boolean> }>();

  const add = (a: EndpointAddress, port: EndpointPort | null, ready: boolean): void => {
    const ak = addressKey(a);
    if (!allAddrs.has(ak)) allAddrs.set(ak, { ...a });
    const pk = portKey(port);
    let entry = byPort.get(pk);
    if (!entry) byPort.set(pk, (entry = { port, addrs: new Map() }));
    // Not ready wins over ready for the same address and port.
    const was = entry.addrs.get(ak);
    if (was === undefined || was) entry.addrs.set(ak, ready);
  };

  for (const s of subsets ?? []) {
    // Addresses without ports (a headless Service without ports) are kept
    // under a sentinel port that does not appear in the result.
    const ports: (EndpointPort | null)[] = s.ports && s.ports.length ? s.ports : [null];
    for (const p of ports) {
      for (const a of s.addresses ?? []) add(a, p, true);
      for (const a of s.notReadyAddresses ?? []) add(a, p, false);
    }
  }

  // Group the ports by the exact set of (address, ready) offering them.
  const groups = new Map<string, { addrs: Map<string, boolean>; ports: EndpointPort[] }>();
  for (const { port, addrs } of byPort.values()) {
    const setKey = JSON.stringify([...addrs.entries()].sort((x, y) => cmp(x[0], y[0])));
    let g = groups.get(setKey);
    if (!g) groups.set(setKey, (g = { addrs, ports: [] }));
    if (port !== null) g.ports.push(port);
  }

  const final: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const ready: EndpointAddress[] = [];
    const notReady: EndpointAddress[] = [];
    for (const [ak, r] of g.addrs) (r ? ready : notReady).push(allAddrs.get(ak)!);
    final.push({
      ...(ready.length ? { addresses: ready } : {}),
      ...(notReady.length ? { notReadyAddresses: notReady } : {}),
      ...(g.ports.length ? { ports: g.ports } : {}),
    });
  }
  return sortSubsets(final);
}

function normalizeAddress(a: EndpointAddress): unknown {
  return [a.ip ?? '', a.hostname ?? '', a.nodeName ?? null, a.targetRef ? [a.targetRef.kind ?? '', a.targetRef.namespace ?? '',
    a.targetRef.name ?? '', a.targetRef.uid ?? '', a.targetRef.apiVersion ?? '', a.targetRef.fieldPath ?? ''] : null];
}

/**
 * endpointSubsetsEqualIgnoreResourceVersion: order-sensitive deep equality
 * where empty equals missing and target resourceVersions are ignored.
 */
export function subsetsEqual(a: readonly EndpointSubset[] | undefined | null, b: readonly EndpointSubset[] | undefined | null): boolean {
  const norm = (ss: readonly EndpointSubset[] | undefined | null): string => JSON.stringify((ss ?? []).map((s) => [
    (s.addresses ?? []).map(normalizeAddress),
    (s.notReadyAddresses ?? []).map(normalizeAddress),
    (s.ports ?? []).map((p) => [p.name ?? '', p.port ?? 0, p.protocol ?? '', p.appProtocol ?? null]),
  ]));
  return norm(a) === norm(b);
}

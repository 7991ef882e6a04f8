// LoadBalancer reachability on the LAN, L2-style (as MetalLB's speaker): one
// announcing node per LoadBalancer IP holds the address on its LAN leg, so
// the outside world's ARP for it is answered there and the node's proxy
// rules take the packet on to an endpoint.
//
// Which node, as MetalLB's layer2 controller (speaker/layer2_controller.go,
// ShouldAnnounce):
// - externalTrafficPolicy Cluster: any Ready node can forward to any
//   endpoint, so the IPs are spread over the Ready nodes by a stable hash.
// - externalTrafficPolicy Local: only a node with a local endpoint that can
//   serve (EndpointSlice conditions ready, or serving) may announce — kube-proxy
//   drops Local traffic on the others. Among those, the first by
//   sha256(node + "#" + ip), so every IP has one owner, which changes only
//   when the set of eligible nodes does. No such node: not announced at all
//   (as MetalLB), rather than announced where it is dropped. When the
//   announcing node loses its endpoints the choice moves to another one.
import { createHash } from 'node:crypto';
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

const serviceNameLabel = 'kubernetes.io/service-name';

function readyNodes(nodes: readonly Node[]): string[] {
  return nodes
    .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !n.spec?.unschedulable)
    .map((n) => n.metadata?.name ?? '')
    .filter(Boolean)
    .sort();
}

/** MetalLB's epslices.EndpointCanServe: ready (unset counts as ready), or serving (a terminating endpoint kube-proxy still falls back to). */
function canServe(ep: EndpointSlice['endpoints'][number]): boolean {
  const c = ep.conditions ?? {};
  return c.ready === undefined || c.ready === null || c.ready === true || c.serving === true;
}

/** Nodes with at least one endpoint of the service that can serve. */
export function nodesWithEndpoints(svc: Service, slices: readonly EndpointSlice[]): Set<string> {
  const out = new Set<string>();
  for (const sl of slices) {
    if (sl.metadata?.namespace !== svc.metadata?.namespace || sl.metadata?.labels?.[serviceNameLabel] !== svc.metadata?.name) continue;
    for (const ep of sl.endpoints ?? []) {
      if (ep.nodeName && canServe(ep)) out.add(ep.nodeName);
    }
  }
  return out;
}

/** MetalLB's order of eligible nodes for one IP: by sha256(node + "#" + ip). */
function firstByHash(nodes: readonly string[], ip: string): string | undefined {
  let best: { node: string; h: string } | undefined;
  for (const node of nodes) {
    const h = createHash('sha256').update(`${node}#${ip}`).digest('hex');
    if (!best || h < best.h) best = { node, h };
  }
  return best?.node;
}

/**
 * Pure: which node announces which LoadBalancer IP.
 *
 * `endpointSlices` are needed for Local-policy services; when the caller
 * passes none (undefined), those are placed as Cluster ones are.
 */
export function announcements(
  services: readonly Service[], nodes: readonly Node[], lanContains: (ip: string) => boolean,
  endpointSlices?: readonly EndpointSlice[],
): Map<string, string> {
  const ready = readyNodes(nodes);
  const out = new Map<string, string>();
  if (!ready.length) return out;
  /** Services holding each IP (several when they share it). */
  const holders = new Map<string, Service[]>();
  for (const s of services) {
    if (s.spec?.type !== 'LoadBalancer') continue;
    for (const ing of s.status?.loadBalancer?.ingress ?? []) {
      if (ing.ip && !ing.ip.includes(':') && lanContains(ing.ip) && (ing.ipMode ?? 'VIP') === 'VIP') {
        const l = holders.get(ing.ip) ?? [];
        l.push(s);
        holders.set(ing.ip, l);
      }
    }
  }
  for (const ip of [...holders.keys()].sort()) {
    const local = endpointSlices ? holders.get(ip)!.filter((s) => s.spec?.externalTrafficPolicy === 'Local') : [];
    if (local.length) {
      // Services sharing an address select the same pods (the allocator's rule for Local); a node must serve them all.
      const eligible = ready.filter((n) => local.every((s) => nodesWithEndpoints(s, endpointSlices!).has(n)));
      const node = firstByHash(eligible, ip);
      if (node) out.set(ip, node);
      continue;
    }
    // Cluster policy: spread over the ready nodes by a stable hash of the IP.
    const h = ip.split('.').reduce((a, o) => (a * 31 + Number(o)) >>> 0, 7);
    out.set(ip, ready[h % ready.length]!);
  }
  return out;
}

/** What to change on each node: addresses to add and to remove. */
export function announcementDiff(want: Map<string, string>, have: Map<string, Set<string>>): { node: string; add: string[]; del: string[] }[] {
  const nodes = new Set<string>([...have.keys(), ...want.values()]);
  const plan: { node: string; add: string[]; del: string[] }[] = [];
  for (const node of [...nodes].sort()) {
    const wanted = new Set([...want].filter(([, n]) => n === node).map(([ip]) => ip));
    const current = have.get(node) ?? new Set<string>();
    const add = [...wanted].filter((ip) => !current.has(ip)).sort();
    const del = [...current].filter((ip) => !wanted.has(ip)).sort();
    if (add.length || del.length) plan.push({ node, add, del });
  }
  return plan;
}

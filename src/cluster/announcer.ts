// LoadBalancer reachability on the LAN, L2-style (as MetalLB's speaker): one
// announcing node per LoadBalancer IP holds the address on its LAN leg, so
// the outside world's ARP for it is answered there and the node's proxy
// rules take the packet on to an endpoint. The announcer is the first Ready
// node by name; when it goes NotReady another one takes over.
import type { Node, Service } from 'kubernetes-types/core/v1.js';

/** Pure: which node announces which LoadBalancer IP. */
export function announcements(services: readonly Service[], nodes: readonly Node[], lanContains: (ip: string) => boolean): Map<string, string> {
  const ready = nodes
    .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !n.spec?.unschedulable)
    .map((n) => n.metadata?.name ?? '')
    .filter(Boolean)
    .sort();
  const out = new Map<string, string>();
  if (!ready.length) return out;
  const ips = new Set<string>();
  for (const s of services) {
    if (s.spec?.type !== 'LoadBalancer') continue;
    for (const ing of s.status?.loadBalancer?.ingress ?? []) {
      if (ing.ip && !ing.ip.includes(':') && lanContains(ing.ip) && (ing.ipMode ?? 'VIP') === 'VIP') ips.add(ing.ip);
    }
  }
  // Spread announcements over the ready nodes by a stable hash of the IP.
  for (const ip of [...ips].sort()) {
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

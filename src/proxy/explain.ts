// `svcnet trace`'s core: which endpoint gets the traffic for a Service, by
// rendering the rules a node's proxy programs for the current Services and
// EndpointSlices, then tracing packets through those rules. In userspace mode there
// are no rules: the answer comes from the proxy's listener table instead
// (src/proxy/userspace/explain.ts). Pure.
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { buildSnapshot } from './snapshot.js';
import { renderIptables, formatIptablesRuleset } from './iptables/render.js';
import { renderNftables } from './nftables/render.js';
import { traceIptables, traceNftables, type TraceOrigin, type TraceResult } from './trace.js';
import { traceUserspace, userspaceListeners } from './userspace/explain.js';
import type { ListenerKind } from './userspace/proxier.js';

/** The data planes a node's proxy can run: kernel rules, or the userspace relay (no rules). */
export type ExplainMode = 'nftables' | 'iptables' | 'userspace';

export interface ExplainInput {
  services: Service[];
  slices: EndpointSlice[];
  nodes: Node[];
  namespace: string;
  service: string;
  /** Node whose rules are traced (default: the first node by name). */
  node?: string;
  from: TraceOrigin;
  /** Service port number or name; default: every port. */
  port?: string;
  mode: ExplainMode;
  /** Pod CIDR of the cluster (masquerade decisions). */
  clusterCIDR?: string;
  /** Source address for the packet (default depends on `from`). */
  src?: string;
}

export interface ExplainedPath {
  /** What was addressed: "ClusterIP 10.96.0.12:80", "NodePort 172.30.0.11:31234", "LoadBalancer 192.0.2.10:80". */
  target: string;
  trace: TraceResult;
}

export interface Explanation {
  node: string;
  nodeIPs: string[];
  mode: ExplainMode;
  paths: ExplainedPath[];
}

export class ExplainError extends Error {
  constructor(message: string) { super(message); this.name = 'ExplainError'; }
}

function nodeIPsOf(n: Node | undefined): string[] {
  const ips = (n?.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address);
  return ips.length ? ips : ['192.0.2.1'];
}

export function explainService(i: ExplainInput): Explanation {
  const svc = i.services.find((s) => s.metadata?.namespace === i.namespace && s.metadata?.name === i.service);
  if (!svc) throw new ExplainError(`services "${i.service}" not found in namespace "${i.namespace}"`);
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') throw new ExplainError(`service "${i.service}" is ExternalName (${spec.externalName}): DNS answers a CNAME, no proxy rules are involved`);
  if (spec.clusterIP === 'None') throw new ExplainError(`service "${i.service}" is headless: clients connect to pod IPs from DNS directly, no proxy rules are involved`);
  const nodes = [...i.nodes].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const node = i.node ? nodes.find((n) => n.metadata?.name === i.node) : nodes[0];
  if (i.node && !node) throw new ExplainError(`nodes "${i.node}" not found`);
  const nodeName = node?.metadata?.name ?? 'node';
  const nodeIPs = nodeIPsOf(node).filter((ip) => !ip.includes(':'));
  const snapshot = buildSnapshot({ services: i.services, slices: i.slices, nodeName, nodeIPs, nodeLabels: node?.metadata?.labels as Record<string, string> | undefined });
  const opts = { family: 'IPv4' as const, detectLocal: i.clusterCIDR ? { mode: 'ClusterCIDR' as const, cidrs: [i.clusterCIDR] } : undefined, serviceCIDRs: undefined };
  // Userspace: no rules, the proxy's listener table (NodePorts on the node's addresses, as `svcnet up` binds them).
  const listeners = i.mode === 'userspace' ? userspaceListeners(snapshot, nodeIPs) : [];
  const rules = i.mode === 'userspace' ? ''
    : i.mode === 'iptables' ? formatIptablesRuleset(renderIptables(snapshot, opts))
    : renderNftables(snapshot, opts).script;
  const trace = (dst: string, port: number, proto: string, kind: ListenerKind, servicePort: number): TraceResult => {
    const src = i.src ?? (i.from === 'pod' ? (i.clusterCIDR ? i.clusterCIDR.replace(/\.0\/\d+$/, '.77') : '10.244.0.77') : i.from === 'external' ? '198.51.100.7' : undefined);
    const pkt = { src, dst, port, proto: proto as 'TCP' | 'UDP' | 'SCTP', from: i.from };
    if (i.mode === 'userspace') {
      return traceUserspace(listeners, snapshot, {
        namespace: i.namespace, service: i.service, servicePort, kind,
        packet: { ...pkt, src: src ?? nodeIPs[0]! },
      });
    }
    return i.mode === 'iptables' ? traceIptables(rules, pkt, { localAddresses: nodeIPs }) : traceNftables(rules, pkt, { localAddresses: nodeIPs });
  };
  const ports = (spec.ports ?? []).filter((p) => !i.port || String(p.port) === i.port || p.name === i.port);
  if (!ports.length) throw new ExplainError(`service "${i.service}" has no port ${i.port ?? ''}`.trim());
  const paths: ExplainedPath[] = [];
  for (const p of ports) {
    const proto = p.protocol ?? 'TCP';
    if (i.from !== 'external') {
      for (const ip of (spec.clusterIPs ?? [spec.clusterIP]).filter((x): x is string => !!x && !x.includes(':'))) {
        paths.push({ target: `ClusterIP ${ip}:${p.port}/${proto}`, trace: trace(ip, p.port, proto, 'clusterIP', p.port) });
      }
    }
    if (p.nodePort) paths.push({ target: `NodePort ${nodeIPs[0]}:${p.nodePort}/${proto}`, trace: trace(nodeIPs[0]!, p.nodePort, proto, 'nodePort', p.port) });
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
      if (ing.ip && !ing.ip.includes(':')) paths.push({ target: `LoadBalancer ${ing.ip}:${p.port}/${proto}`, trace: trace(ing.ip, p.port, proto, 'loadBalancerIP', p.port) });
    }
    for (const ip of spec.externalIPs ?? []) {
      if (!ip.includes(':')) paths.push({ target: `externalIP ${ip}:${p.port}/${proto}`, trace: trace(ip, p.port, proto, 'externalIP', p.port) });
    }
  }
  return { node: nodeName, nodeIPs, mode: i.mode, paths };
}

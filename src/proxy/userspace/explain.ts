// `svcnet trace` for the userspace data plane. There are no netfilter rules to walk:
// the node's proxy binds the service addresses itself and relays each connection over a
// new connection of its own, from the node to an endpoint. So the trace reads the
// proxier's own listener table (`desiredListeners`, the pure function the proxy applies)
// and says, per address: a listener with N endpoints — one branch per endpoint, 1/N each
// (round-robin), the endpoint sees the node's address (masquerade, in the kernel modes'
// words); no listener — the kernel refuses the connection (TCP RST / ICMP port
// unreachable: REJECT). Pure: a snapshot and a packet in, a TraceResult out, the same
// shape the nftables and iptables tracers answer, so formatTrace, `-o json` and the
// web page read it unchanged.
import { ipFamilyOf } from '../../api/validation/ip.js';
import type { ProxySnapshot, ServicePortSnapshot } from '../snapshot.js';
import type { TraceOrigin, TraceResult, TraceStep } from '../trace.js';
import { desiredListeners, type DesiredListener, type ListenerKind } from './proxier.js';

/** The proxy's chains, as the trace names them (there are no kernel chains). */
export const listenerChain = 'userspace listener';
export const relayChain = 'userspace relay';

export interface UserspaceTraceTarget {
  /** The service the address belongs to. */
  namespace: string;
  service: string;
  /** Service port number (spec.ports[].port) and protocol: which ServicePort is addressed. */
  servicePort: number;
  kind: ListenerKind;
  packet: { src: string; dst: string; port: number; proto: 'TCP' | 'UDP' | 'SCTP'; from: TraceOrigin };
}

/** The listener table of a node's proxy: what `UserspaceProxy.apply(snapshot)` binds. */
export function userspaceListeners(snapshot: ProxySnapshot, nodePortAddresses: readonly string[]): DesiredListener[] {
  return desiredListeners(snapshot, nodePortAddresses);
}

const kindName: Record<ListenerKind, string> = { clusterIP: 'ClusterIP', nodePort: 'NodePort', externalIP: 'externalIP', loadBalancerIP: 'LoadBalancer IP' };

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Why nothing listens on the address: the service port's endpoints as this node's proxy sees them. */
function whyNoListener(sp: ServicePortSnapshot | undefined, t: UserspaceTraceTarget, node: string, addr: string): string[] {
  const refused = t.packet.proto === 'UDP'
    ? 'the kernel answers ICMP port unreachable: connection refused'
    : 'the kernel answers TCP RST: connection refused';
  if (!sp) return [`no service port serves ${addr}: nothing listens there, ${refused}`];
  if (sp.protocol === 'SCTP') return [`the userspace proxy does not relay SCTP: nothing listens on ${addr}, ${refused}`];
  const fam = sp.families.find((f) => f.family === ipFamilyOf(t.packet.dst));
  if (!fam || !fam.hasEndpoints) {
    return [`service port ${sp.name} has no ready endpoint: ${node}'s proxy does not listen on ${addr}, ${refused}, the answer kube-proxy's REJECT rule gives too`];
  }
  const internal = t.kind === 'clusterIP';
  const local = internal ? fam.internalPolicyLocal : fam.externalPolicyLocal;
  if (local && fam.localEndpoints.length === 0) {
    const policy = internal ? 'internalTrafficPolicy' : 'externalTrafficPolicy';
    return [`${policy} is Local and ${node} has no ready endpoint of its own: its proxy does not listen on ${addr}, ${refused} (the nftables and iptables modes DROP the packet instead, and the client times out)`];
  }
  return [`${node}'s proxy has no usable endpoint for ${addr}: nothing listens there, ${refused}`];
}

/** The connection to one service address, as a node's userspace proxy handles it. */
export function traceUserspace(listeners: readonly DesiredListener[], snapshot: ProxySnapshot, t: UserspaceTraceTarget): TraceResult {
  const p = t.packet;
  const addr = `${hostPort(p.dst, p.port)}/${p.proto}`;
  const node = snapshot.nodeName;
  const sp = snapshot.servicePorts.find((s) => s.namespace === t.namespace && s.service === t.service && s.port === t.servicePort && s.protocol === p.proto);
  const notes: string[] = [];
  const l = p.proto === 'SCTP' ? undefined : listeners.find((x) => x.key === `${p.proto}|${p.dst}|${p.port}`);
  const base = { backend: 'userspace' as const, packet: { ...p }, chainPath: [] as string[] };
  if (!l) {
    const why = whyNoListener(sp, t, node, addr);
    const steps: TraceStep[] = [{ chain: listenerChain, rule: `no listener on ${addr}` }];
    return {
      ...base, verdict: 'REJECT', endpoints: [], masquerade: false, chainPath: [listenerChain],
      branches: [{ probability: 1, verdict: 'REJECT', masquerade: false, chainPath: [listenerChain], steps }],
      notes: [...why, `userspace data plane: no netfilter rules; ${node}'s proxy listens on a service address only while it has endpoints to relay it to`],
    };
  }
  if (sp && l.servicePortId !== sp.id) notes.push(`${addr} is also claimed by ${l.servicePort}, which bound it first: connections go to its endpoints`);
  const n = l.endpoints.length;
  const accept: TraceStep = { chain: listenerChain, rule: `accept on ${addr} (${kindName[l.kind]} of ${l.servicePort}): round-robin over ${n} endpoint${n === 1 ? '' : 's'}` };
  const branches = l.endpoints.map((e) => ({
    probability: 1 / n,
    verdict: 'DNAT' as const,
    endpoint: { ip: e.ip, port: e.port },
    masquerade: true,
    chainPath: [listenerChain, relayChain],
    steps: [accept, { chain: relayChain, rule: `listen ${addr} → connect ${hostPort(e.ip, e.port)} from the node` }],
  }));
  notes.push(`round-robin: each new connection goes to the next endpoint in turn (the shares are over many connections)${p.proto === 'TCP' ? '; an endpoint that refuses or does not answer within the connect timeout is skipped for the next' : ''}`);
  if (l.affinity.clientIP) {
    notes.push(`sessionAffinity ClientIP: a client's connections stay with the endpoint it was first given until it has been idle ${l.affinity.timeoutMs / 1000}s`);
  }
  const policyLocal = sp && (t.kind === 'clusterIP' ? sp.internalTrafficPolicy === 'Local' : sp.externalTrafficPolicy === 'Local');
  if (policyLocal) {
    notes.push(`${t.kind === 'clusterIP' ? 'internalTrafficPolicy' : 'externalTrafficPolicy'} is Local: only ${node}'s own endpoints are used${t.kind === 'clusterIP' ? '' : ', but unlike the kernel modes the client address is not kept (the relay connects from the node)'}`);
  }
  return {
    ...base, verdict: 'DNAT',
    endpoints: branches.map((b) => ({ ip: b.endpoint.ip, port: b.endpoint.port, probability: b.probability, masquerade: true })),
    masquerade: n > 0, chainPath: [listenerChain, relayChain], branches,
    notes: [...notes, ...userspaceNotes(t, node)],
  };
}

function userspaceNotes(t: UserspaceTraceTarget, node: string): string[] {
  const out = [`userspace data plane: no netfilter rules; ${node}'s proxy binds the service address itself and relays each connection over a new connection from the node, so the endpoint sees the node's address, not the client's`];
  if (t.kind === 'loadBalancerIP' || t.kind === 'externalIP') {
    out.push(`the proxy binds this ${kindName[t.kind]} itself: that works only where the address is local to ${node} (otherwise the bind fails with EADDRNOTAVAIL)`);
  }
  return out;
}

// The page's "path a packet takes", as JSON: the node proxy's own trace
// (src/proxy/explain.ts, what `svcnet trace` prints) joined with the objects a
// reader knows — which pod an endpoint is, on which node, whether the client IP
// survives. Pure: API objects and a query in, a TraceView out. The tracer itself
// is injected (`explain`): ui/ may not import proxy/ (DESIGN.md's layering), so
// the composition layer hands it over, and there is a single tracer.
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { ExplainInput, ExplainMode, Explanation } from '../proxy/explain.js';
import type { TraceVerdict } from '../proxy/trace.js';

// The tracer's own types, imported as types only: erased at compile time, so the
// page's code never loads proxy/ (test/layering.test.ts allows ui → proxy for
// `import type` and nothing else), and there is one definition of a trace.
export type Verdict = TraceVerdict;
export type TraceMode = ExplainMode;
const modes: readonly string[] = ['nftables', 'iptables', 'userspace'] satisfies TraceMode[];
export type ExplainRequest = ExplainInput;
export type ExplainAnswer = Explanation;

export type Explain = (r: ExplainRequest) => ExplainAnswer;

export interface TraceObjects {
  services: Service[];
  slices: EndpointSlice[];
  nodes: Node[];
  pods: Pod[];
}

export interface TraceQuery {
  namespace: string;
  service: string;
  /** Service port number or name; every port when absent. */
  port?: string;
  /** `client`, `node`, `node/NAME`, `pod`, `pod/NAMESPACE/NAME`. */
  from: string;
  /** For a packet from the client: the node it enters by (default: the first node). */
  via?: string;
  mode: TraceMode;
  clusterCIDR: string;
}

export interface EndpointView {
  ip: string;
  port: number;
  probability: number;
  masquerade: boolean;
  /** The pod behind the address (EndpointSlice targetRef, else the pod with that IP). */
  pod?: { namespace: string; name: string };
  /** The node hosting it: how the packet leaves the proxy's node (itself, or over the LAN). */
  node?: string;
  nodeIP?: string;
  sameNode: boolean;
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
}

export interface PathView {
  /** "ClusterIP 10.96.0.12:80/TCP" (as `svcnet trace` prints it). */
  target: string;
  kind: string;
  address: string;
  port: number;
  protocol: string;
  verdict: Verdict;
  masquerade: boolean;
  /** One sentence a learner can read. */
  summary: string;
  endpoints: EndpointView[];
  branches: ExplainAnswer['paths'][number]['trace']['branches'];
  notes: string[];
}

export interface TraceView {
  kind: 'ServiceTrace';
  service: {
    namespace: string; name: string; type: string; clusterIPs: string[];
    externalTrafficPolicy?: string; internalTrafficPolicy?: string; sessionAffinity?: string;
    selector?: Record<string, string>;
  };
  source: { kind: 'client' | 'node' | 'pod'; name?: string; namespace?: string; ip: string; node?: string };
  /** The node whose proxy rules the packet meets first. */
  node: { name: string; ips: string[] };
  mode: TraceMode;
  paths: PathView[];
}

/** A failure the HTTP layer turns into a Kubernetes Status. */
export class UiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: { name: string; kind: string }) {
    super(message);
    this.name = 'UiError';
  }
}

/** apimachinery's NotFound message: `services "web" not found`. */
function notFound(kind: string, name: string): UiError {
  return new UiError(404, 'NotFound', `${kind} "${name}" not found`, { name, kind });
}

const name = (o: { metadata?: { name?: string } }) => o.metadata?.name ?? '';
const internalIP = (n: Node | undefined) => n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;

function summary(p: { verdict: Verdict; masquerade: boolean; endpoints: EndpointView[] }, kind: string, svc: Service, node: string, mode: TraceMode): string {
  const external = kind !== 'ClusterIP';
  if (mode === 'userspace') return userspaceSummary(p, external, svc, node);
  switch (p.verdict) {
    case 'DNAT': {
      const n = p.endpoints.length;
      const where = p.endpoints.every((e) => e.sameNode) ? `on ${node}` : p.endpoints.some((e) => e.sameNode) ? `on ${node} and other nodes` : 'on other nodes';
      const masq = p.masquerade
        ? `source NATed to ${node}'s address on the way (masquerade): the pod sees the node, not the client`
        : 'the pod sees the original client address';
      return `DNAT to ${n} endpoint${n === 1 ? '' : 's'} ${where}; ${masq}.`;
    }
    case 'REJECT':
      // kube-proxy's "has no endpoints" rule: ICMP port unreachable, the client sees "connection refused".
      return `REJECT: the service has no ready endpoint for this port; ${node} answers ICMP port unreachable (the client sees "connection refused").`;
    case 'DROP': {
      const policy = external ? svc.spec?.externalTrafficPolicy : svc.spec?.internalTrafficPolicy;
      if (policy === 'Local') {
        return `DROP: ${external ? 'externalTrafficPolicy' : 'internalTrafficPolicy'} is Local and ${node} has no ready endpoint of its own; the packet is dropped (the client times out).`;
      }
      return 'DROP: the packet is dropped (the client times out).';
    }
    default:
      return 'No service rule matched: the packet goes on unchanged.';
  }
}

/** The userspace data plane: no rules, the node's proxy listens on the address and relays from the node. */
function userspaceSummary(p: { verdict: Verdict; endpoints: EndpointView[] }, external: boolean, svc: Service, node: string): string {
  if (p.verdict === 'DNAT') {
    const n = p.endpoints.length;
    const where = p.endpoints.every((e) => e.sameNode) ? `on ${node}` : p.endpoints.some((e) => e.sameNode) ? `on ${node} and other nodes` : 'on other nodes';
    return `Relayed by ${node}'s userspace proxy, round-robin over ${n} endpoint${n === 1 ? '' : 's'} ${where}: it opens a new connection from ${node}, so the pod sees the node, not the client.`;
  }
  const policy = external ? svc.spec?.externalTrafficPolicy : svc.spec?.internalTrafficPolicy;
  if (policy === 'Local' && p.verdict === 'REJECT') {
    return `REJECT: ${external ? 'externalTrafficPolicy' : 'internalTrafficPolicy'} is Local and ${node} has no ready endpoint of its own, so its userspace proxy does not listen on this address: the connection is refused (the nftables and iptables modes drop it instead).`;
  }
  if (p.verdict === 'REJECT') return `REJECT: ${node}'s userspace proxy does not listen on this address (no ready endpoint): the connection is refused.`;
  return `${p.verdict}: no listener relays this address.`;
}

/** Where the packet starts: which node's rules it meets, and from which address. */
function resolveSource(o: TraceObjects, q: TraceQuery, nodes: Node[]): { source: TraceView['source']; node?: string; from: ExplainRequest['from']; src?: string } {
  const [kind, ...rest] = q.from.split('/');
  if (kind === 'client') {
    if (rest.length) throw new UiError(400, 'BadRequest', `from=client takes no name: "${q.from}"`);
    if (q.via && !nodes.some((n) => name(n) === q.via)) throw notFound('nodes', q.via);
    return { source: { kind: 'client', ip: '198.51.100.7' }, node: q.via, from: 'external', src: '198.51.100.7' };
  }
  if (kind === 'node') {
    if (rest.length > 1) throw new UiError(400, 'BadRequest', `from=node/NAME, not "${q.from}"`);
    const n = rest.length ? nodes.find((x) => name(x) === rest[0]) : nodes[0];
    if (rest.length && !n) throw notFound('nodes', rest[0]!);
    return { source: { kind: 'node', name: n ? name(n) : undefined, ip: internalIP(n) ?? '', node: n ? name(n) : undefined }, node: n ? name(n) : undefined, from: 'node' };
  }
  if (kind === 'pod') {
    if (!rest.length) {
      // A pod on the first node, as `svcnet trace --from pod` assumes.
      const ip = q.clusterCIDR.replace(/\.0\/\d+$/, '.77');
      return { source: { kind: 'pod', ip, node: nodes[0] ? name(nodes[0]) : undefined }, node: undefined, from: 'pod', src: ip };
    }
    if (rest.length !== 2) throw new UiError(400, 'BadRequest', `from=pod/NAMESPACE/NAME, not "${q.from}"`);
    const [ns, pn] = rest as [string, string];
    const pod = o.pods.find((p) => p.metadata?.namespace === ns && name(p) === pn);
    if (!pod) throw notFound('pods', pn);
    const ip = pod.status?.podIP;
    const node = pod.spec?.nodeName;
    if (!ip || !node) throw new UiError(400, 'BadRequest', `pod "${pn}" has no IP yet (not running on a node): it cannot send packets`);
    if (!nodes.some((n) => name(n) === node)) throw notFound('nodes', node);
    // A hostNetwork pod sends from its node's address and meets the node's output hook, not prerouting.
    if (pod.spec?.hostNetwork) return { source: { kind: 'pod', namespace: ns, name: pn, ip, node }, node, from: 'node' };
    return { source: { kind: 'pod', namespace: ns, name: pn, ip, node }, node, from: 'pod', src: ip };
  }
  throw new UiError(400, 'BadRequest', `from must be client, node, node/NAME, pod or pod/NAMESPACE/NAME, not "${q.from}"`);
}

export function traceView(o: TraceObjects, q: TraceQuery, explain: Explain): TraceView {
  const svc = o.services.find((s) => s.metadata?.namespace === q.namespace && name(s) === q.service);
  if (!svc) throw notFound('services', q.service);
  const spec = svc.spec ?? {};
  if (q.port && !(spec.ports ?? []).some((p) => String(p.port) === q.port || p.name === q.port)) {
    throw new UiError(404, 'NotFound', `service "${q.service}" has no port ${q.port}`);
  }
  const nodes = [...o.nodes].sort((a, b) => name(a).localeCompare(name(b)));
  const s = resolveSource(o, q, nodes);
  let e: ExplainAnswer;
  try {
    e = explain({
      services: o.services, slices: o.slices, nodes: o.nodes, namespace: q.namespace, service: q.service,
      node: s.node, from: s.from, port: q.port, mode: q.mode, clusterCIDR: q.clusterCIDR, src: s.src,
    });
  } catch (err) {
    // Headless and ExternalName services: no proxy rules, and the tracer says why.
    if (err instanceof Error && err.name === 'ExplainError') throw new UiError(400, 'BadRequest', err.message);
    throw err;
  }
  const source = { ...s.source };
  if (source.kind === 'node' && !source.ip) source.ip = e.paths[0]?.trace.packet.src ?? '';
  if (source.kind === 'client') source.node = undefined;

  const nodeIPs = new Map(nodes.map((n) => [name(n), internalIP(n)]));
  // Endpoint address → where it lives, from the service's own slices first.
  const slices = o.slices.filter((sl) => sl.metadata?.namespace === q.namespace && sl.metadata?.labels?.['kubernetes.io/service-name'] === q.service);
  const byIP = new Map<string, { pod?: { namespace: string; name: string }; node?: string; conditions?: EndpointView['conditions'] }>();
  for (const sl of slices) {
    for (const ep of sl.endpoints ?? []) {
      const ref = ep.targetRef?.kind === 'Pod' && ep.targetRef.name ? { namespace: ep.targetRef.namespace ?? q.namespace, name: ep.targetRef.name } : undefined;
      for (const a of ep.addresses ?? []) {
        if (!byIP.has(a)) byIP.set(a, { pod: ref, node: ep.nodeName, conditions: { ...ep.conditions } });
      }
    }
  }
  const podsByIP = new Map<string, Pod>();
  for (const p of o.pods) if (p.status?.podIP && !p.spec?.hostNetwork) podsByIP.set(p.status.podIP, p);

  const paths: PathView[] = e.paths.map((p) => {
    const [kind = '', addr = ''] = p.target.split(' ');
    const m = /^(.*):(\d+)\/(\w+)$/.exec(addr);
    const endpoints: EndpointView[] = p.trace.endpoints.map((ep) => {
      const known = byIP.get(ep.ip);
      const pod = podsByIP.get(ep.ip);
      const podRef = known?.pod ?? (pod ? { namespace: pod.metadata?.namespace ?? '', name: name(pod) } : undefined);
      const node = known?.node ?? pod?.spec?.nodeName;
      return {
        ip: ep.ip, port: ep.port, probability: ep.probability, masquerade: ep.masquerade,
        ...(podRef ? { pod: podRef } : {}),
        ...(node ? { node, ...(nodeIPs.get(node) ? { nodeIP: nodeIPs.get(node) } : {}) } : {}),
        sameNode: node === e.node,
        ...(known?.conditions ? { conditions: known.conditions } : {}),
      };
    });
    const view = { verdict: p.trace.verdict, masquerade: p.trace.masquerade, endpoints };
    return {
      target: p.target, kind, address: m?.[1] ?? addr, port: Number(m?.[2] ?? 0), protocol: m?.[3] ?? 'TCP',
      verdict: view.verdict, masquerade: view.masquerade, summary: summary(view, kind, svc, e.node, e.mode),
      endpoints, branches: p.trace.branches, notes: p.trace.notes,
    };
  });

  return {
    kind: 'ServiceTrace',
    service: {
      namespace: q.namespace, name: q.service, type: spec.type ?? 'ClusterIP',
      clusterIPs: spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []),
      ...(spec.externalTrafficPolicy ? { externalTrafficPolicy: spec.externalTrafficPolicy } : {}),
      ...(spec.internalTrafficPolicy ? { internalTrafficPolicy: spec.internalTrafficPolicy } : {}),
      ...(spec.sessionAffinity ? { sessionAffinity: spec.sessionAffinity } : {}),
      ...(spec.selector ? { selector: spec.selector } : {}),
    },
    source,
    node: { name: e.node, ips: e.nodeIPs },
    mode: e.mode,
    paths,
  };
}

/** What the cluster runs, for a query that does not say: its proxies' rules and its pod CIDR. */
export interface TraceDefaults {
  mode?: TraceMode;
  clusterCIDR?: string;
}

/** Parses and checks the query string of `/ui/api/trace`. */
export function parseTraceQuery(q: URLSearchParams, d: TraceDefaults = {}): TraceQuery {
  const service = q.get('service') ?? '';
  if (!service) throw new UiError(400, 'BadRequest', 'the query parameter "service" is required');
  const mode = q.get('mode') || d.mode || 'nftables';
  if (!modes.includes(mode)) throw new UiError(400, 'BadRequest', `mode must be nftables or iptables, or userspace, not "${mode}"`);
  const clusterCIDR = q.get('clusterCIDR') || d.clusterCIDR || '10.244.0.0/16';
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(clusterCIDR)) throw new UiError(400, 'BadRequest', `clusterCIDR must be an IPv4 CIDR, not "${clusterCIDR}"`);
  return {
    namespace: q.get('namespace') || 'default', service,
    ...(q.get('port') ? { port: q.get('port')! } : {}),
    from: q.get('from') || 'client',
    ...(q.get('via') ? { via: q.get('via')! } : {}),
    mode: mode as TraceMode, clusterCIDR,
  };
}


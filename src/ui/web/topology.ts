// The page's model, without the DOM (runs in the browser, tested under node):
// a cache per resource fed by list + watch events, and the topology view the
// page draws from it — nodes with their pods, Services with their endpoints.
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

export interface KObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; deletionTimestamp?: string; labels?: Record<string, string> };
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KObject & { code?: number; message?: string };
}

/** One resource's objects by namespace/name, and the resourceVersion to watch from. */
export class Cache<T extends KObject> {
  readonly objects = new Map<string, T>();
  resourceVersion = '';

  static key(o: KObject): string {
    return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  }

  /** A list's answer replaces everything (a relist after 410 forgets objects deleted meanwhile). */
  replace(items: T[], resourceVersion: string): void {
    this.objects.clear();
    for (const o of items) this.objects.set(Cache.key(o), o);
    this.resourceVersion = resourceVersion;
  }

  /**
   * Applies one watch event. `relist` when the server says our resourceVersion is
   * too old (410 Gone, "Expired"), as client-go's reflector does; other ERRORs throw.
   */
  apply(ev: WatchEvent): 'changed' | 'bookmark' | 'relist' {
    if (ev.type === 'ERROR') {
      if (ev.object.code === 410) return 'relist';
      throw new Error(ev.object.message ?? 'watch error');
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (ev.type === 'BOOKMARK') return 'bookmark';
    const k = Cache.key(ev.object);
    if (ev.type === 'DELETED') this.objects.delete(k);
    else this.objects.set(k, ev.object as T);
    return 'changed';
  }

  items(): T[] {
    return [...this.objects.values()];
  }
}

/** Splits a watch stream (one JSON event per line) into lines, across chunk boundaries. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop()!;
    return parts.filter((l) => l.trim() !== '');
  }
}

export interface PodView {
  namespace: string;
  name: string;
  ip?: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
  hostNetwork: boolean;
}

export interface NodeView {
  name: string;
  internalIP?: string;
  podCIDR?: string;
  ready: boolean;
  unschedulable: boolean;
  pods: PodView[];
}

export interface ServicePortView {
  name?: string;
  port: number;
  protocol: string;
  targetPort?: string;
  nodePort?: number;
}

export interface EndpointView {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  pod?: string;
  node?: string;
}

export interface ServiceView {
  namespace: string;
  name: string;
  type: string;
  clusterIP: string;
  /** kubectl's EXTERNAL-IP column: ingress IPs, `<pending>` for a LoadBalancer without one, `<none>`. */
  externalIP: string;
  ports: ServicePortView[];
  /** `app=web,tier=front`, or `<none>`. */
  selector: string;
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  /** Endpoint ports from the slices, as "name 8080/TCP". */
  endpointPorts: string[];
  endpoints: EndpointView[];
}

export interface TopologyView {
  nodes: NodeView[];
  /** Pods no node runs yet (Pending, unscheduled). */
  unscheduled: PodView[];
  services: ServiceView[];
}

const byName = <T extends { namespace?: string; name: string }>(a: T, b: T) =>
  (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name);

function podView(p: Pod): PodView {
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
    phase: p.status?.phase ?? 'Pending',
    ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    terminating: !!p.metadata?.deletionTimestamp,
    hostNetwork: !!p.spec?.hostNetwork,
  };
}

function externalIP(s: Service): string {
  const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
  ips.push(...(s.spec?.externalIPs ?? []));
  if (ips.length) return ips.join(',');
  return s.spec?.type === 'LoadBalancer' ? '<pending>' : s.spec?.type === 'ExternalName' ? s.spec.externalName ?? '<none>' : '<none>';
}

export function topologyView(o: { nodes: Node[]; pods: Pod[]; services: Service[]; slices: EndpointSlice[] }): TopologyView {
  const nodes: NodeView[] = o.nodes.map((n) => ({
    name: n.metadata?.name ?? '',
    ...(n.status?.addresses?.find((a) => a.type === 'InternalIP') ? { internalIP: n.status!.addresses!.find((a) => a.type === 'InternalIP')!.address } : {}),
    ...(n.spec?.podCIDR ? { podCIDR: n.spec.podCIDR } : {}),
    ready: !!n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: !!n.spec?.unschedulable,
    pods: [],
  }));
  nodes.sort(byName);
  const byNode = new Map(nodes.map((n) => [n.name, n]));
  const unscheduled: PodView[] = [];
  for (const p of o.pods) {
    const n = p.spec?.nodeName ? byNode.get(p.spec.nodeName) : undefined;
    (n ? n.pods : unscheduled).push(podView(p));
  }
  for (const n of nodes) n.pods.sort(byName);
  unscheduled.sort(byName);

  const slicesOf = new Map<string, EndpointSlice[]>();
  for (const sl of o.slices) {
    const svc = sl.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const k = `${sl.metadata?.namespace ?? ''}/${svc}`;
    slicesOf.set(k, [...(slicesOf.get(k) ?? []), sl]);
  }
  const services: ServiceView[] = o.services.map((s) => {
    const ns = s.metadata?.namespace ?? '';
    const name = s.metadata?.name ?? '';
    const slices = [...(slicesOf.get(`${ns}/${name}`) ?? [])].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const endpoints: EndpointView[] = [];
    const endpointPorts = new Set<string>();
    for (const sl of slices) {
      for (const p of sl.ports ?? []) endpointPorts.add(`${p.name ? `${p.name} ` : ''}${p.port ?? ''}/${p.protocol ?? 'TCP'}`);
      for (const ep of sl.endpoints ?? []) {
        const c = ep.conditions ?? {};
        for (const ip of ep.addresses ?? []) {
          endpoints.push({
            ip,
            // EndpointSlice semantics: nil ready/serving mean "ready" (KEP-1672).
            ready: c.ready ?? true, serving: c.serving ?? c.ready ?? true, terminating: c.terminating ?? false,
            ...(ep.targetRef?.name ? { pod: ep.targetRef.name } : {}),
            ...(ep.nodeName ? { node: ep.nodeName } : {}),
          });
        }
      }
    }
    const spec = s.spec ?? {};
    const selector = Object.entries(spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).sort().join(',');
    return {
      namespace: ns, name, type: spec.type ?? 'ClusterIP', clusterIP: spec.clusterIP ?? '<none>', externalIP: externalIP(s),
      ports: (spec.ports ?? []).map((p) => ({
        ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol ?? 'TCP',
        ...(p.targetPort !== undefined ? { targetPort: String(p.targetPort) } : {}),
        ...(p.nodePort ? { nodePort: p.nodePort } : {}),
      })),
      selector: selector || '<none>',
      ...(spec.externalTrafficPolicy ? { externalTrafficPolicy: spec.externalTrafficPolicy } : {}),
      ...(spec.internalTrafficPolicy ? { internalTrafficPolicy: spec.internalTrafficPolicy } : {}),
      endpointPorts: [...endpointPorts].sort(),
      endpoints: endpoints.sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true })),
    };
  });
  services.sort(byName);
  return { nodes, unscheduled, services };
}

/** kubectl's PORT(S) column: `80:31234/TCP`. */
export function portsText(ports: ServicePortView[]): string {
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',') || '<none>';
}

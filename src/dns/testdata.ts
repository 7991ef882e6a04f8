// A small cluster for the DNS tests: one of each kind of Service the zone
// treats differently, and a helper that prints records the way `dig` does.
import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { Endpoint, EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { ResourceRecord } from './message.js';
import { typeName } from './message.js';
import type { DnsSnapshot } from './resolver.js';

export function service(namespace: string, name: string, spec: Service['spec']): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec };
}

export function port(name: string, p: number, protocol = 'TCP'): ServicePort {
  return { name, port: p, protocol };
}

export function slice(namespace: string, name: string, svc: string, addressType: 'IPv4' | 'IPv6',
  endpoints: Endpoint[], ports: { name: string; port: number; protocol?: string }[] = []): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType, endpoints,
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

export function ep(ip: string, extra: Partial<Endpoint> & { ready?: boolean } = {}): Endpoint {
  const { ready, ...rest } = extra;
  return { addresses: [ip], conditions: { ready: ready ?? true }, ...rest };
}

export function fixture(): DnsSnapshot {
  return {
    clusterDomain: 'cluster.local',
    namespaces: ['default', 'kube-system', 'empty-ns'],
    serial: 1700000000,
    services: [
      service('kube-system', 'kube-dns', { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'],
        ports: [port('dns', 53, 'UDP'), port('dns-tcp', 53, 'TCP')] }),
      service('default', 'web', { type: 'ClusterIP', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'],
        ports: [port('http', 80), port('dns', 53, 'UDP')] }),
      service('default', 'dual', { type: 'ClusterIP', clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30', 'fd00:10:96::30'],
        ipFamilies: ['IPv4', 'IPv6'], ports: [port('http', 80)] }),
      service('default', 'db', { clusterIP: 'None', clusterIPs: ['None'], ports: [port('pg', 5432)] }),
      service('default', 'empty-headless', { clusterIP: 'None', ports: [port('x', 1)] }),
      service('default', 'pnr', { clusterIP: 'None', publishNotReadyAddresses: true, ports: [port('p', 7)] }),
      service('default', 'raw', { clusterIP: 'None' }),
      service('default', 'ext', { type: 'ExternalName', externalName: 'example.com' }),
      service('default', 'ext-in', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local.' }),
      service('default', 'ext-ip', { type: 'ExternalName', externalName: '1.2.3.4' }),
      service('default', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.0.40', ports: [{ name: 'https', port: 443, protocol: 'TCP', nodePort: 30443 }] }),
    ],
    endpointSlices: [
      slice('default', 'web-abc', 'web', 'IPv4', [
        ep('10.244.1.5', { targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1' } }),
        ep('10.244.2.6'),
        ep('10.244.2.7', { ready: false }),
      ], [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }]),
      slice('default', 'db-v4', 'db', 'IPv4', [
        ep('10.244.1.10', { hostname: 'db-0' }),
        ep('10.244.1.11', { hostname: 'db-1' }),
        ep('10.244.1.12'),
        ep('10.244.1.13', { hostname: 'db-3', ready: false }),
      ], [{ name: 'pg', port: 5432 }]),
      slice('default', 'db-v6', 'db', 'IPv6', [ep('fd00:244::10', { hostname: 'db-0' })], [{ name: 'pg', port: 5432 }]),
      slice('default', 'empty-headless-x', 'empty-headless', 'IPv4', [], [{ name: 'x', port: 1 }]),
      slice('default', 'pnr-x', 'pnr', 'IPv4', [ep('10.244.3.3', { ready: false })], [{ name: 'p', port: 7 }]),
      slice('default', 'raw-x', 'raw', 'IPv4', [ep('10.244.4.4')]),
      slice('kube-system', 'kube-dns-x', 'kube-dns', 'IPv4', [ep('10.244.0.2')],
        [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }]),
    ],
  };
}

/** `owner TTL TYPE rdata`, as dig prints a record (names with their trailing dot). */
export function show(rr: ResourceRecord): string {
  const d = rr.data;
  let data: string;
  switch (d.kind) {
    case 'A': case 'AAAA': data = d.address; break;
    case 'NS': case 'CNAME': case 'PTR': data = `${d.target}.`; break;
    case 'SRV': data = `${d.priority} ${d.weight} ${d.port} ${d.target}.`; break;
    case 'SOA': data = `${d.mname}. ${d.rname}. ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`; break;
    case 'TXT': data = d.strings.map((s) => JSON.stringify(s)).join(' '); break;
    case 'RAW': data = `\\# ${d.data.length}`; break;
  }
  return `${rr.name}. ${rr.ttl} ${typeName(rr.type)} ${data}`;
}

/** A deterministic PRNG (mulberry32), so a failing fuzz case can be replayed. */
export { prng } from '../api/testing/prng.js';

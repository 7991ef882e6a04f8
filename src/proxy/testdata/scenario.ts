// The cluster the renderer goldens and packet-flow tables are written against: two
// nodes (node-a is "us"), pods 10.244.0.0/16 (node-a 10.244.1.0/24, node-b
// 10.244.2.0/24) and fd00:10:244::/56, services 10.96.0.0/16 and fd00:10:96::/112.

import type { Service, ServicePort, LoadBalancerIngress } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice, Endpoint, EndpointPort } from 'kubernetes-types/discovery/v1.js';
import { buildSnapshot, type ProxySnapshot } from '../snapshot.js';

export const nodeName = 'node-a';
export const nodeIPs = ['192.168.0.10', 'fd00:192::10'];
export const otherNodeIP = '192.168.0.11';
export const externalClient = '198.51.100.77';
export const externalClient6 = '2001:db8::77';
export const localPod = '10.244.1.100';
export const localPod6 = 'fd00:10:244:1::100';
export const clusterCIDRs = ['10.244.0.0/16', 'fd00:10:244::/56'];
export const serviceCIDRs = ['10.96.0.0/16', 'fd00:10:96::/112'];

interface SvcOpts {
  ns?: string;
  type?: string;
  clusterIPs: string[] | 'None';
  ports: ServicePort[];
  externalIPs?: string[];
  ingress?: LoadBalancerIngress[];
  etp?: 'Local' | 'Cluster';
  itp?: 'Local' | 'Cluster';
  affinity?: number;
  healthCheckNodePort?: number;
  sourceRanges?: string[];
  externalName?: string;
}

export function service(name: string, o: SvcOpts): Service {
  const ips = o.clusterIPs === 'None' ? ['None'] : o.clusterIPs;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.ns ?? 'default' },
    spec: {
      type: o.type ?? 'ClusterIP',
      ...(o.externalName ? { externalName: o.externalName } : { clusterIP: ips[0], clusterIPs: ips }),
      ports: o.ports,
      ...(o.externalIPs ? { externalIPs: o.externalIPs } : {}),
      ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
      ...(o.itp ? { internalTrafficPolicy: o.itp } : {}),
      ...(o.affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: o.affinity } } } : {}),
      ...(o.healthCheckNodePort ? { healthCheckNodePort: o.healthCheckNodePort } : {}),
      ...(o.sourceRanges ? { loadBalancerSourceRanges: o.sourceRanges } : {}),
    },
    status: { loadBalancer: { ingress: o.ingress ?? [] } },
  };
}

export interface EpOpts {
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function ep(ip: string, o: EpOpts = {}): Endpoint {
  const conditions: Endpoint['conditions'] = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  return { addresses: [ip], conditions, ...(o.node ? { nodeName: o.node } : {}) };
}

export function slice(svc: string, name: string, ports: EndpointPort[], endpoints: Endpoint[], opts: { ns?: string; addressType?: string } = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: opts.ns ?? 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: opts.addressType ?? 'IPv4',
    ports,
    endpoints,
  };
}

const a = { node: 'node-a' };
const b = { node: 'node-b' };

export const services: Service[] = [
  service('web', { clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
  service('multi', {
    clusterIPs: ['10.96.0.11'],
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'metrics', port: 9090, targetPort: 'metrics' },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
    ],
  }),
  service('nodeport', { type: 'NodePort', clusterIPs: ['10.96.0.12'], ports: [{ port: 80, nodePort: 30080, targetPort: 8080 }] }),
  service('lb', {
    type: 'LoadBalancer',
    clusterIPs: ['10.96.0.13'],
    ports: [{ name: 'https', port: 443, nodePort: 30443, targetPort: 8443 }],
    externalIPs: ['198.51.100.5'],
    ingress: [{ ip: '203.0.113.10', ipMode: 'VIP' }, { ip: '203.0.113.11', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }],
    etp: 'Local',
    healthCheckNodePort: 32000,
    sourceRanges: ['198.51.100.0/24'],
  }),
  service('lb-remote', {
    type: 'LoadBalancer',
    clusterIPs: ['10.96.0.14'],
    ports: [{ port: 80, nodePort: 30081, targetPort: 8080 }],
    ingress: [{ ip: '203.0.113.20' }],
    etp: 'Local',
    healthCheckNodePort: 32001,
  }),
  service('sticky', { clusterIPs: ['10.96.0.15'], ports: [{ port: 80, targetPort: 8080 }], affinity: 600 }),
  service('itp-local', { clusterIPs: ['10.96.0.16'], ports: [{ port: 80, targetPort: 8080 }], itp: 'Local' }),
  service('itp-local-remote', { clusterIPs: ['10.96.0.17'], ports: [{ port: 80, targetPort: 8080 }], itp: 'Local' }),
  service('draining', { clusterIPs: ['10.96.0.18'], ports: [{ port: 80, targetPort: 8080 }] }),
  service('empty', { type: 'NodePort', clusterIPs: ['10.96.0.19'], ports: [{ port: 80, nodePort: 30082, targetPort: 8080 }] }),
  service('dual', {
    type: 'NodePort',
    clusterIPs: ['10.96.0.20', 'fd00:10:96::20'],
    ports: [{ name: 'http', port: 80, nodePort: 30090, targetPort: 8080 }],
  }),
  service('headless', { clusterIPs: 'None', ports: [{ port: 80 }] }),
  service('alias', { type: 'ExternalName', clusterIPs: [], externalName: 'example.com', ports: [{ port: 80 }] }),
];

export const slices: EndpointSlice[] = [
  slice('web', 'web-1', [{ name: 'http', port: 8080, protocol: 'TCP' }],
    [ep('10.244.1.5', { ...a, ready: true }), ep('10.244.2.6', b), ep('10.244.2.7', { ...b, ready: true }), ep('10.244.2.8', { ...b, ready: false, serving: false })]),
  // The same endpoint seen twice while it moves between slices: counted once.
  slice('web', 'web-2', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.2.7', { ...b, ready: true })]),
  slice('multi', 'multi-1', [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { name: 'metrics', port: 9100, protocol: 'TCP' },
    { name: 'dns', port: 5353, protocol: 'UDP' },
  ], [ep('10.244.1.20', a), ep('10.244.2.20', b)]),
  slice('nodeport', 'nodeport-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.2.9', b)]),
  slice('lb', 'lb-1', [{ name: 'https', port: 8443, protocol: 'TCP' }], [ep('10.244.1.6', a), ep('10.244.2.10', b)]),
  slice('lb-remote', 'lb-remote-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.2.14', b)]),
  slice('sticky', 'sticky-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.1.8', a), ep('10.244.2.11', b)]),
  slice('itp-local', 'itp-local-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.1.9', a), ep('10.244.2.12', b)]),
  slice('itp-local-remote', 'itp-local-remote-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.2.15', b)]),
  slice('draining', 'draining-1', [{ port: 8080, protocol: 'TCP' }], [
    ep('10.244.2.13', { ...b, ready: false, serving: true, terminating: true }),
    ep('10.244.1.10', { ...a, ready: false, serving: false, terminating: true }),
  ]),
  slice('empty', 'empty-1', [{ port: 8080, protocol: 'TCP' }], []),
  slice('dual', 'dual-v4', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.1.11', a)]),
  slice('dual', 'dual-v6', [{ name: 'http', port: 8080, protocol: 'TCP' }],
    [ep('fd00:10:244:1::11', a), ep('fd00:10:244:2::12', b)], { addressType: 'IPv6' }),
  slice('headless', 'headless-1', [{ port: 80, protocol: 'TCP' }], [ep('10.244.1.30', a)]),
];

export function scenarioSnapshot(): ProxySnapshot {
  return buildSnapshot({ services, slices, nodeName, nodeIPs, nodeLabels: { 'kubernetes.io/hostname': nodeName } });
}

/**
 * The scenario a little later: web lost 10.244.2.7 and gained 10.244.2.16, `empty` was
 * deleted, `fresh` was created, sticky's affinity timeout changed, and lb-remote got
 * an endpoint on this node.
 */
export function changedScenarioSnapshot(): ProxySnapshot {
  const changedServices = services
    .filter((s) => s.metadata?.name !== 'empty')
    .map((s) => (s.metadata?.name === 'sticky'
      ? service('sticky', { clusterIPs: ['10.96.0.15'], ports: [{ port: 80, targetPort: 8080 }], affinity: 900 })
      : s));
  changedServices.push(service('fresh', { clusterIPs: ['10.96.0.21'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  const changedSlices = slices
    .filter((s) => !['web-1', 'web-2', 'empty-1', 'lb-remote-1'].includes(s.metadata?.name ?? ''))
    .concat([
      slice('web', 'web-1', [{ name: 'http', port: 8080, protocol: 'TCP' }],
        [ep('10.244.1.5', a), ep('10.244.2.6', b), ep('10.244.2.16', b)]),
      slice('lb-remote', 'lb-remote-1', [{ port: 8080, protocol: 'TCP' }], [ep('10.244.2.14', b), ep('10.244.1.14', a)]),
      slice('fresh', 'fresh-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.2.17', b)]),
    ]);
  return buildSnapshot({ services: changedServices, slices: changedSlices, nodeName, nodeIPs, nodeLabels: { 'kubernetes.io/hostname': nodeName } });
}

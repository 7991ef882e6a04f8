// A small cluster as API objects, for the page's tests: two nodes on the LAN
// 172.30.0.0/24, pods on each, and one Service per case the page explains —
// DNAT to pods on both nodes (LoadBalancer), externalTrafficPolicy Local with an
// endpoint only on node-2 (DROP when entering by node-1), no endpoints (REJECT),
// headless (no proxy rules).
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';

const ready = [{ type: 'Ready', status: 'True' }];

export function node(name: string, ip: string, podCIDR: string): Node {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: ready },
  };
}

export function pod(name: string, nodeName: string, ip: string, labels: Record<string, string>, isReady = true): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels, uid: `uid-${name}` },
    spec: { nodeName, containers: [{ name: 'c', image: 'nginx' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: isReady ? 'True' : 'False' }] },
  };
}

export function service(name: string, spec: Service['spec'], lbIP?: string): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
    spec: { ipFamilies: ['IPv4'], sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ...spec },
    status: { loadBalancer: lbIP ? { ingress: [{ ip: lbIP, ipMode: 'VIP' }] } : {} },
  };
}

export function slice(svc: string, port: number, eps: { pod: Pod; ready?: boolean }[], portName = ''): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: `${svc}-abcde`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    ports: [{ name: portName, port, protocol: 'TCP' }],
    endpoints: eps.map(({ pod: p, ready: r = true }) => ({
      addresses: [p.status!.podIP!], nodeName: p.spec!.nodeName,
      conditions: { ready: r, serving: r, terminating: false },
      targetRef: { kind: 'Pod', namespace: 'default', name: p.metadata!.name!, uid: p.metadata!.uid! },
    })),
  };
}

export function cluster(): { nodes: Node[]; pods: Pod[]; services: Service[]; slices: EndpointSlice[] } {
  const nodes = [node('node-1', '172.30.0.11', '10.244.1.0/24'), node('node-2', '172.30.0.12', '10.244.2.0/24')];
  const web1 = pod('web-1', 'node-1', '10.244.1.5', { app: 'web' });
  const web2 = pod('web-2', 'node-2', '10.244.2.5', { app: 'web' });
  const web3 = pod('web-3', 'node-2', '10.244.2.6', { app: 'web' });
  const api1 = pod('api-1', 'node-2', '10.244.2.7', { app: 'api' });
  const client = pod('client', 'node-1', '10.244.1.9', { app: 'client' });
  const services = [
    service('web', { type: 'LoadBalancer', selector: { app: 'web' }, clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], externalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31080 }] }, '172.30.0.200'),
    service('api', { type: 'NodePort', selector: { app: 'api' }, clusterIP: '10.96.0.21', clusterIPs: ['10.96.0.21'], externalTrafficPolicy: 'Local', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31081 }] }),
    service('empty', { type: 'ClusterIP', selector: { app: 'nothing' }, clusterIP: '10.96.0.22', clusterIPs: ['10.96.0.22'], ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] }),
    service('headless', { type: 'ClusterIP', selector: { app: 'web' }, clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80, protocol: 'TCP' }] }),
  ];
  const slices = [
    slice('web', 8080, [{ pod: web1 }, { pod: web2 }, { pod: web3 }], 'http'),
    slice('api', 8080, [{ pod: api1 }]),
    { ...slice('empty', 80, []), ports: [] },
  ];
  return { nodes, pods: [web1, web2, web3, api1, client], services, slices };
}

// `svcnet trace --mode userspace`: the path of a connection through a node's userspace
// proxy (listener → relay from the node), from plain API objects through explainService,
// against a golden file a reviewer can read (src/proxy/testdata/userspace-explain.golden,
// formatTrace's text per address; UPDATE_GOLDEN=1 rewrites it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { explainService, type ExplainInput, type Explanation } from '../explain.js';
import { buildSnapshot } from '../snapshot.js';
import { formatTrace } from '../trace.js';
import { assertGolden } from '../testdata/golden.js';
import { desiredListeners } from './proxier.js';
import { listenerChain, relayChain, traceUserspace } from './explain.js';

function node(name: string, ip: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } };
}

function service(name: string, spec: Service['spec'], lbIP?: string): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' },
    spec: { ipFamilies: ['IPv4'], sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ...spec },
    status: { loadBalancer: lbIP ? { ingress: [{ ip: lbIP, ipMode: 'VIP' }] } : {} },
  };
}

function slice(svc: string, port: number, eps: [ip: string, node: string][], protocol: 'TCP' | 'UDP' = 'TCP', portName = ''): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: `${svc}-abcde`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    ports: [{ name: portName, port, protocol }],
    endpoints: eps.map(([ip, nodeName]) => ({ addresses: [ip], nodeName, conditions: { ready: true, serving: true, terminating: false } })),
  };
}

const objects = {
  nodes: [node('node-1', '172.30.0.11'), node('node-2', '172.30.0.12')],
  services: [
    // LoadBalancer with ClientIP affinity, endpoints on both nodes.
    service('web', {
      type: 'LoadBalancer', selector: { app: 'web' }, clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], externalTrafficPolicy: 'Cluster',
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31080 }],
    }, '172.30.0.200'),
    // externalTrafficPolicy Local, the only endpoint on node-2.
    service('api', { type: 'NodePort', selector: { app: 'api' }, clusterIP: '10.96.0.21', clusterIPs: ['10.96.0.21'], externalTrafficPolicy: 'Local', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31081 }] }),
    // No endpoints.
    service('empty', { type: 'ClusterIP', selector: { app: 'nothing' }, clusterIP: '10.96.0.22', clusterIPs: ['10.96.0.22'], ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }] }),
    // internalTrafficPolicy Local, the only endpoint on node-2.
    service('cache', { type: 'ClusterIP', selector: { app: 'cache' }, clusterIP: '10.96.0.23', clusterIPs: ['10.96.0.23'], internalTrafficPolicy: 'Local', ports: [{ port: 6379, protocol: 'TCP', targetPort: 6379 }] }),
    // UDP, no endpoints: refused with ICMP port unreachable.
    service('dns', { type: 'ClusterIP', selector: { app: 'dns' }, clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }] }),
  ],
  slices: [
    slice('web', 8080, [['10.244.1.5', 'node-1'], ['10.244.2.5', 'node-2'], ['10.244.2.6', 'node-2']], 'TCP', 'http'),
    slice('api', 8080, [['10.244.2.7', 'node-2']]),
    { ...slice('empty', 80, []), ports: [] },
    slice('cache', 6379, [['10.244.2.8', 'node-2']]),
    { ...slice('dns', 53, [], 'UDP', 'dns') },
  ],
};

type Case = { title: string; input: Pick<ExplainInput, 'service' | 'from'> & Partial<ExplainInput> };

function explain(c: Case): Explanation {
  return explainService({ ...objects, namespace: 'default', mode: 'userspace', clusterCIDR: '10.244.0.0/16', ...c.input });
}

const cases: Case[] = [
  { title: 'LoadBalancer with ClientIP affinity, from a pod on node-1: ClusterIP, NodePort, LB', input: { service: 'web', from: 'pod', node: 'node-1', src: '10.244.1.9' } },
  { title: 'the same from the client entering by node-2', input: { service: 'web', from: 'external', node: 'node-2' } },
  { title: 'no endpoints (TCP), from node-1 itself', input: { service: 'empty', from: 'node', node: 'node-1' } },
  { title: 'no endpoints (UDP), from a pod', input: { service: 'dns', from: 'pod', node: 'node-1' } },
  { title: 'externalTrafficPolicy Local, no local endpoint: client by node-1', input: { service: 'api', from: 'external', node: 'node-1' } },
  { title: 'externalTrafficPolicy Local, local endpoint: client by node-2', input: { service: 'api', from: 'external', node: 'node-2' } },
  { title: 'externalTrafficPolicy Local from a pod on node-1: NodePort refused too (no short-circuit)', input: { service: 'api', from: 'pod', node: 'node-1' } },
  { title: 'internalTrafficPolicy Local, no local endpoint: pod on node-1', input: { service: 'cache', from: 'pod', node: 'node-1' } },
  { title: 'internalTrafficPolicy Local, local endpoint: pod on node-2', input: { service: 'cache', from: 'pod', node: 'node-2', src: '10.244.2.9' } },
];

describe('userspace trace', () => {
  it('renders every case as the golden file says', () => {
    const out: string[] = [];
    for (const c of cases) {
      const e = explain(c);
      out.push(`### ${c.title}`, `# svcnet trace ${c.input.service} --mode userspace --from ${c.input.from === 'external' ? 'client' : c.input.from} --node ${e.node}`, '');
      for (const p of e.paths) out.push(`== ${p.target}`, formatTrace(p.trace));
    }
    assertGolden('userspace-explain', out.join('\n'));
  });

  it('relays round-robin from the node: one DNAT branch per endpoint, equal shares, masqueraded', () => {
    const e = explain(cases[0]!);
    assert.equal(e.mode, 'userspace');
    assert.deepEqual(e.paths.map((p) => p.target), ['ClusterIP 10.96.0.20:80/TCP', 'NodePort 172.30.0.11:31080/TCP', 'LoadBalancer 172.30.0.200:80/TCP']);
    for (const p of e.paths) {
      assert.equal(p.trace.backend, 'userspace');
      assert.equal(p.trace.verdict, 'DNAT');
      assert.equal(p.trace.masquerade, true);
      assert.deepEqual(p.trace.endpoints.map((x) => [x.ip, x.port, x.probability, x.masquerade]),
        [['10.244.1.5', 8080, 1 / 3, true], ['10.244.2.5', 8080, 1 / 3, true], ['10.244.2.6', 8080, 1 / 3, true]]);
      assert.deepEqual(p.trace.chainPath, [listenerChain, relayChain]);
      const addr = p.target.split(' ')[1];
      assert.equal(p.trace.branches[0]!.steps.at(-1)!.rule, `listen ${addr} → connect 10.244.1.5:8080 from the node`);
      assert.ok(p.trace.notes.some((n) => /sessionAffinity ClientIP: .* idle 600s/.test(n)), p.trace.notes.join('\n'));
    }
  });

  it('no listener is REJECT (connection refused); Local policy without a local endpoint too, unlike the kernel modes', () => {
    const verdicts = (c: Case) => explain(c).paths.map((p) => `${p.target.split(' ')[0]} ${p.trace.verdict}`);
    assert.deepEqual(verdicts(cases[2]!), ['ClusterIP REJECT']);
    assert.deepEqual(verdicts(cases[4]!), ['NodePort REJECT']);
    assert.deepEqual(verdicts(cases[5]!), ['NodePort DNAT']);
    assert.deepEqual(verdicts(cases[6]!), ['ClusterIP DNAT', 'NodePort REJECT']);
    assert.deepEqual(verdicts(cases[7]!), ['ClusterIP REJECT']);
    assert.deepEqual(verdicts(cases[8]!), ['ClusterIP DNAT']);
    // The same service in nftables mode drops instead.
    assert.equal(explainService({ ...objects, namespace: 'default', mode: 'nftables', service: 'api', from: 'external', node: 'node-1' }).paths[0]!.trace.verdict, 'DROP');
    const local = explain(cases[4]!).paths[0]!.trace;
    assert.deepEqual(local.endpoints, []);
    assert.match(local.notes[0]!, /^externalTrafficPolicy is Local and node-1 has no ready endpoint of its own: .* TCP RST: connection refused .*DROP/);
  });

  it('answers from the proxier\'s own listener table: every listener traced to its endpoints', () => {
    const snapshot = buildSnapshot({ services: objects.services, slices: objects.slices, nodeName: 'node-2', nodeIPs: ['172.30.0.12'] });
    const listeners = desiredListeners(snapshot, ['172.30.0.12']);
    assert.ok(listeners.length >= 5);
    for (const l of listeners) {
      const sp = snapshot.servicePorts.find((s) => s.id === l.servicePortId)!;
      const r = traceUserspace(listeners, snapshot, {
        namespace: sp.namespace, service: sp.service, servicePort: sp.port, kind: l.kind,
        packet: { src: '10.244.2.9', dst: l.ip, port: l.port, proto: l.protocol, from: 'pod' },
      });
      assert.deepEqual(r.endpoints.map((x) => `${x.ip}:${x.port}`), l.endpoints.map((x) => `${x.ip}:${x.port}`), l.key);
    }
  });
});

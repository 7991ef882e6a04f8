// The packet-flow table for the scenario: {src, dst, port} → endpoints | REJECT | DROP |
// ACCEPT, and whether the packet is masqueraded. Both backends must give these
// answers (where they legitimately differ, the row says so), traced over the rules
// they rendered.

import assert from 'node:assert/strict';
import type { TracePacket, TraceResult, TraceVerdict } from '../trace.js';
import { externalClient, externalClient6, localPod, localPod6, nodeIPs } from './scenario.js';

type Expect = string[] | Exclude<TraceVerdict, 'DNAT'>;

export interface FlowTest extends TracePacket {
  name: string;
  /** Endpoints as `ip:port` / `[ip]:port`, reached with equal probability; or a verdict. */
  expect: Expect;
  /** The answer of one backend, where it differs from `expect`. */
  nftables?: Expect;
  iptables?: Expect;
  /** Whether the connection is masqueraded (every branch). Default false. */
  masq?: boolean;
  /** Only these endpoints' branches are masqueraded (hairpin). */
  masqEndpoints?: string[];
}

const nodeIP = nodeIPs[0];
const nodeIP6 = nodeIPs[1];
const blockedClient = '8.8.8.8';

const web = ['10.244.1.5:8080', '10.244.2.6:8080', '10.244.2.7:8080'];
const lbBoth = ['10.244.1.6:8443', '10.244.2.10:8443'];

export const flows: FlowTest[] = [
  { name: 'pod to ClusterIP: every ready endpoint, equally', src: localPod, dst: '10.96.0.10', port: 80, from: 'pod', expect: web },
  { name: 'pod to ClusterIP, hairpin to itself is masqueraded', src: '10.244.1.5', dst: '10.96.0.10', port: 80, from: 'pod', expect: web, masqEndpoints: ['10.244.1.5:8080'] },
  { name: 'node to ClusterIP is masqueraded (source not a pod)', dst: '10.96.0.10', port: 80, from: 'node', expect: web, masq: true },
  { name: 'off-cluster client routed to a ClusterIP is masqueraded', src: externalClient, dst: '10.96.0.10', port: 80, from: 'external', expect: web, masq: true },
  { name: 'ClusterIP, wrong protocol', src: localPod, dst: '10.96.0.10', port: 80, proto: 'UDP', from: 'pod', expect: 'REJECT', iptables: 'ACCEPT' },
  { name: 'multiport: named UDP port', src: localPod, dst: '10.96.0.11', port: 53, proto: 'UDP', from: 'pod', expect: ['10.244.1.20:5353', '10.244.2.20:5353'] },
  { name: 'multiport: named TCP port', src: localPod, dst: '10.96.0.11', port: 9090, from: 'pod', expect: ['10.244.1.20:9100', '10.244.2.20:9100'] },
  { name: 'multiport: port not in the service', src: localPod, dst: '10.96.0.11', port: 53, from: 'pod', expect: 'REJECT', iptables: 'ACCEPT' },
  { name: 'unallocated ClusterIP', src: localPod, dst: '10.96.0.99', port: 80, from: 'pod', expect: 'DROP', iptables: 'ACCEPT' },
  { name: 'external to NodePort (Cluster policy) is masqueraded', src: externalClient, dst: nodeIP, port: 30080, from: 'external', expect: ['10.244.2.9:8080'], masq: true },
  { name: 'pod to NodePort (Cluster policy) is masqueraded', src: localPod, dst: nodeIP, port: 30080, from: 'pod', expect: ['10.244.2.9:8080'], masq: true },
  { name: 'node to its own NodePort', dst: nodeIP, port: 30080, from: 'node', expect: ['10.244.2.9:8080'], masq: true },
  { name: 'NodePort on another node is not ours', src: externalClient, dst: '192.168.0.11', port: 30080, from: 'external', expect: 'ACCEPT' },
  { name: 'NodePort on localhost is not served', dst: '127.0.0.1', port: 30080, from: 'node', expect: 'ACCEPT' },
  { name: 'external to NodePort (Local policy) keeps the client IP', src: externalClient, dst: nodeIP, port: 30443, from: 'external', expect: ['10.244.1.6:8443'] },
  { name: 'NodePort ignores loadBalancerSourceRanges', src: blockedClient, dst: nodeIP, port: 30443, from: 'external', expect: ['10.244.1.6:8443'] },
  { name: 'external to LB VIP from an allowed source (Local policy)', src: externalClient, dst: '203.0.113.10', port: 443, from: 'external', expect: ['10.244.1.6:8443'] },
  { name: 'external to LB VIP from a blocked source', src: blockedClient, dst: '203.0.113.10', port: 443, from: 'external', expect: 'DROP' },
  { name: 'pod to LB VIP outside loadBalancerSourceRanges', src: localPod, dst: '203.0.113.10', port: 443, from: 'pod', expect: 'DROP' },
  { name: 'LB ingress with ipMode Proxy is not short-circuited', src: externalClient, dst: '203.0.113.11', port: 443, from: 'external', expect: 'ACCEPT' },
  { name: 'external to externalIP (Local policy)', src: externalClient, dst: '198.51.100.5', port: 443, from: 'external', expect: ['10.244.1.6:8443'] },
  { name: 'pod to externalIP of a Local service is short-circuited to all endpoints', src: localPod, dst: '198.51.100.5', port: 443, from: 'pod', expect: lbBoth },
  { name: 'node to externalIP of a Local service: all endpoints, masqueraded', dst: '198.51.100.5', port: 443, from: 'node', expect: lbBoth, masq: true },
  { name: 'external to NodePort, Local policy, no local endpoint', src: externalClient, dst: nodeIP, port: 30081, from: 'external', expect: 'DROP' },
  { name: 'external to LB VIP, Local policy, no local endpoint', src: externalClient, dst: '203.0.113.20', port: 80, from: 'external', expect: 'DROP' },
  { name: 'pod to LB VIP, Local policy, no local endpoint: short-circuit', src: localPod, dst: '203.0.113.20', port: 80, from: 'pod', expect: ['10.244.2.14:8080'] },
  { name: 'node to LB VIP, Local policy, no local endpoint: short-circuit', dst: '203.0.113.20', port: 80, from: 'node', expect: ['10.244.2.14:8080'], masq: true },
  { name: 'ClientIP affinity: a first connection is balanced', src: localPod, dst: '10.96.0.15', port: 80, from: 'pod', expect: ['10.244.1.8:8080', '10.244.2.11:8080'] },
  { name: 'internalTrafficPolicy Local: only this node', src: localPod, dst: '10.96.0.16', port: 80, from: 'pod', expect: ['10.244.1.9:8080'] },
  { name: 'internalTrafficPolicy Local without local endpoint', src: localPod, dst: '10.96.0.17', port: 80, from: 'pod', expect: 'DROP' },
  { name: 'only terminating endpoints: the serving one is used', src: localPod, dst: '10.96.0.18', port: 80, from: 'pod', expect: ['10.244.2.13:8080'] },
  { name: 'no endpoints: ClusterIP rejects', src: localPod, dst: '10.96.0.19', port: 80, from: 'pod', expect: 'REJECT' },
  { name: 'no endpoints: NodePort rejects', src: externalClient, dst: nodeIP, port: 30082, from: 'external', expect: 'REJECT' },
  { name: 'dual-stack, IPv4 ClusterIP', src: localPod, dst: '10.96.0.20', port: 80, from: 'pod', expect: ['10.244.1.11:8080'] },
  { name: 'dual-stack, IPv4 NodePort', src: externalClient, dst: nodeIP, port: 30090, from: 'external', expect: ['10.244.1.11:8080'], masq: true },
  { name: 'dual-stack, IPv6 ClusterIP', src: localPod6, dst: 'fd00:10:96::20', port: 80, from: 'pod', expect: ['[fd00:10:244:1::11]:8080', '[fd00:10:244:2::12]:8080'] },
  { name: 'dual-stack, IPv6 NodePort', src: externalClient6, dst: nodeIP6, port: 30090, from: 'external', expect: ['[fd00:10:244:1::11]:8080', '[fd00:10:244:2::12]:8080'], masq: true },
];

function key(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Checks one flow's trace against its row; the message names the row and shows the trace summary. */
export function checkFlow(backend: 'iptables' | 'nftables', flow: FlowTest, r: TraceResult): void {
  const expect = flow[backend] ?? flow.expect;
  const where = `${backend}: ${flow.name}`;
  const got = r.verdict === 'DNAT' ? r.endpoints.map((e) => `${key(e.ip, e.port)}@${e.probability.toFixed(4)}`).join(', ') : r.verdict;
  if (typeof expect === 'string') {
    assert.equal(r.verdict, expect, `${where}: got ${got}`);
    return;
  }
  assert.equal(r.verdict, 'DNAT', `${where}: got ${got}`);
  assert.equal(r.branches.every((b) => b.verdict === 'DNAT'), true, `${where}: some branch is not DNAT: ${got}`);
  assert.deepEqual(r.endpoints.map((e) => key(e.ip, e.port)).sort(), [...expect].sort(), `${where}: got ${got}`);
  for (const e of r.endpoints) {
    assert.ok(Math.abs(e.probability - 1 / expect.length) < 1e-6, `${where}: unequal split: ${got}`);
    const masq = flow.masqEndpoints ? flow.masqEndpoints.includes(key(e.ip, e.port)) : flow.masq ?? false;
    assert.equal(e.masquerade, masq, `${where}: masquerade of ${key(e.ip, e.port)}`);
  }
}

// UDP conntrack cleanup: the pure plan (old snapshot, new snapshot → deletions, with
// kube-proxy's conntrack arguments) and the executor's handling of conntrack's exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { buildSnapshot, type ProxySnapshot } from '../src/proxy/snapshot.js';
import { ConntrackCleaner, conntrackCleanupPlan } from '../src/proxy/conntrack.js';
import { RecordingRunner } from '../src/proxy/runtime/exec.js';
import { service, slice, ep } from '../src/proxy/testdata/scenario.js';

const dns = (extra: { nodePort?: number; externalIPs?: string[]; type?: string } = {}) => service('dns', {
  type: extra.type ?? 'ClusterIP',
  clusterIPs: ['10.96.0.10'],
  ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, ...(extra.nodePort ? { nodePort: extra.nodePort } : {}) },
    { name: 'tcp', port: 53, protocol: 'TCP', targetPort: 5353 }],
  ...(extra.externalIPs ? { externalIPs: extra.externalIPs } : {}),
});
const dnsSlice = (...eps: ReturnType<typeof ep>[]): EndpointSlice =>
  slice('dns', 'dns-1', [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'tcp', port: 5353, protocol: 'TCP' }], eps);

function snap(svcs: ReturnType<typeof service>[], slices: EndpointSlice[]): ProxySnapshot {
  return buildSnapshot({ services: svcs, slices, nodeName: 'node-a', nodeIPs: ['192.168.0.10'] });
}

const args = (plan: ReturnType<typeof conntrackCleanupPlan>) => plan.map((d) => d.args.join(' '));

test('an endpoint that goes away: entries DNATed to it are deleted (ClusterIP, external IP, NodePort)', () => {
  const svc = dns({ type: 'NodePort', nodePort: 30053, externalIPs: ['198.51.100.5'] });
  const before = snap([svc], [dnsSlice(ep('10.244.1.5'), ep('10.244.2.6'))]);
  const after = snap([svc], [dnsSlice(ep('10.244.2.6'))]);
  assert.deepEqual(args(conntrackCleanupPlan(before, after)), [
    '-D -p udp --dport 30053 --dst-nat 10.244.1.5',
    '-D --orig-dst 10.96.0.10 --dst-nat 10.244.1.5 -p udp',
    '-D --orig-dst 198.51.100.5 --dst-nat 10.244.1.5 -p udp',
  ]);
});

test('an endpoint that stops serving counts as gone; a not-serving one never had traffic', () => {
  const svc = dns();
  const before = snap([svc], [dnsSlice(ep('10.244.1.5'), ep('10.244.2.6', { ready: false, serving: false }))]);
  const after = snap([svc], [dnsSlice(ep('10.244.1.5', { ready: false, serving: false, terminating: true }))]);
  assert.deepEqual(args(conntrackCleanupPlan(before, after)), ['-D --orig-dst 10.96.0.10 --dst-nat 10.244.1.5 -p udp']);
});

test('a UDP service going from 0 to some endpoints clears the service IP and NodePort (stale REJECT entries)', () => {
  const svc = dns({ type: 'NodePort', nodePort: 30053 });
  const before = snap([svc], [dnsSlice()]);
  const after = snap([svc], [dnsSlice(ep('10.244.1.5'))]);
  const plan = conntrackCleanupPlan(before, after);
  assert.deepEqual(args(plan), ['-D --orig-dst 10.96.0.10 -p udp', '-D -p udp --dport 30053']);
  assert.deepEqual(plan.map((d) => d.kind), ['service-ip', 'node-port']);
});

test('the first sync treats every active UDP service as newly active; TCP is never touched', () => {
  const plan = conntrackCleanupPlan(undefined, snap([dns()], [dnsSlice(ep('10.244.1.5'))]));
  assert.deepEqual(args(plan), ['-D --orig-dst 10.96.0.10 -p udp']);
  assert.ok(plan.every((d) => d.servicePort === 'default/dns:dns'));
});

test('a deleted UDP service port clears its ClusterIP; nothing changes → nothing to do', () => {
  const s = snap([dns()], [dnsSlice(ep('10.244.1.5'))]);
  assert.deepEqual(args(conntrackCleanupPlan(s, snap([], []))), ['-D --orig-dst 10.96.0.10 -p udp']);
  assert.deepEqual(conntrackCleanupPlan(s, s), []);
});

test('IPv6 deletions carry -f ipv6', () => {
  const v6 = service('dns6', { clusterIPs: ['fd00:10:96::10'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const sl = (...e: ReturnType<typeof ep>[]) => slice('dns6', 'dns6-1', [{ name: 'dns', port: 53, protocol: 'UDP' }], e, { addressType: 'IPv6' });
  const plan = conntrackCleanupPlan(snap([v6], [sl(ep('fd00:10:244:1::5'))]), snap([v6], [sl()]));
  assert.deepEqual(args(plan), ['-f ipv6 -D --orig-dst fd00:10:96::10 --dst-nat fd00:10:244:1::5 -p udp']);
});

test('the cleaner runs conntrack in the node namespace; "0 flow entries" is not a failure', async () => {
  const runner = new RecordingRunner((argv) => argv.includes('30053')
    ? { code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n' }
    : argv.includes('--dst-nat')
      ? { code: 0, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n' }
      : { code: 2, stdout: '', stderr: 'conntrack: unknown option\n' });
  const svc = dns({ type: 'NodePort', nodePort: 30053 });
  const plan = conntrackCleanupPlan(snap([svc], [dnsSlice(ep('10.244.1.5'))]), snap([svc], [dnsSlice()]));
  const r = await new ConntrackCleaner({ netns: 'node-a', runner }).run(plan);
  assert.deepEqual(r, { deleted: 2, failed: 0 });
  assert.deepEqual(runner.calls[0]!.argv, ['ip', 'netns', 'exec', 'node-a', 'conntrack', '-D', '-p', 'udp', '--dport', '30053', '--dst-nat', '10.244.1.5']);
  const bad = await new ConntrackCleaner({ runner }).run(conntrackCleanupPlan(undefined, snap([svc], [dnsSlice(ep('10.244.1.5'))])));
  assert.equal(bad.failed, 1, 'a real error is counted (and logged), not thrown');
});

// The svcnet command line: help on every command, one-line errors, and
// `svcnet trace` answering "which endpoint gets the traffic?".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './lib/harness.js';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

test('every command has --help; unknown commands and flags are one-line errors', async () => {
  const top = await h.svcnet(['--help']);
  assert.equal(top.code, 0);
  const cmds = [...top.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(cmds.includes('up') && cmds.includes('apiserver') && cmds.includes('trace'), top.stdout);
  for (const c of cmds) {
    const r = await h.svcnet([c, '--help']);
    assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
    assert.match(r.stdout, /Usage:/);
  }
  const bad = await h.svcnet(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'svcnet: unknown command "frobnicate" (see \'svcnet --help\')\n');
  const flag = await h.svcnet(['apiserver', '--no-such-flag']);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr, 'svcnet apiserver: unknown flag: --no-such-flag\n');
  const missing = await h.svcnet(['trace', 'web', '--kubeconfig', '/nonexistent/kubeconfig']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.split('\n').filter(Boolean).length, 1, missing.stderr);
});

test('svcnet trace: DNAT to every ready endpoint with equal probability; REJECT without endpoints', async () => {
  h.writeFile('objs.yaml', `apiVersion: v1
kind: Node
metadata: {name: node-1}
status:
  addresses: [{type: InternalIP, address: 172.30.0.11}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.11], conditions: {ready: true}, nodeName: node-1}
- {addresses: [10.244.2.12], conditions: {ready: true}, nodeName: node-2}
- {addresses: [10.244.2.13], conditions: {ready: false}, nodeName: node-2}
`);
  await h.k(['apply', '-f', `${h.dir}/objs.yaml`]);
  for (const mode of ['nftables', 'iptables']) {
    const r = await h.svcnet(['trace', 'web', '--from', 'pod', '--mode', mode, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout);
    const cip = e.paths.find((p: { target: string }) => p.target.startsWith('ClusterIP'));
    assert.equal(cip.trace.verdict, 'DNAT');
    assert.deepEqual(cip.trace.endpoints.map((x: { ip: string; probability: number }) => `${x.ip}@${x.probability.toFixed(2)}`).sort(), ['10.244.1.11@0.50', '10.244.2.12@0.50']);
    const np = e.paths.find((p: { target: string }) => p.target.startsWith('NodePort'));
    assert.ok(np, 'a NodePort path is traced too');
    const l = await h.svcnet(['trace', 'lonely', '--mode', mode, '-o', 'json']);
    assert.equal(JSON.parse(l.stdout).paths[0].trace.verdict, 'REJECT');
  }
  const text = await h.svcnet(['trace', 'web', '--from', 'client']);
  assert.match(text.stdout, /== NodePort 172\.30\.0\.11:\d+\/TCP/);
  assert.match(text.stdout, /50\.0% {2}-> 10\.244\.1\.11:8080 {2}\(source NATed to the node\)/);
  const none = await h.svcnet(['trace', 'nope']);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, 'svcnet trace: services "nope" not found in namespace "default"\n');
});

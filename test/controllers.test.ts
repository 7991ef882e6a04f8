// Controllers through the API with the real kubectl: Services, Endpoints and
// EndpointSlices follow pods (pod status is written by hand here, as a node
// agent would).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../src/client/http.js';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { startControllerManager, type RunningControllerManager } from '../src/controllers/manager.js';
import { defaultReconcilers } from '../src/controllers/all.js';
import { startHarness, type Harness } from './lib/harness.js';

let h: Harness;
let client: HttpClient;
let cm: RunningControllerManager;
before(async () => {
  h = await startHarness();
  client = new HttpClient(loadKubeconfig(h.kubeconfig));
  cm = startControllerManager(client, defaultReconcilers());
  await cm.waitForSync();
  // The pods below run on this node (the EndpointSlice controller reads nodes for zones).
  h.writeFile('node.yaml', `apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    topology.kubernetes.io/zone: zone-a
`);
  await h.k(['apply', '-f', `${h.dir}/node.yaml`]);
});
after(async () => {
  await cm.close();
  client.close();
  await h.close();
});

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const t0 = Date.now();
  let v = await f();
  while (!ok(v)) {
    if (Date.now() - t0 > ms) throw new Error(`not converged: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
    v = await f();
  }
  return v;
}

async function pod(name: string, labels: Record<string, string>, ip: string, ready: boolean, ports = '[{"containerPort":8080,"name":"http"}]'): Promise<void> {
  h.writeFile(`${name}.json`, JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'nginx', ports: JSON.parse(ports) }] },
  }));
  await h.k(['apply', '-f', `${h.dir}/${name}.json`]);
  await h.k(['patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  })]);
}

interface Slice { metadata: { name: string; labels: Record<string, string>; ownerReferences?: { kind: string; name: string }[] }; addressType: string; ports?: { name: string; port: number }[]; endpoints?: { addresses: string[]; conditions: { ready: boolean; serving: boolean; terminating: boolean }; targetRef?: { name: string } }[] }

const slicesOf = async (svc: string): Promise<Slice[]> =>
  JSON.parse(await h.k(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json'])).items;

const readyIPs = (slices: Slice[]) => slices.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions.ready).flatMap((e) => e.addresses)).sort();

test('EndpointSlices and Endpoints follow matching pods; not-ready pods are not ready', async () => {
  await h.k(['create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
  await h.k(['label', 'svc', 'web', 'app=web']);
  await h.k(['patch', 'svc', 'web', '-p', '{"spec":{"selector":{"app":"web"}}}']);
  await pod('web-1', { app: 'web' }, '10.244.1.10', true);
  await pod('web-2', { app: 'web' }, '10.244.2.10', true);
  await pod('web-3', { app: 'web' }, '10.244.2.11', false);
  await pod('other', { app: 'other' }, '10.244.1.99', true);
  const slices = await eventually(() => slicesOf('web'), (s) => readyIPs(s).length === 2 && s.flatMap((x) => x.endpoints ?? []).length === 3);
  assert.deepEqual(readyIPs(slices), ['10.244.1.10', '10.244.2.10']);
  const s = slices[0]!;
  assert.equal(s.addressType, 'IPv4');
  assert.equal(s.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.equal(s.metadata.ownerReferences?.[0]?.name, 'web');
  assert.deepEqual(s.ports?.map((p) => p.port), [8080]);
  const notReady = s.endpoints!.find((e) => e.targetRef?.name === 'web-3')!;
  assert.deepEqual(notReady.conditions, { ready: false, serving: false, terminating: false });
  const ep = await eventually(async () => JSON.parse(await h.k(['get', 'endpoints', 'web', '-o', 'json'])),
    (e) => (e.subsets?.[0]?.addresses?.length ?? 0) === 2);
  assert.deepEqual(ep.subsets[0].notReadyAddresses.map((a: { ip: string }) => a.ip), ['10.244.2.11']);
  const table = await h.k(['get', 'endpoints', 'web']);
  assert.match(table, /^web\s+10\.244\.1\.10:8080,10\.244\.2\.10:8080\s+\d+s$/m);
  const d = await h.k(['describe', 'svc', 'web']);
  assert.match(d, /^Endpoints:\s+10\.244\.1\.10:8080,10\.244\.2\.10:8080$/m);
});

test('a pod turning ready joins; a deleted slice is recreated', async () => {
  await h.k(['patch', 'pod', 'web-3', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}']);
  await eventually(() => slicesOf('web'), (s) => readyIPs(s).length === 3);
  const [s] = await slicesOf('web');
  await h.k(['delete', 'endpointslice', s!.metadata.name]);
  const again = await eventually(() => slicesOf('web'), (x) => readyIPs(x).length === 3 && x[0]!.metadata.name !== s!.metadata.name);
  assert.equal(again.length, 1);
});

test('named target ports resolve per pod; multiport services', async () => {
  const f = h.writeFile('multi.yaml', `apiVersion: v1
kind: Service
metadata:
  name: multi
spec:
  selector:
    app: multi
  ports:
  - name: http
    port: 80
    targetPort: web
  - name: metrics
    port: 9090
    targetPort: 9090
`);
  await h.k(['apply', '-f', f]);
  await pod('m-1', { app: 'multi' }, '10.244.1.20', true, '[{"containerPort":8080,"name":"web"}]');
  await pod('m-2', { app: 'multi' }, '10.244.2.20', true, '[{"containerPort":8081,"name":"web"}]');
  const slices = await eventually(() => slicesOf('multi'), (s) => readyIPs(s).length === 2);
  // Two pods resolve "web" to different numbers: two slices, each with its own port set.
  const sets = slices.map((s) => (s.ports ?? []).map((p) => `${p.name}:${p.port}`).sort().join(',')).sort();
  assert.deepEqual(sets, ['http:8080,metrics:9090', 'http:8081,metrics:9090']);
});

test('a pod that stops matching leaves; a service without selector gets no managed slices', async () => {
  await h.k(['label', 'pod', 'web-1', 'app=gone', '--overwrite']);
  await eventually(() => slicesOf('web'), (s) => !readyIPs(s).includes('10.244.1.10'));
  h.writeFile('manual.yaml', `apiVersion: v1
kind: Service
metadata:
  name: manual
spec:
  ports:
  - port: 80
`);
  await h.k(['apply', '-f', `${h.dir}/manual.yaml`]);
  await new Promise((r) => setTimeout(r, 500));
  const ms = await slicesOf('manual');
  assert.equal(ms.filter((s) => s.metadata.labels['endpointslice.kubernetes.io/managed-by'] === 'endpointslice-controller.k8s.io').length, 0);
});

test('LoadBalancer: <pending> with no pool; an address from the pool once there is one; another class stays pending', async () => {
  h.writeFile('lb.yaml', `apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: lb-other}
spec:
  type: LoadBalancer
  loadBalancerClass: example.com/other
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`);
  await h.k(['apply', '-f', `${h.dir}/lb.yaml`]);
  await new Promise((r) => setTimeout(r, 300));
  assert.match(await h.k(['get', 'svc', 'lb']), /^lb\s+LoadBalancer\s+\S+\s+<pending>\s+/m);
  h.writeFile('pools.yaml', `apiVersion: v1
kind: ConfigMap
metadata: {name: svcnet-lb-pools, namespace: kube-system}
data:
  pools: |
    - name: default
      addresses: ["192.0.2.200-192.0.2.201"]
`);
  await h.k(['apply', '-f', `${h.dir}/pools.yaml`]);
  await eventually(() => h.k(['get', 'svc', 'lb']), (t) => /^lb\s+LoadBalancer\s+\S+\s+192\.0\.2\.20[01]\s+80:3\d{4}\/TCP/m.test(t));
  const s = JSON.parse(await h.k(['get', 'svc', 'lb', '-o', 'json']));
  assert.equal(s.status.loadBalancer.ingress[0].ipMode, 'VIP');
  assert.match(await h.k(['get', 'svc', 'lb-other']), /<pending>/);
});

test('Deployments: replicas scheduled onto Ready nodes; scale; rollout status', async () => {
  h.writeFile('node2.yaml', `apiVersion: v1
kind: Node
metadata: {name: node-2}
status:
  conditions: [{type: Ready, status: "True"}]
`);
  await h.k(['apply', '-f', `${h.dir}/node2.yaml`]);
  await h.k(['patch', 'node', 'node-1', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}']);
  await h.k(['create', 'deployment', 'app', '--image=nginx', '--replicas=3']);
  const pods = await eventually(async () => JSON.parse(await h.k(['get', 'pods', '-l', 'app=app', '-o', 'json'])).items as { metadata: { name: string; ownerReferences: { kind: string }[] }; spec: { nodeName?: string } }[],
    (ps) => ps.length === 3 && ps.every((p) => p.spec.nodeName));
  assert.ok(pods.every((p) => p.metadata.ownerReferences[0]!.kind === 'ReplicaSet'));
  assert.deepEqual([...new Set(pods.map((p) => p.spec.nodeName))].sort(), ['node-1', 'node-2'], 'spread over both nodes');
  await h.k(['scale', 'deployment', 'app', '--replicas=1']);
  await eventually(async () => JSON.parse(await h.k(['get', 'pods', '-l', 'app=app', '-o', 'json'])).items.filter((p: { metadata: { deletionTimestamp?: string } }) => !p.metadata.deletionTimestamp).length, (n) => n === 1);
  // Pods here have no agent to make them ready: mark the remaining one Ready as a node agent would.
  const [left] = JSON.parse(await h.k(['get', 'pods', '-l', 'app=app', '-o', 'json'])).items.filter((p: { metadata: { deletionTimestamp?: string } }) => !p.metadata.deletionTimestamp);
  await h.k(['patch', 'pod', left.metadata.name, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running","podIP":"10.244.1.50","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}']);
  const r = await h.kubectl(['rollout', 'status', 'deployment/app', '--timeout=20s']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment "app" successfully rolled out/);
});

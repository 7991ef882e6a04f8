// The real kubectl against svcnet's API server: the commands a user types,
// with the exact output and error texts kubectl prints for a real cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { startHarness, waitForOutput, type Harness } from './lib/harness.js';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const svcYaml = (port: number, extraPorts = '') => `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: ${port}
    targetPort: 8080
${extraPorts}`;

test('version and discovery: api-resources lists what we serve, with short names', async () => {
  const out = await h.k(['api-resources']);
  assert.match(out, /^NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND/m);
  assert.match(out, /^services\s+svc\s+v1\s+true\s+Service/m);
  assert.match(out, /^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice/m);
  assert.match(out, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/m);
  assert.match(out, /^namespaces\s+ns\s+v1\s+false\s+Namespace/m);
  const v = await h.k(['version', '-o', 'json']);
  assert.equal(JSON.parse(v).serverVersion.minor, '32');
});

test('system namespaces exist from the start', async () => {
  const out = await h.k(['get', 'ns']);
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(out, new RegExp(`^${ns}\\s+Active\\s+\\d+s`, 'm'));
});

test('create -f, apply twice (unchanged), apply an edited port keeps list order', async () => {
  const f = h.writeFile('web.yaml', svcYaml(80, `  - name: https
    port: 443
    targetPort: 8443
`));
  assert.equal((await h.k(['create', '-f', f])).trim(), 'service/web created');
  const dup = await h.kubectl(['create', '-f', f]);
  assert.equal(dup.code, 1);
  assert.equal(dup.stderr.trim(), `Error from server (AlreadyExists): error when creating "${f}": services "web" already exists`);
  await h.k(['delete', 'svc', 'web']);

  assert.equal((await h.k(['apply', '-f', f])).trim(), 'service/web created');
  assert.equal((await h.k(['apply', '-f', f])).trim(), 'service/web unchanged');
  h.writeFile('web.yaml', svcYaml(81, `  - name: https
    port: 443
    targetPort: 8443
`));
  assert.equal((await h.k(['apply', '-f', f])).trim(), 'service/web configured');
  const ports = JSON.parse(await h.k(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports}']));
  assert.deepEqual(ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`), ['http:81', 'https:443']);
  const ann = await h.k(['get', 'svc', 'web', '-o', "jsonpath={.metadata.annotations['kubectl\\.kubernetes\\.io/last-applied-configuration']}"]);
  assert.match(ann, /"port":81/);
});

test('apply --server-side creates, then updates, with kubectl as the field manager', async () => {
  const f = h.writeFile('ssa.yaml', `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  a: "1"
`);
  assert.equal((await h.k(['apply', '--server-side', '-f', f])).trim(), 'configmap/ssa serverside-applied');
  h.writeFile('ssa.yaml', `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  a: "2"
  b: "3"
`);
  assert.equal((await h.k(['apply', '--server-side', '-f', f])).trim(), 'configmap/ssa serverside-applied');
  const cm = JSON.parse(await h.k(['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
  assert.deepEqual(cm.data, { a: '2', b: '3' });
  assert.ok(cm.metadata.managedFields.some((m: { manager: string; operation: string }) => m.manager === 'kubectl' && m.operation === 'Apply'));
});

test('get: table columns, -o wide, yaml, jsonpath, -l, -A', async () => {
  const t = await h.k(['get', 'svc', 'web']);
  assert.match(t, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/m);
  assert.match(t, /^web\s+ClusterIP\s+\S+\s+<none>\s+81\/TCP,443\/TCP\s+\d+s$/m);
  const w = await h.k(['get', 'svc', 'web', '-o', 'wide']);
  assert.match(w, /SELECTOR$/m);
  assert.match(w, /app=web$/m);
  const y = await h.k(['get', 'svc', 'web', '-o', 'yaml']);
  assert.match(y, /^kind: Service$/m);
  assert.match(y, /^  resourceVersion: "\d+"$/m);
  assert.match(y, /^  uid: [0-9a-f-]{36}$/m);
  assert.equal(await h.k(['get', 'svc', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}']), 'web');
  assert.equal(await h.k(['get', 'svc', '-l', 'app!=web', '-o', 'jsonpath={.items[*].metadata.name}']), 'kubernetes');
  const all = await h.k(['get', 'ns', '-A', '-o', 'name']);
  assert.match(all, /namespace\/kube-system/);
  await h.k(['create', 'namespace', 'other']);
  await h.k(['create', 'configmap', 'c1', '-n', 'other', '--from-literal=k=v']);
  const a = await h.k(['get', 'cm', '-A']);
  assert.match(a, /^NAMESPACE\s+NAME\s+DATA\s+AGE$/m);
  assert.match(a, /^other\s+c1\s+1\s+\d+s$/m);
});

test('get -w sees a later change', async () => {
  const child = h.spawnKubectl(['get', 'cm', '-w', '-n', 'other']);
  try {
    await waitForOutput(child, (o) => /c1/.test(o));
    await h.k(['create', 'configmap', 'c2', '-n', 'other', '--from-literal=x=y']);
    await waitForOutput(child, (o) => /^c2\s+1\s+/m.test(o));
  } finally {
    child.kill();
  }
});

test('describe svc', async () => {
  const d = await h.k(['describe', 'svc', 'web']);
  assert.match(d, /^Name:\s+web$/m);
  assert.match(d, /^Namespace:\s+default$/m);
  assert.match(d, /^Selector:\s+app=web$/m);
  assert.match(d, /^Port:\s+http\s+81\/TCP$/m);
  assert.match(d, /^TargetPort:\s+8080\/TCP$/m);
});

test('label, annotate, and label removal', async () => {
  assert.equal((await h.k(['label', 'svc', 'web', 'tier=front'])).trim(), 'service/web labeled');
  assert.equal((await h.k(['annotate', 'svc', 'web', 'note=hello'])).trim(), 'service/web annotated');
  assert.equal(await h.k(['get', 'svc', 'web', '-o', 'jsonpath={.metadata.labels.tier}/{.metadata.annotations.note}']), 'front/hello');
  await h.k(['label', 'svc', 'web', 'tier-']);
  assert.equal(await h.k(['get', 'svc', 'web', '-o', 'jsonpath={.metadata.labels.tier}']), '');
  const bad = await h.kubectl(['label', 'svc', 'web', 'app=other']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /'app' already has a value \(web\), and --overwrite is false/);
});

test('edit with EDITOR set to a script', async () => {
  const editor = h.writeFile('editor.sh', '#!/bin/sh\nsed -i "s/targetPort: 8443/targetPort: 9443/" "$1"\n');
  chmodSync(editor, 0o755);
  const out = await h.k(['edit', 'svc', 'web'], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
  assert.equal(out.trim(), 'service/web edited');
  assert.equal(await h.k(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[1].targetPort}']), '9443');
});

test('error texts: NotFound, Invalid, strict unknown field, Conflict', async () => {
  const nf = await h.kubectl(['get', 'svc', 'nope']);
  assert.equal(nf.code, 1);
  assert.equal(nf.stderr.trim(), 'Error from server (NotFound): services "nope" not found');

  const unk = h.writeFile('unknown.yaml', `apiVersion: v1
kind: ConfigMap
metadata:
  name: unk
bogus: 1
`);
  const u = await h.kubectl(['create', '-f', unk]);
  assert.equal(u.code, 1);
  assert.equal(u.stderr.trim(), `Error from server (BadRequest): error when creating "${unk}": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"`);

  const stale = JSON.parse(await h.k(['get', 'cm', 'ssa', '-o', 'json']));
  await h.k(['label', 'cm', 'ssa', 'bump=1']);
  stale.data.a = 'stale';
  const sf = h.writeFile('stale.json', JSON.stringify(stale));
  const c = await h.kubectl(['replace', '-f', sf]);
  assert.equal(c.code, 1);
  assert.equal(c.stderr.trim(), `Error from server (Conflict): error when replacing "${sf}": Operation cannot be fulfilled on configmaps "ssa": the object has been modified; please apply your changes to the latest version and try again`);

  const nons = await h.kubectl(['create', 'configmap', 'x', '-n', 'missing']);
  assert.equal(nons.code, 1);
  assert.equal(nons.stderr.trim(), 'error: failed to create configmap: namespaces "missing" not found');
});

test('delete, delete -l, wait --for=delete', async () => {
  await h.k(['create', 'configmap', 'd1', '--from-literal=a=b']);
  await h.k(['label', 'cm', 'd1', 'group=g']);
  await h.k(['create', 'configmap', 'd2', '--from-literal=a=b']);
  await h.k(['label', 'cm', 'd2', 'group=g']);
  const out = await h.k(['delete', 'cm', '-l', 'group=g']);
  assert.match(out, /configmap "d1" deleted/);
  assert.match(out, /configmap "d2" deleted/);
  await h.k(['create', 'configmap', 'd3', '--from-literal=a=b']);
  const waiter = h.kubectl(['wait', '--for=delete', 'configmap/d3', '--timeout=20s']);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await h.k(['delete', 'cm', 'd3'])).trim(), 'configmap "d3" deleted');
  const w = await waiter;
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout.trim(), 'configmap/d3 condition met');
});

test('namespace deletion removes what is in it', async () => {
  await h.k(['create', 'namespace', 'gone']);
  await h.k(['create', 'configmap', 'in-gone', '-n', 'gone', '--from-literal=a=b']);
  await h.k(['delete', 'namespace', 'gone', '--timeout=20s']);
  const r = await h.kubectl(['get', 'ns', 'gone']);
  assert.equal(r.stderr.trim(), 'Error from server (NotFound): namespaces "gone" not found');
  const cms = await h.k(['get', 'cm', '-n', 'gone', '-o', 'name']);
  assert.equal(cms.trim(), '');
});

test('explain prints field docs from our OpenAPI', async () => {
  const out = await h.k(['explain', 'service.spec.ports']);
  assert.match(out, /KIND:\s+Service/);
  assert.match(out, /FIELD:\s+ports/);
  assert.match(out, /targetPort/);
});

test('deployments: create, scale', async () => {
  await h.k(['create', 'deployment', 'web', '--image=nginx', '--replicas=2']);
  assert.equal((await h.k(['scale', 'deployment', 'web', '--replicas=4'])).trim(), 'deployment.apps/web scaled');
  assert.equal(await h.k(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}']), '4');
  const t = await h.k(['get', 'deploy']);
  assert.match(t, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
});

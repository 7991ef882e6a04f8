// The API server's service and pod proxy, through `kubectl proxy` and
// `kubectl get --raw`, with the dialer pointed at a local backend (in the
// embedded cluster it dials from a node namespace instead).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startHarness, waitForOutput, type Harness } from './lib/harness.js';

let h: Harness;
let backend: Server;
const dialled: string[] = [];
before(async () => {
  h = await startHarness();
  backend = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`hello ${req.method} ${req.url}\n`);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  h.server.api.dialer = (ip, p) => { dialled.push(`${ip}:${p}`); return connect({ host: '127.0.0.1', port }); };
  await h.k(['create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
  const slice = h.writeFile('slice.yaml', `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: 80-8080
  port: 8080
  protocol: TCP
endpoints:
- addresses: ["10.244.1.5"]
  conditions: {ready: true}
- addresses: ["10.244.2.7"]
  conditions: {ready: false}
`);
  await h.k(['apply', '-f', slice]);
  await h.k(['create', 'service', 'clusterip', 'empty', '--tcp=80:80']);
});
after(async () => {
  await h.close();
  await new Promise((r) => backend.close(r));
});

test('get --raw through the service proxy reaches a ready endpoint', async () => {
  const out = await h.k(['get', '--raw', '/api/v1/namespaces/default/services/web:80/proxy/some/path?x=1']);
  assert.equal(out.trim(), 'hello GET /some/path?x=1');
  assert.ok(dialled.every((d) => d === '10.244.1.5:8080'), dialled.join(','));
  const byName = await h.k(['get', '--raw', '/api/v1/namespaces/default/services/http:web:80-8080/proxy/']);
  assert.equal(byName.trim(), 'hello GET /');
});

test('no endpoints: 503 with Kubernetes\' message', async () => {
  const r = await h.kubectl(['get', '--raw', '/api/v1/namespaces/default/services/empty:80/proxy/']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no endpoints available for service "empty"/);
});

test('kubectl proxy then curl localhost:PORT/api/v1/namespaces/default/services/web:80/proxy/', async () => {
  const child = h.spawnKubectl(['proxy', '--port=0']);
  try {
    const out = await waitForOutput(child, (o) => /Starting to serve on 127\.0\.0\.1:\d+/.test(o));
    const port = /Starting to serve on 127\.0\.0\.1:(\d+)/.exec(out)![1];
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/services/web:80/proxy/`);
    assert.equal(r.status, 200);
    assert.equal((await r.text()).trim(), 'hello GET /');
    const bare = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/services/web:80/proxy`, { redirect: 'manual' });
    assert.equal(bare.status, 301);
    const post = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/services/web:80/proxy/form`, { method: 'POST', body: 'a=b' });
    assert.equal((await post.text()).trim(), 'hello POST /form');
  } finally {
    child.kill();
  }
});

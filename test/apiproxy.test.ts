// The API server's service, pod and node proxy, through `kubectl proxy` and
// `kubectl get --raw`, with the dialer pointed at a local backend (in the
// embedded cluster it dials from a node namespace instead); websocket
// upgrades pass through to the backend with a real websocket both ways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { startHarness, waitForOutput, type Harness } from './lib/harness.js';

let h: Harness;
let backend: Server;
let wss: WebSocketServer;
/** Where nothing listens: the kubelet port of the test's nodes. */
let closedPort: number;
const dialled: string[] = [];
const upgrades: { url: string; headers: IncomingHttpHeaders }[] = [];
before(async () => {
  h = await startHarness();
  backend = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`hello ${req.method} ${req.url}\n`);
  });
  // The backend answers websockets too: it echoes every message, upper-cased, and says hello first.
  wss = new WebSocketServer({ server: backend });
  wss.on('connection', (ws, req) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    ws.send(`hello ${req.url}`);
    ws.on('message', (m, isBinary) => ws.send(isBinary ? m : m.toString().toUpperCase(), { binary: isBinary }));
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  const closed = createTcpServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  h.server.api.dialer = (ip, p) => {
    dialled.push(`${ip}:${p}`);
    return connect({ host: '127.0.0.1', port: p === 10250 ? closedPort : port });
  };
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
  // A pod with an IP (as its node's agent would report it) and a node, for pods/… and nodes/…/proxy.
  await h.k(['run', 'ws', '--image=nginx', '--port=8080']);
  await h.k(['patch', 'pod', 'ws', '--subresource=status', '--type=merge', '-p', '{"status":{"podIP":"10.244.1.9","podIPs":[{"ip":"10.244.1.9"}]}}']);
  await h.k(['apply', '-f', h.writeFile('node.yaml', `apiVersion: v1
kind: Node
metadata: {name: node-a}
`)]);
  await h.k(['patch', 'node', 'node-a', '--subresource=status', '--type=merge', '-p',
    '{"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"Hostname","address":"node-a"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}']);
});
after(async () => {
  await h.close();
  wss.close();
  await new Promise((r) => backend.close(r));
});

/** Opens a websocket, collects what it receives; resolves once open. */
async function openWs(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; next(): Promise<string>; nextRaw(): Promise<Buffer> }> {
  const ws = new WebSocket(url, opts);
  const got: Buffer[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (m) => { got.push(Buffer.isBuffer(m) ? m : Buffer.concat(m as Buffer[])); waiters.splice(0).forEach((w) => w()); });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d; });
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${body}`)));
    });
  });
  const nextRaw = async (): Promise<Buffer> => {
    while (!got.length) await new Promise<void>((r) => waiters.push(r));
    return got.shift()!;
  };
  return { ws, next: async () => (await nextRaw()).toString(), nextRaw };
}

function caAndToken(): { ca: string; token: string } {
  return { ca: h.server.caPem, token: h.server.token };
}

test('a websocket through the service proxy reaches the endpoint; bytes flow both ways', async () => {
  const { ca, token } = caAndToken();
  const base = h.server.url.replace(/^https/, 'wss');
  const before = upgrades.length;
  dialled.length = 0;
  const { ws, next, nextRaw } = await openWs(`${base}/api/v1/namespaces/default/services/web:80/proxy/chat?room=1`, { ca, headers: { Authorization: `Bearer ${token}` } });
  try {
    assert.equal(await next(), 'hello /chat?room=1', 'the backend saw the path under …/proxy');
    ws.send('ping');
    assert.equal(await next(), 'PING');
    ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    assert.deepEqual([...await nextRaw()], [0, 1, 2, 255], 'binary frames unchanged');
    assert.deepEqual(dialled, ['10.244.1.5:8080'], 'only the ready endpoint is dialled');
    const seen = upgrades[before]!;
    assert.equal(seen.headers['authorization'], undefined, 'the API server\'s credentials stay with it');
    assert.equal(seen.headers['upgrade'], 'websocket');
  } finally {
    ws.close();
  }
});

test('a websocket without credentials is refused; one to a service with no endpoints gets the 503', async () => {
  const { ca, token } = caAndToken();
  const base = h.server.url.replace(/^https/, 'wss');
  await assert.rejects(openWs(`${base}/api/v1/namespaces/default/services/web:80/proxy/`, { ca }), /HTTP 401/);
  await assert.rejects(openWs(`${base}/api/v1/namespaces/default/services/empty:80/proxy/`, { ca, headers: { Authorization: `Bearer ${token}` } }),
    /HTTP 503: .*no endpoints available for service \\"empty\\"/);
});

test('websockets through kubectl proxy: to a service and to a pod', async () => {
  const child = h.spawnKubectl(['proxy', '--port=0']);
  try {
    const out = await waitForOutput(child, (o) => /Starting to serve on 127\.0\.0\.1:\d+/.test(o));
    const port = /Starting to serve on 127\.0\.0\.1:(\d+)/.exec(out)![1];
    const svc = await openWs(`ws://127.0.0.1:${port}/api/v1/namespaces/default/services/web:80/proxy/svc`);
    try {
      assert.equal(await svc.next(), 'hello /svc');
      svc.ws.send('through kubectl proxy');
      assert.equal(await svc.next(), 'THROUGH KUBECTL PROXY');
    } finally {
      svc.ws.close();
    }
    dialled.length = 0;
    const pod = await openWs(`ws://127.0.0.1:${port}/api/v1/namespaces/default/pods/ws:8080/proxy/pod`);
    try {
      assert.equal(await pod.next(), 'hello /pod');
      pod.ws.send('pod');
      assert.equal(await pod.next(), 'POD');
      assert.deepEqual(dialled, ['10.244.1.9:8080']);
    } finally {
      pod.ws.close();
    }
  } finally {
    child.kill();
  }
});

test('nodes/NAME/proxy: the kubelet port answers as Kubernetes does when no kubelet is reachable; another port is proxied', async () => {
  dialled.length = 0;
  const r = await h.kubectl(['get', '--raw', '/api/v1/nodes/node-a/proxy/healthz']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ServiceUnavailable.*error trying to reach service: dial tcp 10\.0\.0\.5:10250: connect: connection refused/);
  assert.deepEqual(dialled, ['10.0.0.5:10250']);
  const other = await h.k(['get', '--raw', '/api/v1/nodes/http:node-a:8080/proxy/metrics']);
  assert.equal(other.trim(), 'hello GET /metrics');
  const missing = await h.kubectl(['get', '--raw', '/api/v1/nodes/nope/proxy/']);
  assert.match(missing.stderr, /NotFound|not found/);
});

test('get --raw through the service proxy reaches a ready endpoint', async () => {
  dialled.length = 0;
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

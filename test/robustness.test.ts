// Malformed and hostile requests: each gets a Kubernetes Status with the
// right code, the server stays up, and stored data does not change.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:https';
import { startHarness, type Harness } from './lib/harness.js';

let h: Harness;
let agent: Agent;
before(async () => {
  h = await startHarness();
  agent = new Agent({ keepAlive: true, ca: h.server.caPem });
  await h.k(['create', 'configmap', 'base', '--from-literal=a=1']);
});
after(async () => { agent.destroy(); await h.close(); });

interface Resp { code: number; body: string; json?: { kind?: string; code?: number; reason?: string; message?: string } }

function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, token = h.server.token): Promise<Resp> {
  const u = new URL(h.server.url);
  // A body the server refuses unread ends that connection: such a request gets one of its own.
  const big = body !== undefined && body.length > 1024 * 1024;
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, agent: big ? new Agent({ ca: h.server.caPem }) : agent, headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks).toString();
        let json;
        try { json = JSON.parse(b); } catch { /* not JSON */ }
        resolve({ code: res.statusCode ?? 0, body: b, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cms = '/api/v1/namespaces/default/configmaps';
const J = { 'Content-Type': 'application/json' };

test('malformed requests get the right Status and change nothing', async () => {
  const rev0 = await h.server.store.revision();
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const cases: [string, string, string | Buffer | undefined, Record<string, string>, number, string?][] = [
    ['POST', cms, '{not json', J, 400],
    ['POST', cms, '[]', J, 400],
    ['POST', cms, '42', J, 400],
    ['POST', cms, '', J, 400],
    ['POST', cms, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":${deep}}`, J, 400],
    ['POST', cms, '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}', J, 400, 'BadRequest'],
    ['POST', cms, '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}', J, 400],
    ['POST', cms, '{"apiVersion":"v1","kind":"ConfigMap","metadata":"oops"}', J, 400],
    ['POST', cms, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}', J, 400],
    ['POST', cms, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}', J, 422, 'Invalid'],
    ['POST', cms, 'k8s\0garbage', { 'Content-Type': 'application/vnd.kubernetes.protobuf' }, 400],
    ['POST', cms + '?fieldValidation=Bogus', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}', J, 400],
    ['POST', cms + '?dryRun=Maybe', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}', J, 400],
    ['POST', cms, Buffer.alloc(4 * 1024 * 1024, 'a'), J, 413],
    ['PUT', cms + '/base', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}', J, 400],
    ['PUT', cms + '/base', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"base","resourceVersion":"1"}}', J, 409, 'Conflict'],
    ['PUT', cms + '/missing', '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"missing"}}', J, 404, 'NotFound'],
    ['PATCH', cms + '/base', '{}', { 'Content-Type': 'text/plain' }, 415, 'UnsupportedMediaType'],
    ['PATCH', cms + '/base', '[{"op":"test","path":"/data/a","value":"2"}]', { 'Content-Type': 'application/json-patch+json' }, 422],
    ['PATCH', cms + '/base', '[{"op":"frobnicate","path":"/x"}]', { 'Content-Type': 'application/json-patch+json' }, 422],
    ['PATCH', cms + '/base', 'null', { 'Content-Type': 'application/merge-patch+json' }, 400],
    ['PATCH', cms + '/base', '{"data":{"$patch":"explode"}}', { 'Content-Type': 'application/strategic-merge-patch+json' }, 400],
    ['PATCH', cms + '/base', 'data: [unclosed', { 'Content-Type': 'application/apply-patch+yaml' }, 400],
    ['PATCH', cms + '/base?fieldManager=m', 'a: &a [*a, *a]', { 'Content-Type': 'application/apply-patch+yaml' }, 400],
    ['GET', cms + '?labelSelector=a%20in%20(', undefined, {}, 400],
    ['GET', cms + '?fieldSelector=spec.nodeName%3Dx', undefined, {}, 400],
    ['GET', cms + '?continue=bm90LWEtdG9rZW4', undefined, {}, 400],
    ['GET', cms + '?watch=1&resourceVersion=abc', undefined, {}, 400],
    ['DELETE', '/api/v1/namespaces', undefined, {}, 405, 'MethodNotAllowed'],
    ['POST', cms + '/base', '{}', J, 405, 'MethodNotAllowed'],
    ['GET', '/api/v1/frobs', undefined, {}, 404, 'NotFound'],
    ['GET', '/apis/nope.io/v1/things', undefined, {}, 404, 'NotFound'],
    ['GET', '/api/v1/namespaces/default/configmaps/base/nosuchsub', undefined, {}, 404],
    ['DELETE', cms + '/base', '{"propagationPolicy":"Sideways"}', J, 422, 'Invalid'],
    ['DELETE', cms + '/base', '{"preconditions":{"uid":"nope"}}', J, 409, 'Conflict'],
  ];
  for (const [method, path, body, headers, code, reason] of cases) {
    const r = await call(method, path, body, headers);
    const label = `${method} ${path.slice(0, 80)} → ${r.code} ${r.body.slice(0, 200)}`;
    assert.equal(r.code, code, label);
    assert.equal(r.json?.kind, 'Status', label);
    assert.equal(r.json?.code, code, label);
    if (reason) assert.equal(r.json?.reason, reason, label);
  }
  assert.equal(await h.server.store.revision(), rev0, 'no request above may write');
  const base = JSON.parse(await h.k(['get', 'cm', 'base', '-o', 'json']));
  assert.deepEqual(base.data, { a: '1' });
});

test('no token, or a wrong one: 401 Unauthorized', async () => {
  const r = await call('GET', cms, undefined, {}, 'wrong');
  assert.equal(r.code, 401);
  assert.equal(r.json?.reason, 'Unauthorized');
});

test('a watch from a compacted revision gets a 410 Expired ERROR event', async () => {
  await h.k(['label', 'cm', 'base', 'x=1']);
  const rev = await h.server.store.revision();
  await h.server.store.compact(rev);
  const r = await call('GET', `${cms}?watch=1&resourceVersion=1`);
  assert.equal(r.code, 200);
  const ev = JSON.parse(r.body.trim().split('\n')[0]!);
  assert.equal(ev.type, 'ERROR');
  assert.equal(ev.object.code, 410);
  assert.equal(ev.object.reason, 'Expired');
});

test('list paging with limit and continue', async () => {
  for (let i = 0; i < 5; i++) await h.k(['create', 'configmap', `page-${i}`]);
  const names: string[] = [];
  let cont = '';
  let pages = 0;
  do {
    const r = await call('GET', `${cms}?limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    const l = JSON.parse(r.body);
    names.push(...l.items.map((i: { metadata: { name: string } }) => i.metadata.name));
    cont = l.metadata.continue ?? '';
    pages++;
  } while (cont && pages < 10);
  assert.deepEqual(names, ['base', 'page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  assert.equal(pages, 3);
});

test('random garbage never crashes the server or returns 5xx', async () => {
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  const paths = ['/api/v1/namespaces/default/services', '/api/v1/namespaces/default/services/x', '/api/v1/nodes', '/apis/apps/v1/namespaces/default/deployments/d/scale',
    '/api/v1/namespaces/default/pods/p/binding', '/api/v1/namespaces/default/services/x/status', '/api', '/apis/discovery.k8s.io/v1', '/openapi/v3/api/v1', '/%ff%fe', '/api/v1/namespaces//pods'];
  const types = ['application/json', 'application/yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'application/vnd.kubernetes.protobuf'];
  let seed = 42;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const bodies = ['{}', '[]', 'null', '{"spec":{"ports":[{"port":"x"}]}}', '{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":-1,"nodePort":1}],"type":"NodePort","clusterIP":"300.1.1.1"}}',
    '{"metadata":{"name":"x","labels":{"a":5}},"spec":{"selector":[1,2]}}', 'k8s\u0000\u0001\u0002\u0003', '{"target":{"name":"n1"}}', '{"spec":{"replicas":"many"}}', '- a\n- b', '{"metadata":{"finalizers":[1]}}'];
  for (let i = 0; i < 300; i++) {
    const path = paths[rnd(paths.length)]! + (rnd(3) === 0 ? '?fieldManager=f&watch=' + rnd(2) : '');
    const r = await call(methods[rnd(methods.length)]!, path, bodies[rnd(bodies.length)], { 'Content-Type': types[rnd(types.length)]! });
    assert.ok(r.code < 500, `${path} → ${r.code} ${r.body.slice(0, 300)}`);
  }
  const v = await call('GET', '/version');
  assert.equal(v.code, 200);
});

// The web page over real HTTP: an API server in this process (memory storage)
// with the page mounted at /ui as the composition layer mounts it, then the page,
// its assets and the trace endpoint over HTTPS with the admin token, and the
// same through the real `kubectl proxy`, which is how a browser opens it —
// including a watch stream, the page's live feed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import { startHarness, waitForOutput, type Harness } from './lib/harness.js';
import { HttpClient } from '../src/client/http.js';
import { findResource } from '../src/api/resources.js';
import { explainService } from '../src/proxy/explain.js';
import { uiHandler } from '../src/ui/server.js';
import { node, pod, slice } from '../src/ui/testdata/cluster.js';

let h: Harness;
let client: HttpClient;

interface Reply { code: number; headers: IncomingHttpHeaders; body: string }

function get(path: string, o: { token?: string | null; method?: string } = {}): Promise<Reply> {
  const u = new URL(path, h.server.url);
  const token = o.token === undefined ? h.server.token : o.token;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(u, { method: o.method ?? 'GET', ca: h.server.caPem, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ code: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const r = (group: string, plural: string) => findResource(group, 'v1', plural)!;

before(async () => {
  h = await startHarness();
  h.server.api.nonResourceHandlers.set('/ui', uiHandler({ objects: h.server.api, explain: explainService }));
  client = HttpClient.fromKubeconfig(h.kubeconfig);
  const n = node('node-1', '172.30.0.11', '10.244.1.0/24');
  const created = await client.create<Node & { [k: string]: unknown }>(r('', 'nodes'), undefined, { ...n, status: undefined });
  await client.update(r('', 'nodes'), undefined, { ...created, status: n.status }, { subresource: 'status' });
  const p = pod('web-1', 'node-1', '10.244.1.5', { app: 'web' });
  const cp = await client.create<Pod & { [k: string]: unknown }>(r('', 'pods'), 'default', { ...p, metadata: { name: 'web-1', labels: { app: 'web' } }, status: undefined });
  await client.update(r('', 'pods'), 'default', { ...cp, status: p.status }, { subresource: 'status' });
  for (const name of ['web', 'empty']) {
    await client.create<Service & { [k: string]: unknown }>(r('', 'services'), 'default', {
      apiVersion: 'v1', kind: 'Service', metadata: { name },
      spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
  }
  const sl = slice('web', 8080, [{ pod: p }]);
  await client.create(r('discovery.k8s.io', 'endpointslices'), 'default', { ...sl, metadata: { ...sl.metadata, namespace: undefined } });
});

after(async () => {
  client?.close();
  await h?.close();
});

describe('/ui on the API server', () => {
  it('is authenticated like every API path', async () => {
    const res = await get('/ui/', { token: null });
    assert.equal(res.code, 401);
    assert.equal(JSON.parse(res.body).reason, 'Unauthorized');
  });

  it('redirects /ui to /ui/ (relative links), serves the page with a strict CSP', async () => {
    const redirect = await get('/ui');
    assert.equal(redirect.code, 301);
    assert.equal(redirect.headers.location, 'ui/');
    const page = await get('/ui/');
    assert.equal(page.code, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.match(page.body, /<script type="module" src="app.js"><\/script>/);
    assert.doesNotMatch(page.body, /https?:\/\//, 'no external resource');
    const css = await get('/ui/style.css');
    assert.equal(css.code, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const head = await get('/ui/style.css', { method: 'HEAD' });
    assert.deepEqual([head.code, head.body, head.headers['content-length']], [200, '', css.headers['content-length']]);
  });

  it('serves the page\'s modules, every one it imports, and they parse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svcnet-ui-'));
    try {
      const seen = new Set<string>();
      const queue = ['app.js'];
      while (queue.length) {
        const name = queue.shift()!;
        if (seen.has(name)) continue;
        seen.add(name);
        const js = await get(`/ui/${name}`);
        assert.equal(js.code, 200, name);
        assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
        assert.doesNotMatch(js.body, /sourceMappingURL/);
        // Only relative imports: a browser cannot resolve bare names (no bundler, no CDN).
        for (const m of js.body.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
          assert.match(m[1]!, /^\.\/[\w-]+\.js$/, `${name} imports ${m[1]}`);
          queue.push(m[1]!.slice(2));
        }
        writeFileSync(join(dir, name.replace(/\.js$/, '.mjs')), js.body);
        execFileSync(process.execPath, ['--check', join(dir, name.replace(/\.js$/, '.mjs'))]);
      }
      assert.deepEqual([...seen].sort(), ['app.js', 'topology.js']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers unknown paths and methods with a Status', async () => {
    const nf = await get('/ui/app.ts');
    assert.equal(nf.code, 404);
    assert.equal(nf.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(nf.body).reason, 'NotFound');
    const post = await get('/ui/api/trace?service=web', { method: 'POST' });
    assert.equal(post.code, 405);
    assert.equal(JSON.parse(post.body).reason, 'MethodNotAllowed');
  });

  it('traces a Service from the objects in the API: DNAT to the pod, REJECT without endpoints', async () => {
    const res = await get('/ui/api/trace?namespace=default&service=web&from=node/node-1');
    assert.equal(res.code, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/json');
    const t = JSON.parse(res.body);
    assert.equal(t.kind, 'ServiceTrace');
    assert.deepEqual(t.source, { kind: 'node', name: 'node-1', ip: '172.30.0.11', node: 'node-1' });
    assert.equal(t.paths.length, 1);
    const p = t.paths[0];
    assert.match(p.target, /^ClusterIP 10\.96\.\d+\.\d+:80\/TCP$/);
    assert.equal(p.verdict, 'DNAT');
    assert.deepEqual(p.endpoints.map((e: { ip: string; port: number; probability: number; pod: { name: string }; node: string }) => [e.ip, e.port, e.probability, e.pod.name, e.node]),
      [['10.244.1.5', 8080, 1, 'web-1', 'node-1']]);
    assert.ok(p.branches[0].steps.length > 0, 'the matched rules are in the answer');

    const from = await get('/ui/api/trace?service=web&from=pod/default/web-1&mode=iptables');
    assert.equal(from.code, 200, from.body);
    assert.equal(JSON.parse(from.body).source.ip, '10.244.1.5');

    const empty = JSON.parse((await get('/ui/api/trace?service=empty&from=node')).body);
    assert.deepEqual(empty.paths.map((x: { verdict: string }) => x.verdict), ['REJECT']);
  });

  it('an unknown Service is a 404 Status, a bad query a 400', async () => {
    const res = await get('/ui/api/trace?namespace=default&service=nope');
    assert.equal(res.code, 404);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'services "nope" not found',
      reason: 'NotFound', details: { name: 'nope', kind: 'services' }, code: 404,
    });
    const bad = await get('/ui/api/trace?service=web&mode=ipvs');
    assert.equal(bad.code, 400);
    assert.equal(JSON.parse(bad.body).reason, 'BadRequest');
  });
});

describe('through kubectl proxy (how a browser opens it)', () => {
  let proxy: ChildProcess | undefined;
  let base = '';
  before(async () => {
    proxy = h.spawnKubectl(['proxy', '--port=0']);
    const out = await waitForOutput(proxy, (o) => /Starting to serve on [\d.]+:\d+/.test(o));
    base = `http://${/Starting to serve on ([\d.]+:\d+)/.exec(out)![1]}`;
  });
  after(() => { proxy?.kill(); });

  const plain = (path: string): Promise<Reply> => new Promise((resolve, reject) => {
    httpRequest(new URL(path, base), (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ code: res.statusCode!, headers: res.headers, body }));
    }).on('error', reject).end();
  });

  it('serves the page, its script and the trace with the kubeconfig\'s credentials', async () => {
    const page = await plain('/ui/');
    assert.equal(page.code, 200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.equal((await plain('/ui/app.js')).code, 200);
    const t = await plain('/ui/api/trace?service=web&from=client');
    assert.equal(t.code, 200, t.body);
    assert.equal(JSON.parse(t.body).paths.length, 0, 'a ClusterIP is not reachable from outside');
  });

  it('streams watch events, as the page\'s live view needs', async () => {
    const list = JSON.parse((await plain('/api/v1/namespaces/default/services')).body);
    const events: { type: string; object: { metadata: { name: string } } }[] = [];
    const got = new Promise<void>((resolve, reject) => {
      const req = httpRequest(new URL(`/api/v1/namespaces/default/services?watch=true&resourceVersion=${list.metadata.resourceVersion}`, base), (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) if (l.trim()) events.push(JSON.parse(l));
          if (events.some((e) => e.object.metadata.name === 'live')) { req.destroy(); resolve(); }
        });
      });
      req.on('error', (e) => { if (!events.length) reject(e); });
      req.setTimeout(20_000, () => { req.destroy(); reject(new Error(`no event through kubectl proxy; got ${JSON.stringify(events)}`)); });
      req.end();
    });
    // Watching from the list's resourceVersion: the create is seen whenever the stream opens.
    await client.create(r('', 'services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'live' }, spec: { ports: [{ port: 80 }] } });
    await got;
    assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'live']]);
  });
});

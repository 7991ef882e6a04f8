// Real kubectl against the OpenAPI documents: a tiny HTTP server with just
// enough discovery to let kubectl find the resources, the /openapi/v3 index and
// documents, and a recorder for writes. Skipped when kubectl is not installed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { groupVersion, resources } from '../../api/resources.js';
import { openapiDocument, openapiIndex } from './index.js';

function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'kubectl');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}
const kubectl = findKubectl();
const skip = kubectl ? false : 'kubectl is not installed';

interface Request { method: string; url: string; contentType: string; body: string }
const requests: Request[] = [];
const objects = new Map<string, unknown>();
let server: Server | undefined;
let dir = '';

function discovery(path: string): unknown {
  if (path === '/version') return { major: '1', minor: '32', gitVersion: 'v1.32.4', platform: 'linux/amd64' };
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  const gvs = [...new Set(resources.map((r) => groupVersion(r)))];
  if (path === '/apis') {
    const groups = gvs.filter((gv) => gv.includes('/')).map((gv) => {
      const [name, version] = gv.split('/') as [string, string];
      return { name, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const gv = gvs.find((g) => path === (g.includes('/') ? `/apis/${g}` : `/api/${g}`));
  if (!gv) return undefined;
  const list = resources.filter((r) => groupVersion(r) === gv).flatMap((r) => [
    { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs, shortNames: r.shortNames, categories: r.categories },
    ...r.subresources.map((s) => ({ name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: s === 'scale' ? 'Scale' : r.kind, verbs: ['get', 'patch', 'update'] })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: list };
}

function handle(req: IncomingMessage, body: string, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  requests.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'] ?? '', body });
  const send = (code: number, value: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(typeof value === 'string' ? value : JSON.stringify(value));
  };
  const d = discovery(path);
  if (d !== undefined) return send(200, d);
  if (path === '/openapi/v3') return send(200, openapiIndex());
  if (path.startsWith('/openapi/v3/')) {
    const doc = openapiDocument(path.slice('/openapi/v3/'.length));
    return doc ? send(200, doc.body) : send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 });
  }
  if (req.method === 'POST') {
    const obj = JSON.parse(body) as { metadata: Record<string, unknown> };
    obj.metadata = { ...obj.metadata, uid: 'uid-1', resourceVersion: '1', creationTimestamp: '2025-01-01T00:00:00Z' };
    if (!url.searchParams.has('dryRun')) objects.set(`${path}/${String(obj.metadata.name)}`, obj);
    return send(201, obj);
  }
  const obj = objects.get(path);
  if (obj && (req.method === 'GET' || req.method === 'PATCH')) return send(200, obj);
  send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'svcnet-openapi-'));
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handle(req, body, res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await writeFile(join(dir, 'kubeconfig'), [
    'apiVersion: v1', 'kind: Config', 'current-context: t',
    `clusters: [{name: t, cluster: {server: "http://127.0.0.1:${port}"}}]`,
    'contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]',
    'users: [{name: t, user: {token: test}}]', '',
  ].join('\n'));
  await writeFile(join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n');
});

after(async () => {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // HOME: kubectl caches discovery and OpenAPI under ~/.kube/cache.
    const env = { PATH: process.env.PATH ?? '', HOME: dir, KUBECONFIG: join(dir, 'kubeconfig') };
    execFile(kubectl!, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('kubectl explain service.spec.ports prints the field docs', { skip }, async () => {
  const out = await run('explain', 'service.spec.ports');
  assert.match(out, /^KIND:\s+Service$/m);
  assert.match(out, /^FIELD: ports <\[\]ServicePort>$/m);
  assert.match(out, /The list of ports that are exposed by this service/);
  assert.match(out, /^ {2}port\t<integer> -required-$/m);
  assert.match(out, /^ {2}targetPort\t<IntOrString>$/m);
  assert.match(out, /^ {2}protocol\t<string>\n {2}enum: SCTP, TCP, UDP$/m);
});

test('kubectl explain svc --recursive walks the whole schema', { skip }, async () => {
  const out = await run('explain', 'svc', '--recursive');
  assert.match(out, /^ {2}metadata\t<ObjectMeta>$/m);
  assert.match(out, /^ {4}ports\t<\[\]ServicePort>$/m);
  assert.match(out, /^ {6}targetPort\t<IntOrString>$/m);
  assert.match(out, /^ {4}loadBalancer\t<LoadBalancerStatus>$/m);
});

test('kubectl create delegates validation to the server with fieldValidation=Strict', { skip }, async () => {
  requests.length = 0;
  assert.equal((await run('create', '-f', join(dir, 'svc.yaml'), '--dry-run=server', '-o', 'name')).trim(), 'service/web');
  const post = requests.find((r) => r.method === 'POST');
  assert.ok(post, requests.map((r) => `${r.method} ${r.url}`).join('\n'));
  const q = new URL(post.url, 'http://x').searchParams;
  assert.equal(new URL(post.url, 'http://x').pathname, '/api/v1/namespaces/default/services');
  assert.equal(q.get('fieldValidation'), 'Strict');
  assert.equal(q.get('dryRun'), 'All');
});

test('kubectl apply builds its strategic merge patch from our patch merge keys', { skip }, async () => {
  await run('create', '-f', join(dir, 'svc.yaml'), '--save-config');
  await writeFile(join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 81, targetPort: http}]\n');
  requests.length = 0;
  await run('apply', '-f', join(dir, 'svc.yaml'));
  const patch = requests.find((r) => r.method === 'PATCH');
  assert.ok(patch, requests.map((r) => `${r.method} ${r.url}`).join('\n'));
  assert.equal(patch.contentType, 'application/strategic-merge-patch+json');
  assert.equal(new URL(patch.url, 'http://x').searchParams.get('fieldValidation'), 'Strict');
  const body = JSON.parse(patch.body) as { spec: Record<string, unknown> };
  assert.deepEqual(body.spec['$setElementOrder/ports'], [{ port: 81 }]);
  assert.deepEqual(body.spec.ports, [{ port: 81, targetPort: 'http' }, { $patch: 'delete', port: 80 }]);
});

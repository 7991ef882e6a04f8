// HttpClient against the real API server (HTTPS, CA and token from the
// kubeconfig it writes), plus a raw HTTP server for what ours never sends:
// non-Status error bodies, watch lines split mid-character, slow answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StatusError } from '../api/errors.js';
import { findByKind } from '../api/resources.js';
import { startHarness, type Harness } from '../../test/lib/harness.js';
import { HttpClient, TransportError, statusErrorFromResponse } from './http.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { KObject, WatchEvent } from './types.js';

const cms = findByKind('v1', 'ConfigMap')!;
const namespaces = findByKind('v1', 'Namespace')!;
const services = findByKind('v1', 'Service')!;
const leases = findByKind('coordination.k8s.io/v1', 'Lease')!;

async function rejectsStatus(p: Promise<unknown>, code: number, reason: string): Promise<StatusError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StatusError, `expected a StatusError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.reason, reason);
    return e;
  }
  assert.fail(`expected ${code} ${reason}`);
}

/** Collects a watch's events; `until` resolves when pred holds on them. */
function collect(client: HttpClient, r = cms, ns: string | undefined, rv?: string) {
  const events: WatchEvent[] = [];
  const waiters: (() => void)[] = [];
  let closedWith: { err?: Error } | undefined;
  let closes = 0;
  const h = client.watch(r, ns, { resourceVersion: rv }, (e) => { events.push(e); waiters.forEach((w) => w()); },
    (err) => { closes++; closedWith = { err }; waiters.forEach((w) => w()); });
  return {
    events, handle: h,
    get closes() { return closes; },
    get closed() { return closedWith; },
    until(pred: () => boolean, ms = 5000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => { if (pred()) { clearTimeout(t); waiters.splice(waiters.indexOf(check), 1); resolve(); } };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(check), 1); reject(new Error(`timed out; events: ${JSON.stringify(events.map((e) => [e.type, e.object.metadata?.name]))}`)); }, ms);
        waiters.push(check);
        check();
      });
    },
  };
}

describe('HttpClient against the API server', () => {
  let h: Harness;
  let client: HttpClient;
  const ns = 'http-test';

  before(async () => {
    h = await startHarness();
    client = new HttpClient(loadKubeconfig(h.kubeconfig), { timeoutMs: 10_000 });
    await client.create(namespaces, undefined, { metadata: { name: ns } });
  });
  after(async () => {
    client?.close();
    await h?.close();
  });

  test('create, get, list, update, delete; cluster-scoped and group resources', async () => {
    const created = await client.create(cms, ns, { metadata: { name: 'one', labels: { app: 'x' } }, data: { a: '1' } });
    assert.equal(created.metadata?.namespace, ns);
    assert.ok(created.metadata?.resourceVersion);
    const got = await client.get(cms, ns, 'one');
    assert.deepEqual(got['data'], { a: '1' });
    assert.equal(got.kind, 'ConfigMap');
    await client.create(cms, ns, { metadata: { name: 'two' }, data: {} });
    const l = await client.list(cms, ns, { labelSelector: 'app=x' });
    assert.deepEqual(l.items.map((o) => o.metadata?.name), ['one']);
    assert.equal(l.items[0]!.kind, 'ConfigMap', 'list items get their apiVersion/kind');
    assert.ok(Number(l.metadata.resourceVersion) > 0);
    const f = await client.list(cms, ns, { fieldSelector: 'metadata.name=two' });
    assert.deepEqual(f.items.map((o) => o.metadata?.name), ['two']);
    const updated = await client.update(cms, ns, { ...got, data: { a: '2' } });
    assert.deepEqual(updated['data'], { a: '2' });
    assert.notEqual(updated.metadata?.resourceVersion, got.metadata?.resourceVersion);
    await client.delete(cms, ns, 'one');
    await rejectsStatus(client.get(cms, ns, 'one'), 404, 'NotFound');

    const nsObj = await client.get(namespaces, 'ignored-for-cluster-scoped', ns);
    assert.equal(nsObj.metadata?.name, ns);
    const st = await client.get(namespaces, undefined, ns, 'status');
    assert.equal((st['status'] as { phase?: string }).phase, 'Active');
    assert.equal(client.resourcePath(leases, ns, 'l', 'status'), `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/l/status`);
    assert.equal(client.resourcePath(namespaces, 'x', 'n'), '/api/v1/namespaces/n');
    const lease = await client.create(leases, ns, { metadata: { name: 'lock' }, spec: { holderIdentity: 'me' } });
    assert.equal(lease.apiVersion, 'coordination.k8s.io/v1');
    assert.equal((await client.list(leases, undefined)).items.some((o) => o.metadata?.name === 'lock'), true, 'all-namespaces list');
    await client.delete(leases, ns, 'lock', { propagationPolicy: 'Background', gracePeriodSeconds: 0 });
  });

  test('paged list with limit and continue', async () => {
    for (let i = 0; i < 5; i++) await client.create(cms, ns, { metadata: { name: `page-${i}`, labels: { paged: 'y' } } });
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const l = await client.list(cms, ns, { labelSelector: 'paged=y', limit: 2, continue: cont });
      names.push(...l.items.map((o) => o.metadata!.name!));
      cont = l.metadata.continue;
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });

  test('the four patch types, dry run, server-side apply creating and taking fields with force', async () => {
    await client.create(cms, ns, { metadata: { name: 'p' }, data: { a: '1', b: '2' } });
    let o = await client.patch(cms, ns, 'p', 'json', [{ op: 'replace', path: '/data/a', value: 'j' }]);
    assert.deepEqual(o['data'], { a: 'j', b: '2' });
    o = await client.patch(cms, ns, 'p', 'merge', { data: { b: null, c: 'm' } });
    assert.deepEqual(o['data'], { a: 'j', c: 'm' });
    o = await client.patch(cms, ns, 'p', 'strategic', { metadata: { labels: { s: 'y' } } });
    assert.deepEqual(o.metadata?.labels, { s: 'y' });
    const dry = await client.patch(cms, ns, 'p', 'merge', { data: { dry: 'run' } }, { dryRun: true });
    assert.equal((dry['data'] as Record<string, string>)['dry'], 'run');
    assert.equal(((await client.get(cms, ns, 'p'))['data'] as Record<string, string>)['dry'], undefined);

    const applied = await client.patch(cms, ns, 'applied', 'apply',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { x: '1' } }, { fieldManager: 'alice' });
    assert.deepEqual(applied['data'], { x: '1' });
    assert.ok(applied.metadata?.managedFields?.some((m) => m.manager === 'alice' && m.operation === 'Apply'));
    const bob = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { x: '2' } };
    await rejectsStatus(client.patch(cms, ns, 'applied', 'apply', bob, { fieldManager: 'bob' }), 409, 'Conflict');
    const forced = await client.patch(cms, ns, 'applied', 'apply', bob, { fieldManager: 'bob', force: true });
    assert.deepEqual(forced['data'], { x: '2' });
    await rejectsStatus(client.patch(cms, ns, 'applied', 'apply', bob), 400, 'BadRequest');
  });

  test('subresource write: service status', async () => {
    await client.create(services, ns, { metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
    const s = await client.patch(services, ns, 'lb', 'merge', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }, { subresource: 'status' });
    const ingressIPs = (o: KObject) => (o['status'] as { loadBalancer: { ingress: { ip: string }[] } }).loadBalancer.ingress.map((i) => i.ip);
    assert.deepEqual(ingressIPs(s), ['192.0.2.1']);
    // The main resource ignores status changes.
    const again = await client.patch(services, ns, 'lb', 'merge', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.9' }] } } });
    assert.deepEqual(ingressIPs(again), ['192.0.2.1']);
  });

  test('StatusErrors carry the server Status: 404, 409 AlreadyExists, 409 Conflict, 422, 401', async () => {
    const nf = await rejectsStatus(client.get(cms, ns, 'nope'), 404, 'NotFound');
    assert.equal(nf.message, 'configmaps "nope" not found');
    assert.equal(nf.status.details?.name, 'nope');
    await client.create(cms, ns, { metadata: { name: 'dup' } });
    const ae = await rejectsStatus(client.create(cms, ns, { metadata: { name: 'dup' } }), 409, 'AlreadyExists');
    assert.equal(ae.message, 'configmaps "dup" already exists');
    const cur = await client.get(cms, ns, 'dup');
    await client.update(cms, ns, { ...cur, data: { v: '1' } });
    const cf = await rejectsStatus(client.update(cms, ns, { ...cur, data: { v: 'stale' } }), 409, 'Conflict');
    assert.match(cf.message, /the object has been modified/);
    const inv = await rejectsStatus(client.create(cms, ns, { metadata: { name: 'Bad_Name' } }), 422, 'Invalid');
    assert.match(inv.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"/);
    assert.equal(inv.status.details?.causes?.[0]?.field, 'metadata.name');
    await rejectsStatus(client.delete(cms, ns, 'nope'), 404, 'NotFound');
    await rejectsStatus(client.get(cms, undefined, 'x'), 400, 'BadRequest');
    const anon = new HttpClient({ ...loadKubeconfig(h.kubeconfig), token: 'wrong' });
    try {
      await rejectsStatus(anon.get(cms, ns, 'dup'), 401, 'Unauthorized');
    } finally {
      anon.close();
    }
  });

  test('TLS: the server is verified against the kubeconfig CA', async () => {
    const { ca: _ca, ...noCA } = loadKubeconfig(h.kubeconfig);
    const c = new HttpClient(noCA);
    try {
      await assert.rejects(c.get(cms, ns, 'dup'), (e: unknown) => e instanceof TransportError && e.code === 'TLS');
    } finally {
      c.close();
    }
    const insecure = new HttpClient({ ...noCA, insecureSkipTLSVerify: true });
    try {
      assert.equal((await insecure.get(cms, ns, 'dup')).metadata?.name, 'dup');
    } finally {
      insecure.close();
    }
  });

  test('watch: events in order from a resourceVersion; close() ends it once without error', async () => {
    const l = await client.list(cms, ns);
    const w = collect(client, cms, ns, l.metadata.resourceVersion);
    await client.create(cms, ns, { metadata: { name: 'w1' }, data: { n: '1' } });
    await client.patch(cms, ns, 'w1', 'merge', { data: { n: '2' } });
    await client.delete(cms, ns, 'w1');
    await w.until(() => w.events.length >= 3);
    assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata?.name]), [['ADDED', 'w1'], ['MODIFIED', 'w1'], ['DELETED', 'w1']]);
    assert.deepEqual(w.events[1]!.object['data'], { n: '2' });
    w.handle.close();
    w.handle.close();
    assert.equal(w.closes, 1);
    assert.equal(w.closed?.err, undefined);
  });

  test('watch without resourceVersion starts with the current state as ADDED', async () => {
    const nsName = 'watch-initial';
    await client.create(namespaces, undefined, { metadata: { name: nsName } });
    await client.create(cms, nsName, { metadata: { name: 'i1' } });
    await client.create(cms, nsName, { metadata: { name: 'i2' } });
    const w = collect(client, cms, nsName);
    await w.until(() => w.events.length >= 2);
    assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata?.name]).sort(), [['ADDED', 'i1'], ['ADDED', 'i2']]);
    w.handle.close();
  });

  test('watch from a compacted revision: ERROR 410 event, then onClose with that StatusError', async () => {
    const old = (await client.list(cms, ns)).metadata.resourceVersion;
    await client.create(cms, ns, { metadata: { name: 'after-old' } });
    await h.server.store.compact(await h.server.store.revision());
    const w = collect(client, cms, ns, old);
    await w.until(() => w.closed !== undefined);
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]!.type, 'ERROR');
    assert.equal((w.events[0]!.object as unknown as { code: number }).code, 410);
    const err = w.closed!.err;
    assert.ok(err instanceof StatusError);
    assert.equal(err.code, 410);
    assert.equal(err.reason, 'Expired');
    assert.equal(w.closes, 1);
  });

  test('a watch on a missing namespace-less path fails with the Status through onClose', async () => {
    const bad = { ...cms, plural: 'nosuchthings' };
    const w = collect(client, bad, ns);
    await w.until(() => w.closed !== undefined);
    assert.ok(w.closed!.err instanceof StatusError);
    assert.equal((w.closed!.err as StatusError).code, 404);
  });
});

describe('HttpClient against a raw HTTP server', () => {
  let server: http.Server;
  let base: string;
  const handlers = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();

  before(async () => {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const hnd = handlers.get(path);
      if (hnd) hnd(req, res);
      else { res.writeHead(404); res.end('404 page not found'); }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('a non-Status error body becomes a synthesized Status', async () => {
    const c = new HttpClient({ server: base });
    try {
      handlers.set('/api/v1/namespaces/a/configmaps/x', (_q, res) => { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('etcd unavailable'); });
      const e = await rejectsStatus(c.get(cms, 'a', 'x'), 500, 'InternalError');
      assert.match(e.message, /etcd unavailable/);
      await rejectsStatus(c.get(cms, 'a', 'y'), 404, 'NotFound');
    } finally {
      c.close();
    }
    assert.equal(statusErrorFromResponse(409, '').reason, 'Conflict');
    assert.equal(statusErrorFromResponse(418, 'teapot').code, 418);
    const s = statusErrorFromResponse(403, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'nope', reason: 'Forbidden', code: 403 }));
    assert.equal(s.message, 'nope');
  });

  test('watch lines split mid-line and mid-character across chunks are reassembled', async () => {
    const ev = (type: string, name: string) => JSON.stringify({ type, object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'a', resourceVersion: '1' }, data: { s: 'é€😀' } } }) + '\n';
    const body = Buffer.from(ev('ADDED', 'a1') + ev('MODIFIED', 'a1') + ev('DELETED', 'a1'));
    handlers.set('/api/v1/namespaces/a/configmaps', (req, res) => {
      assert.equal(new URL(req.url!, 'http://x').searchParams.get('watch'), '1');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      // 7-byte chunks with pauses: every line and the 4-byte emoji straddle writes.
      let i = 0;
      const tick = () => {
        if (i >= body.length) { res.end(); return; }
        res.write(body.subarray(i, i + 7));
        i += 7;
        setTimeout(tick, 1);
      };
      tick();
    });
    const c = new HttpClient({ server: base });
    try {
      const events: WatchEvent[] = [];
      const err = await new Promise<Error | undefined>((resolve) => {
        c.watch(cms, 'a', {}, (e) => events.push(e), resolve);
      });
      assert.equal(err, undefined, 'a normal end');
      assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
      assert.ok(events.every((e) => (e.object as KObject & { data: { s: string } }).data.s === 'é€😀'));
    } finally {
      c.close();
    }
  });

  test('garbage on a watch stream fails the watch', async () => {
    handlers.set('/api/v1/namespaces/g/configmaps', (_q, res) => { res.writeHead(200); res.end('{"type":"ADDED","object":{}}\nnot json\n'); });
    const c = new HttpClient({ server: base });
    try {
      const events: WatchEvent[] = [];
      const err = await new Promise<Error | undefined>((resolve) => c.watch(cms, 'g', {}, (e) => events.push(e), resolve));
      assert.equal(events.length, 1);
      assert.ok(err instanceof TransportError && err.code === 'BAD_RESPONSE');
    } finally {
      c.close();
    }
  });

  test('non-watch requests time out; watches do not; close() aborts an open watch', async () => {
    const held: http.ServerResponse[] = [];
    handlers.set('/api/v1/namespaces/slow/configmaps/x', (_q, res) => { held.push(res); });
    handlers.set('/api/v1/namespaces/slow/configmaps', (_q, res) => { res.writeHead(200); res.flushHeaders(); held.push(res); });
    const c = new HttpClient({ server: base }, { timeoutMs: 150 });
    const started = Date.now();
    await assert.rejects(c.get(cms, 'slow', 'x'), (e: unknown) => e instanceof TransportError && e.code === 'ETIMEDOUT');
    assert.ok(Date.now() - started < 2000);
    const closed: { with?: { err?: Error } } = {};
    c.watch(cms, 'slow', {}, () => undefined, (err) => { closed.with = { err }; });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(closed.with, undefined, 'a quiet watch outlives the request timeout');
    c.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok((closed.with as { err?: Error } | undefined)?.err instanceof TransportError);
    await assert.rejects(c.get(cms, 'slow', 'x'), (e: unknown) => e instanceof TransportError && e.code === 'CLOSED');
    for (const r of held) r.destroy();
  });
});

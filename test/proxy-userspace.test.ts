// The userspace data plane with real sockets on loopback (no root needed: ports ≥ 1024, and all of
// 127.0.0.0/8 is local on Linux, so "ClusterIPs" like 127.x.y.z can be bound):
// round-robin, ClientIP affinity, retry on a dead endpoint, refusal without endpoints,
// listeners following the snapshot, connections surviving a reconfigure, half-close
// and bulk integrity for TCP; sessions, affinity, endpoint removal and refusal for UDP;
// a hard restart (close(): open connections end with the proxy, which relays them; the service
// comes back; a graceful SIGTERM stop that drains them is src/proxy/userspace/drain.test.ts);
// the connect timeout, and the relay's own read buffers (shared, private, budget) with
// concurrent bulk transfers through full kernel buffers (byte-exact, buffers returned).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Service, ServicePort } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { buildSnapshot, type ProxySnapshot } from '../src/proxy/snapshot.js';
import { UserspaceProxy, desiredListeners } from '../src/proxy/userspace/proxier.js';
import { RoundRobinBalancer } from '../src/proxy/userspace/balancer.js';
import { RelayBufferPool } from '../src/proxy/userspace/buffers.js';
import { ProxyMetrics } from '../src/proxy/metrics.js';
import { FakeClock } from '../src/client/clock.js';
import { FakeClient } from '../src/client/fake.js';
import { findResource } from '../src/api/resources.js';
import { startProxy } from '../src/proxy/runtime/proxy.js';

// A /16 of loopback of our own, so parallel test files do not collide.
const net16 = `127.${100 + Math.floor(Math.random() * 150)}`;
let vipSeq = 1;
const nextVIP = () => `${net16}.${Math.floor(vipSeq / 250)}.${(vipSeq++ % 250) + 1}`;

const closers: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of closers.reverse()) await c(); });

interface Backend { name: string; ip: string; port: number }

async function tcpBackend(name: string, handler?: (s: net.Socket) => void): Promise<Backend> {
  const server = net.createServer({ allowHalfOpen: true }, handler ?? ((s) => { s.on('error', () => undefined); s.end(`${name}\n`); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  closers.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { name, ip: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

async function udpBackend(name: string): Promise<Backend> {
  const s = dgram.createSocket('udp4');
  s.on('message', (_m, r) => s.send(name, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => s.close(() => r())));
  return { name, ip: '127.0.0.1', port: s.address().port };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function svc(name: string, ip: string, ports: ServicePort[], extra: Partial<Service['spec']> = {}): Service {
  return { metadata: { name, namespace: 'default' }, spec: { clusterIP: ip, clusterIPs: [ip], ports, ...extra } };
}

/** One slice per backend, since each listens on its own port. */
function slices(service: string, portName: string, protocol: 'TCP' | 'UDP', backends: { ip: string; port: number }[]): EndpointSlice[] {
  return backends.map((b, i) => ({
    metadata: { name: `${service}-${i}`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: portName, port: b.port, protocol }],
    endpoints: [{ addresses: [b.ip], conditions: { ready: true } }],
  }));
}

function snap(services: Service[], sl: EndpointSlice[]): ProxySnapshot {
  return buildSnapshot({ services, slices: sl, nodeName: 'node-a', nodeIPs: ['127.0.0.1'] });
}

function newProxy(opts: ConstructorParameters<typeof UserspaceProxy>[0] = {}): UserspaceProxy {
  const p = new UserspaceProxy({ connectTimeoutMs: 500, ...opts });
  closers.push(() => p.close());
  return p;
}

/** Connects, reads until EOF; resolves with the text or the error code. */
function fetchTCP(ip: string, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port, ...(localAddress ? { localAddress } : {}) });
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data.trim()));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function many(n: number, f: () => Promise<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await f();
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

function udpAsk(ip: string, port: number, sock?: dgram.Socket): Promise<string> {
  return new Promise((resolve) => {
    const s = sock ?? dgram.createSocket('udp4');
    const done = (v: string) => {
      clearTimeout(t);
      s.off('message', onMsg);
      s.off('error', onErr);
      if (!sock) s.close();
      resolve(v);
    };
    const onMsg = (m: Buffer) => done(m.toString());
    const onErr = (e: NodeJS.ErrnoException) => done(e.code ?? e.message);
    const t = setTimeout(() => done('TIMEOUT'), 1500);
    s.on('message', onMsg);
    s.on('error', onErr);
    s.send('q', port, ip);
  });
}

test('desiredListeners: ClusterIP and NodePort addresses; no endpoints, no listener', () => {
  const s = snap([
    svc('a', '127.1.0.1', [{ name: 'p', port: 80, nodePort: 30080 }], { type: 'NodePort' }),
    svc('b', '127.1.0.2', [{ name: 'p', port: 8080 }]),
  ], [...slices('a', 'p', 'TCP', [{ ip: '127.0.0.1', port: 8080 }])]);
  const d = desiredListeners(s, ['127.0.0.1']);
  assert.deepEqual(d.map((l) => `${l.kind} ${l.key} -> ${l.endpoints.map((e) => e.key).join(',')}`), [
    'clusterIP TCP|127.1.0.1|80 -> 127.0.0.1:8080',
    'nodePort TCP|127.0.0.1|30080 -> 127.0.0.1:8080',
  ]);
});

test('balancer: round-robin keeps its place across updates; affinity expires', () => {
  const clock = new FakeClock(0);
  const b = new RoundRobinBalancer(clock);
  const eps = ['a', 'b', 'c'].map((k, i) => ({ ip: '10.0.0.' + i, port: 80, key: k }));
  b.update(eps, { clientIP: false, timeoutMs: 0 });
  assert.deepEqual([1, 2, 3, 4].map(() => b.pick('x')!.key), ['a', 'b', 'c', 'a']);
  b.update(eps.slice(1), { clientIP: true, timeoutMs: 1000 });
  const first = b.pick('client')!.key;
  clock.advance(900);
  assert.equal(b.pick('client')!.key, first);
  clock.advance(900);
  assert.equal(b.pick('client')!.key, first, 'each use refreshes the timer');
  clock.advance(1001);
  assert.equal(b.stickyEndpoint('client'), undefined, 'expired');
  assert.equal(b.pick('client', new Set(['b', 'c'])), undefined, 'everything excluded');
});

test('TCP: round-robin spreads connections evenly over the endpoints', async () => {
  const bs = await Promise.all(['b1', 'b2', 'b3'].map((n) => tcpBackend(n)));
  const vip = nextVIP();
  const p = newProxy();
  const r = await p.apply(snap([svc('rr', vip, [{ name: 'p', port: 8080 }])], slices('rr', 'p', 'TCP', bs)));
  assert.deepEqual(r.failed, []);
  const counts = await many(30, () => fetchTCP(vip, 8080));
  assert.deepEqual(Object.fromEntries(counts), { b1: 10, b2: 10, b3: 10 });
});

test('TCP: ClientIP affinity sticks; another client may land elsewhere', async () => {
  const bs = await Promise.all(['s1', 's2', 's3'].map((n) => tcpBackend(n)));
  const vip = nextVIP();
  const p = newProxy();
  await p.apply(snap([svc('sticky', vip, [{ name: 'p', port: 8080 }], { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })],
    slices('sticky', 'p', 'TCP', bs)));
  const counts = await many(9, () => fetchTCP(vip, 8080, '127.0.0.1'));
  assert.equal(counts.size, 1, JSON.stringify([...counts]));
  const other = await many(9, () => fetchTCP(vip, 8080, '127.0.0.2'));
  assert.equal(other.size, 1);
  assert.notDeepEqual([...other.keys()], [...counts.keys()], 'the second client got the next endpoint');
  assert.match(p.describe(), /affinity=ClientIP\/60s/);
});

test('TCP: a refused endpoint is skipped; the connection goes to a live one', async () => {
  const live = await Promise.all(['l1', 'l2'].map((n) => tcpBackend(n)));
  const dead = { ip: '127.0.0.1', port: await deadPort() };
  const vip = nextVIP();
  const metrics = new ProxyMetrics('userspace');
  const p = newProxy({ metrics });
  await p.apply(snap([svc('retry', vip, [{ name: 'p', port: 8080 }])], slices('retry', 'p', 'TCP', [dead, ...live])));
  const counts = await many(12, () => fetchTCP(vip, 8080));
  assert.deepEqual(new Set(counts.keys()), new Set(['l1', 'l2']), JSON.stringify([...counts]));
  assert.ok(metrics.userspaceConnectFailuresTotal.value() >= 4, 'the dead endpoint was tried and skipped');
  assert.equal(metrics.userspaceConnectionsTotal.value({ protocol: 'TCP' }), 12);
  // Every endpoint dead: the client is reset, it never hangs.
  const vip2 = nextVIP();
  await p.apply(snap([svc('retry', vip, [{ name: 'p', port: 8080 }]), svc('alldead', vip2, [{ name: 'p', port: 8080 }])],
    [...slices('retry', 'p', 'TCP', live), ...slices('alldead', 'p', 'TCP', [dead])]));
  assert.equal(await fetchTCP(vip2, 8080), 'ECONNRESET');
});

/**
 * An endpoint that never answers: a listener with a backlog of 0 whose queue is already
 * full, so the kernel drops further SYNs (the connect neither succeeds nor fails).
 */
async function silentEndpoint(): Promise<{ ip: string; port: number }> {
  const py = spawn('/usr/bin/python3', ['-c', [
    'import socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True); sys.stdin.read()',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  closers.push(() => { py.kill(); });
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', reject);
  });
  // Fill the one-connection accept queue.
  const filler = net.connect({ host: '127.0.0.1', port });
  filler.on('error', () => undefined);
  closers.push(() => { filler.destroy(); });
  await new Promise((r) => filler.once('connect', r));
  return { ip: '127.0.0.1', port };
}

test('TCP: an endpoint that does not answer is given up after the connect timeout; the next one serves', async () => {
  const live = await tcpBackend('patient');
  const silent = await silentEndpoint();
  const vip = nextVIP();
  const metrics = new ProxyMetrics('userspace');
  const p = newProxy({ metrics, connectTimeoutMs: 300 });
  await p.apply(snap([svc('slow', vip, [{ name: 'p', port: 8080 }])], slices('slow', 'p', 'TCP', [silent, live])));
  // Round-robin: at least one of two connections picks the silent endpoint first (both,
  // if it comes first in the rotation: the retry moves the rotation on to it again).
  const took: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = Date.now();
    const giveUp = new Promise<string>((r) => setTimeout(() => r('no answer within 5 s'), 5000).unref());
    assert.equal(await Promise.race([fetchTCP(vip, 8080), giveUp]), 'patient');
    took.push(Date.now() - t0);
  }
  assert.ok(Math.max(...took) >= 250, `one waited for the timeout (${took.join(', ')} ms)`);
  const failures = metrics.userspaceConnectFailuresTotal.value();
  assert.ok(failures >= 1 && failures <= 2, `${failures} connect failures`);
});

test('TCP: no endpoints means connection refused; listeners follow the snapshot', async () => {
  const b = await tcpBackend('only');
  const vip = nextVIP();
  const p = newProxy();
  const empty = snap([svc('follow', vip, [{ name: 'p', port: 8080 }])], []);
  await p.apply(empty);
  assert.equal(await fetchTCP(vip, 8080), 'ECONNREFUSED');
  assert.deepEqual(p.listeners(), []);
  await p.apply(snap([svc('follow', vip, [{ name: 'p', port: 8080 }])], slices('follow', 'p', 'TCP', [b])));
  assert.equal(await fetchTCP(vip, 8080), 'only');
  assert.equal(p.listeners().length, 1);
  await p.apply(snap([], []));
  assert.equal(await fetchTCP(vip, 8080), 'ECONNREFUSED', 'service deleted: listener closed');
  await p.apply(snap([svc('follow', vip, [{ name: 'p', port: 8080 }])], slices('follow', 'p', 'TCP', [b])));
  assert.equal(await fetchTCP(vip, 8080), 'only', 'and bound again');
});

test('TCP: an open connection survives endpoint changes and even its service being removed', async () => {
  const echo = (s: net.Socket) => { s.on('error', () => undefined); s.pipe(s); };
  const e1 = await tcpBackend('e1', echo);
  const e2 = await tcpBackend('e2', echo);
  const vip = nextVIP();
  const p = newProxy();
  await p.apply(snap([svc('live', vip, [{ name: 'p', port: 8080 }])], slices('live', 'p', 'TCP', [e1])));
  const c = net.connect({ host: vip, port: 8080 });
  const got: string[] = [];
  c.on('data', (d) => got.push(d.toString()));
  const roundTrip = async (msg: string) => {
    const before = got.join('').length;
    c.write(msg);
    for (let i = 0; i < 100 && got.join('').length < before + msg.length; i++) await new Promise((r) => setTimeout(r, 10));
    return got.join('').slice(before);
  };
  assert.equal(await roundTrip('one'), 'one');
  await p.apply(snap([svc('live', vip, [{ name: 'p', port: 8080 }])], slices('live', 'p', 'TCP', [e2])));
  assert.equal(await roundTrip('two'), 'two');
  await p.apply(snap([], []));
  assert.equal(await roundTrip('three'), 'three');
  c.destroy();
});

test('TCP: half-close is relayed and a bulk transfer arrives intact (backpressure)', async () => {
  // The backend reads everything, and only after the client's FIN sends it all back, then closes.
  const collectThenEcho = (s: net.Socket) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => { s.end(Buffer.concat(chunks)); });
    s.on('error', () => undefined);
  };
  const b = await tcpBackend('bulk', collectThenEcho);
  const vip = nextVIP();
  const p = newProxy();
  await p.apply(snap([svc('bulk', vip, [{ name: 'p', port: 8080 }])], slices('bulk', 'p', 'TCP', [b])));
  const payload = randomBytes(8 * 1024 * 1024);
  const received = await new Promise<Buffer>((resolve, reject) => {
    const c = net.connect({ host: vip, port: 8080, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => resolve(Buffer.concat(chunks)));
    c.on('error', reject);
    c.end(payload);
  });
  assert.equal(received.length, payload.length);
  assert.equal(createHash('sha256').update(received).digest('hex'), createHash('sha256').update(payload).digest('hex'));
});

test('relay buffers: a full shared read goes bulk, a small one comes back; a pending write keeps its buffer; the budget is a cap', () => {
  const pool = new RelayBufferPool({ sharedBytes: 1024, privateBytes: 4096, budgetBytes: 8192 });
  const sh = pool.shared;
  assert.equal(pool.next(sh, 100, false), sh, 'light traffic stays on the shared buffer');
  const a = pool.next(sh, 1024, false);
  assert.notEqual(a, sh, 'a full shared read promotes');
  assert.equal(a.length, 4096);
  assert.equal(pool.next(a, 4096, false), a, 'bulk keeps its buffer');
  assert.equal(pool.next(a, 10, true), a, 'a write still pending from it: kept, whatever the size');
  const b = pool.next(sh, 1024, false);
  assert.notEqual(b, a);
  assert.equal(pool.inUse, 2);
  assert.equal(pool.next(sh, 1024, false), sh, 'budget spent (2 × 4096): stays shared');
  assert.equal(pool.next(a, 10, false), sh, 'a small read hands the private buffer back');
  assert.equal(pool.inUse, 1);
  assert.equal(pool.next(sh, 1024, false), a, 'and it is reused');
  assert.deepEqual([pool.promotions, pool.demotions], [3, 1]);
});

/** Echoes, with backpressure. */
function echo(s: net.Socket): void {
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => { if (!s.write(d)) s.pause(); });
  s.on('drain', () => s.resume());
  s.on('end', () => s.end());
}

/** `bytes` of 32-bit words stamped with their offset and `id`: any byte lost, moved or taken from another connection shows. */
function stamped(id: number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let off = 0; off + 4 <= bytes; off += 4) b.writeUInt32LE(((off >>> 2) ^ (id * 0x9e3779b1)) >>> 0, off);
  b.fill(id, bytes & ~3);
  return b;
}

/**
 * Sends `payload` and reads the echo back, but not before `waitMs`: by then every buffer
 * on the way is full and the relay's writes wait on both sides. Resolves with what came back.
 */
function echoThrough(ip: string, port: number, payload: Buffer, waitMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: ip, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.pause();
    setTimeout(() => c.resume(), waitMs);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => { c.end(); resolve(Buffer.concat(chunks)); });
    c.on('error', reject);
    // In pieces of every size, so reads of every size happen on the way.
    let off = 0;
    const send = (): void => {
      while (off < payload.length) {
        const len = Math.min(payload.length - off, 1 + ((off * 7919) % (300 * 1024)));
        const more = c.write(payload.subarray(off, off + len));
        off += len;
        if (!more) { c.once('drain', send); return; }
      }
      c.end();
    };
    send();
  });
}

for (const [name, opts] of [
  ['default buffers', {}],
  ['a budget of one bulk buffer: the other connections copy out of the shared one', { relayBuffers: { privateBytes: 256 * 1024, budgetBytes: 256 * 1024 } }],
  ['accepted sockets read through \'data\' events', { streamClientReads: true }],
] as const) {
  test(`TCP: concurrent bulk transfers both ways arrive intact through full buffers (${name})`, async () => {
    const b = await tcpBackend('echo', echo);
    const vip = nextVIP();
    const p = newProxy(opts as ConstructorParameters<typeof UserspaceProxy>[0]);
    await p.apply(snap([svc('echo', vip, [{ name: 'p', port: 8080 }])], slices('echo', 'p', 'TCP', [b])));
    // Enough to fill the kernel buffers on the way while the clients wait, so writes wait (asserted below).
    const payloads = [1, 2, 3].map((id) => stamped(id, 16 * 1024 * 1024 + id * 101));
    const echoed = await Promise.all(payloads.map((pl) => echoThrough(vip, 8080, pl, 300)));
    for (const [i, e] of echoed.entries()) {
      assert.equal(e.length, payloads[i]!.length);
      assert.ok(e.equals(payloads[i]!), `connection ${i + 1}: the echo differs from what was sent`);
    }
    assert.ok(p.buffers.stalls > 0, 'writes waited for the kernel (backpressure)');
    if (!('streamClientReads' in opts)) assert.ok(p.buffers.promotions > 0, 'bulk buffers were used');
    // Every relay closed, every bulk buffer back in the pool.
    for (let i = 0; i < 100 && (p.listeners()[0]!.active > 0 || p.buffers.inUse > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(p.listeners()[0]!.active, 0);
    assert.equal(p.buffers.inUse, 0);
  });
}

test('UDP: sessions per client spread round-robin; affinity; endpoint removal moves the session; no endpoints is refused', async () => {
  const bs = await Promise.all(['u1', 'u2', 'u3'].map((n) => udpBackend(n)));
  const vip = nextVIP();
  const p = newProxy({ udpIdleTimeoutMs: 5000 });
  const service = svc('dns', vip, [{ name: 'dns', port: 5353, protocol: 'UDP' }]);
  await p.apply(snap([service], slices('dns', 'dns', 'UDP', bs)));
  const counts = await many(12, () => udpAsk(vip, 5353));
  assert.deepEqual(Object.fromEntries(counts), { u1: 4, u2: 4, u3: 4 });

  // One client socket = one session: it stays on its endpoint.
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  const first = await udpAsk(vip, 5353, client);
  assert.equal(await udpAsk(vip, 5353, client), first);
  assert.equal(await udpAsk(vip, 5353, client), first);
  // Its endpoint goes away: the session is dropped and the next datagram goes elsewhere.
  const rest = bs.filter((b) => b.name !== first);
  await p.apply(snap([service], slices('dns', 'dns', 'UDP', rest)));
  const moved = await udpAsk(vip, 5353, client);
  assert.ok(rest.some((b) => b.name === moved), `moved to ${moved}`);
  client.close();

  // Affinity across sessions (new client sockets, same IP).
  const sticky = svc('dns', vip, [{ name: 'dns', port: 5353, protocol: 'UDP' }], { sessionAffinity: 'ClientIP' });
  await p.apply(snap([sticky], slices('dns', 'dns', 'UDP', bs)));
  const stuck = await many(6, () => udpAsk(vip, 5353));
  assert.equal(stuck.size, 1, JSON.stringify([...stuck]));

  // No endpoints: nothing is bound, the kernel answers port-unreachable.
  await p.apply(snap([service], []));
  const c = dgram.createSocket('udp4');
  await new Promise<void>((r) => c.connect(5353, vip, r));
  const refused = await new Promise<string>((resolve) => {
    const t = setTimeout(() => resolve('TIMEOUT'), 1500);
    c.on('message', (m) => { clearTimeout(t); resolve(m.toString()); });
    c.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(t); resolve(e.code ?? e.message); });
    c.send('q');
  });
  assert.equal(refused, 'ECONNREFUSED');
  c.close();
});

test('UDP: an endpoint that answers port-unreachable is left for another one', async () => {
  const live = await udpBackend('alive');
  const deadSock = dgram.createSocket('udp4');
  await new Promise<void>((r) => deadSock.bind(0, '127.0.0.1', r));
  const dead = { ip: '127.0.0.1', port: deadSock.address().port };
  await new Promise<void>((r) => deadSock.close(() => r()));
  const vip = nextVIP();
  const p = newProxy();
  await p.apply(snap([svc('udpretry', vip, [{ name: 'd', port: 5300, protocol: 'UDP' }])], slices('udpretry', 'd', 'UDP', [dead, live])));
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  // The first datagram of a session that went to the dead endpoint is lost (UDP); the retry lands.
  let reply = await udpAsk(vip, 5300, client);
  if (reply === 'TIMEOUT') reply = await udpAsk(vip, 5300, client);
  assert.equal(reply, 'alive');
  client.close();
});

test('startProxy in userspace mode: from the API objects to a relayed connection', async () => {
  const b = await tcpBackend('api');
  const vip = nextVIP();
  const client = new FakeClient();
  await client.create(findResource('', 'v1', 'services')!, 'default', svc('viaapi', vip, [{ name: 'p', port: 8080 }]) as never);
  const proxy = await startProxy({ client, nodeName: 'node-a', mode: 'userspace', minSyncPeriodMs: 0, metricsAddress: '127.0.0.1:0' });
  try {
    assert.equal(await fetchTCP(vip, 8080), 'ECONNREFUSED', 'no endpoints yet');
    await client.create(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, 'default', slices('viaapi', 'p', 'TCP', [b])[0] as never);
    for (let i = 0; i < 200 && !proxy.lastRules().includes(`${vip}:8080`); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(proxy.lastRules(), new RegExp(`^TCP ${vip.replaceAll('.', '\\.')}:8080 \\(clusterIP\\) -> default/viaapi:p \\[127\\.0\\.0\\.1:${b.port}\\]$`, 'm'));
    assert.equal(await fetchTCP(vip, 8080), 'api');
    const m = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(m, /^svcnet_proxy_userspace_connections_total\{protocol="TCP"\} 1$/m);
    assert.match(m, /^svcnet_proxy_userspace_listeners\{protocol="TCP"\} 1$/m);
  } finally {
    await proxy.close();
  }
  assert.equal(await fetchTCP(vip, 8080), 'ECONNREFUSED', 'closing the proxy closes its listeners');
});

// kube-proxy restarting, userspace edition. In the kernel modes the rules and conntrack
// outlive the proxy process, so open connections survive its restart (test/proxy-cluster
// .test.ts checks that on a 3-node cluster). Here the proxy IS the relay of every
// connection: closing it ends them, as kube-proxy's old userspace mode did (a graceful stop,
// SIGTERM to `svcnet proxy`, keeps relaying them while a new proxy takes over, as HAProxy
// reloads: drain.test.ts and test/proxy-cluster.test.ts). What must hold here is that the
// service comes back: a new proxy with the same options serves new connections as soon as
// it has started.
test('startProxy in userspace mode, restarted: open connections end with it, the new one serves at once', async () => {
  const echo = await tcpBackend('echo', (s) => { s.on('error', () => undefined); s.pipe(s); });
  const vip = nextVIP();
  const client = new FakeClient();
  await client.create(findResource('', 'v1', 'services')!, 'default', svc('restart', vip, [{ name: 'p', port: 8080 }]) as never);
  await client.create(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, 'default', slices('restart', 'p', 'TCP', [echo])[0] as never);
  const opts = { client, nodeName: 'node-a', mode: 'userspace' as const, minSyncPeriodMs: 0, metricsAddress: '' };
  let proxy = await startProxy(opts);
  try {
    const conn = net.connect({ host: vip, port: 8080 });
    const ended = new Promise<void>((r) => conn.once('close', () => r()));
    conn.on('error', () => undefined);
    const firstLine = new Promise<string>((r) => conn.once('data', (d) => r(d.toString())));
    conn.write('ping\n');
    assert.equal(await firstLine, 'ping\n', 'relayed through the proxy');
    await proxy.close();
    await ended;
    assert.ok(conn.destroyed, 'the relayed connection ended with its proxy');
    proxy = await startProxy(opts);
    const again = net.connect({ host: vip, port: 8080 });
    again.on('error', () => undefined);
    const line = new Promise<string>((r) => again.once('data', (d) => r(d.toString())));
    again.write('pong\n');
    assert.equal(await line, 'pong\n', 'the restarted proxy serves new connections after its first sync');
    again.destroy();
  } finally {
    await proxy.close();
  }
});

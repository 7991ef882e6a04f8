// The userspace proxy's graceful stop (HAProxy's soft stop / reload), with real sockets on
// loopback: once the stop signal aborts, listeners close at once (new connections are
// refused, a second proxy can bind the same addresses) while relays already open keep
// exchanging data; close() waits for them (or the drain timeout) and then ends the rest.
// A new proxy waits for the addresses the old one still holds (in the background: its
// apply is not held up) and takes them within ms once the old one lets go; UDP addresses
// are shared (SO_REUSEADDR) so the new one binds at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { buildSnapshot, type ProxySnapshot } from '../snapshot.js';
import { UserspaceProxy } from './proxier.js';

const net16 = `127.${100 + Math.floor(Math.random() * 150)}`;
let seq = 1;
const nextVIP = () => `${net16}.${200 + Math.floor(seq / 250)}.${(seq++ % 250) + 1}`;

const closers: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of closers.reverse()) await c(); });

/** An echo server that prefixes each line with its name. */
async function echo(name: string): Promise<{ ip: string; port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(`${name}:${d.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { ip: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

function snap(vip: string, b: { ip: string; port: number }): ProxySnapshot {
  const svc: Service = { metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: vip, clusterIPs: [vip], ports: [{ name: 'p', port: 8080 }] } };
  const slice: EndpointSlice = {
    metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', ports: [{ name: 'p', port: b.port, protocol: 'TCP' }],
    endpoints: [{ addresses: [b.ip], conditions: { ready: true } }],
  };
  return buildSnapshot({ services: [svc], slices: [slice], nodeName: 'node-a', nodeIPs: ['127.0.0.1'] });
}

function udpSnap(vip: string, b: { ip: string; port: number }): ProxySnapshot {
  const svc: Service = { metadata: { name: 'dns', namespace: 'default' }, spec: { clusterIP: vip, clusterIPs: [vip], ports: [{ name: 'u', port: 8053, protocol: 'UDP' }] } };
  const slice: EndpointSlice = {
    metadata: { name: 'dns-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'dns' } },
    addressType: 'IPv4', ports: [{ name: 'u', port: b.port, protocol: 'UDP' }],
    endpoints: [{ addresses: [b.ip], conditions: { ready: true } }],
  };
  return buildSnapshot({ services: [svc], slices: [slice], nodeName: 'node-a', nodeIPs: ['127.0.0.1'] });
}

/** A line-at-a-time connection: ask() writes a line and resolves with the answer, or the error/close. */
async function lineConn(ip: string, port: number): Promise<{ ask(l: string): Promise<string>; closed: Promise<void>; sock: net.Socket }> {
  const sock = net.connect({ host: ip, port });
  let waiter: ((s: string) => void) | undefined;
  let ended: string | undefined;
  const closed = new Promise<void>((r) => sock.once('close', () => { ended = 'CLOSED'; waiter?.('CLOSED'); r(); }));
  sock.on('error', (e: NodeJS.ErrnoException) => { ended = e.code ?? 'ERROR'; waiter?.(ended); });
  sock.on('data', (d) => waiter?.(d.toString()));
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  return {
    sock, closed,
    ask: (l) => (ended ? Promise.resolve(ended) : new Promise((r) => { waiter = (s) => { waiter = undefined; r(s); }; sock.write(`${l}\n`); })),
  };
}

function connectResult(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    s.once('connect', () => { s.destroy(); resolve('connected'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('graceful stop: listeners close at once, open relays keep going, a new proxy takes the address; close() waits for them', async () => {
  const b = await echo('b');
  const vip = nextVIP();
  const stop = new AbortController();
  const drains: number[] = [];
  const old = new UserspaceProxy({ stop: stop.signal, onDrain: (n) => drains.push(n) });
  closers.push(() => old.close());
  await old.apply(snap(vip, b));
  const c1 = await lineConn(vip, 8080);
  const c2 = await lineConn(vip, 8080);
  assert.equal(await c1.ask('one'), 'b:one\n');
  assert.equal(await c2.ask('two'), 'b:two\n');

  stop.abort();
  assert.ok(old.stopped);
  assert.equal(old.listeners().length, 0, 'no listener left');
  assert.deepEqual((await old.apply(snap(vip, b))).failed, [], 'a stopped proxy binds nothing');
  assert.equal(old.listeners().length, 0);
  assert.equal(await connectResult(vip, 8080), 'ECONNREFUSED', 'new connections are refused once stopped');
  assert.equal(await c1.ask('still'), 'b:still\n', 'an open relay keeps going');

  // The new proxy binds the address while the old one drains.
  const next = new UserspaceProxy({ bindRetryMs: 0 });
  closers.push(() => next.close());
  assert.deepEqual(await next.apply(snap(vip, b)), { failed: [], waiting: [] });
  const c3 = await lineConn(vip, 8080);
  assert.equal(await c3.ask('new'), 'b:new\n', 'the new proxy serves new connections');

  let closed = false;
  const closing = old.close().then(() => { closed = true; });
  assert.equal(await c2.ask('draining'), 'b:draining\n', 'relays keep going while close() drains');
  assert.deepEqual(drains, [2], 'onDrain: two relays open');
  assert.equal(old.openRelays, 2);
  c1.sock.end();
  await c1.closed;
  assert.equal(await c2.ask('last'), 'b:last\n');
  assert.equal(closed, false, 'close() waits for the last relay');
  c2.sock.end();
  await c2.closed;
  await closing;
  assert.equal(old.openRelays, 0);
  assert.equal(await c3.ask('after'), 'b:after\n', 'the old proxy leaving does not touch the new one\'s relays');
  c3.sock.destroy();
});

test('graceful stop: relays still open when the drain timeout passes are ended', async () => {
  const b = await echo('t');
  const vip = nextVIP();
  const stop = new AbortController();
  const p = new UserspaceProxy({ stop: stop.signal, drainTimeoutMs: 100 });
  closers.push(() => p.close());
  await p.apply(snap(vip, b));
  const c = await lineConn(vip, 8080);
  assert.equal(await c.ask('x'), 't:x\n');
  stop.abort();
  await p.close();
  await c.closed;
  assert.equal(await c.ask('y'), 'CLOSED', 'ended by the drain timeout');
});

test('close() without a graceful stop ends open relays at once', async () => {
  const b = await echo('h');
  const vip = nextVIP();
  const stop = new AbortController();
  const drains: number[] = [];
  const p = new UserspaceProxy({ stop: stop.signal, onDrain: (n) => drains.push(n) });
  await p.apply(snap(vip, b));
  const c = await lineConn(vip, 8080);
  assert.equal(await c.ask('x'), 'h:x\n');
  await p.close();
  await c.closed;
  assert.deepEqual(drains, [], 'no drain');
});

test('a new proxy waits for the addresses the old one holds without holding up apply(), and takes them within ms of the old one letting go', async () => {
  const b = await echo('r');
  const vip = nextVIP();
  const stop = new AbortController();
  const old = new UserspaceProxy({ stop: stop.signal });
  closers.push(() => old.close());
  await old.apply(snap(vip, b));

  const waits: number[] = [];
  const next = new UserspaceProxy({ bindRetryMs: 10_000, onBindWait: (n) => waits.push(n) });
  closers.push(() => next.close());
  const r = await next.apply(snap(vip, b));
  assert.deepEqual(r.failed, [], 'an address in use is not a failure');
  assert.deepEqual(r.waiting.map((w) => [w.key, w.error, w.waiting]), [[`TCP|${vip}|8080`, 'EADDRINUSE', true]]);
  assert.match(next.describe(), /UNBOUND\(EADDRINUSE, waiting for it\)/);
  assert.deepEqual(waits, [1]);
  // The old proxy still serves meanwhile, and a second apply does not bind it twice.
  const c = await lineConn(vip, 8080);
  assert.equal(await c.ask('old'), 'r:old\n');
  assert.equal((await next.apply(snap(vip, b))).waiting.length, 1);

  stop.abort();
  const t0 = Date.now();
  while (!next.listeners()[0]?.bound) {
    assert.ok(Date.now() - t0 < 2000, 'taken over');
    await new Promise((res) => setTimeout(res, 2));
  }
  const tookMs = Date.now() - t0;
  assert.ok(tookMs < 500, `taken over ${tookMs} ms after the old one let go (probed every 10 ms)`);
  assert.deepEqual(waits, [1, 0]);
  const c2 = await lineConn(vip, 8080);
  assert.equal(await c2.ask('new'), 'r:new\n');
  assert.equal(await c.ask('old again'), 'r:old again\n', 'the old relay still goes');
  c.sock.destroy();
  c2.sock.destroy();
  await old.close();

  // Past the fast window an address in use is still waited for, once a second, not failed.
  const vip2 = nextVIP();
  const holder = net.createServer();
  await new Promise<void>((res) => holder.listen(8080, vip2, res));
  const late = new UserspaceProxy({ bindRetryMs: 0 });
  closers.push(() => late.close());
  const r2 = await late.apply(snap(vip2, b));
  assert.deepEqual(r2.failed, []);
  assert.deepEqual(r2.waiting.map((f) => f.error), ['EADDRINUSE']);
  await new Promise<void>((res) => holder.close(() => res()));
  const t1 = Date.now();
  while (!late.listeners()[0]?.bound) {
    assert.ok(Date.now() - t1 < 3000, 'bound by the slow retry');
    await new Promise((res) => setTimeout(res, 20));
  }
  await late.close();
});

test('UDP: a new proxy binds an address the old one still holds (SO_REUSEADDR) and gets the new datagrams at once', async () => {
  const up = dgram.createSocket('udp4');
  up.on('message', (m, r) => up.send(`u:${m.toString()}`, r.port, r.address));
  await new Promise<void>((res) => up.bind(0, '127.0.0.1', res));
  closers.push(() => new Promise<void>((res) => up.close(() => res())));
  const vip = nextVIP();
  const s = udpSnap(vip, { ip: '127.0.0.1', port: up.address().port });
  const stop = new AbortController();
  const old = new UserspaceProxy({ stop: stop.signal });
  closers.push(() => old.close());
  await old.apply(s);
  const next = new UserspaceProxy({});
  closers.push(() => next.close());
  const r = await next.apply(s);
  assert.deepEqual([r.failed, r.waiting], [[], []], 'bound at once');
  assert.equal(next.listeners()[0]?.bound, true);
  const client = dgram.createSocket('udp4');
  const answer = () => new Promise<string>((res) => { client.once('message', (m) => res(m.toString())); client.send('hi', 8053, vip); });
  assert.equal(await answer(), 'u:hi');
  assert.equal(next.listeners()[0]?.active, 1, 'the new proxy took the new flow');
  assert.equal(old.listeners()[0]?.active, 0);
  stop.abort();
  assert.equal(await answer(), 'u:hi', 'still served once the old one let go');
  client.close();
});

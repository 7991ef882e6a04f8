import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { promises as dnsp } from 'node:dns';
import * as net from 'node:net';
import { findResource } from '../api/resources.js';
import { FakeClient } from '../client/fake.js';
import type { KObject } from '../client/types.js';
import { decodeMessage, emptyMessage, encodeMessage, Rcode, RRType, type Message } from './message.js';
import { buildZone } from './resolver.js';
import { handlePacket, startDNS, type DnsServer, type QueryLog } from './server.js';
import { ep, fixture, port, prng, service, show, slice } from './testdata.js';

function query(name: string, type: number, id = 7, edns?: Message['edns']): Uint8Array {
  const m = emptyMessage(id);
  m.rd = true;
  m.questions.push({ name, type, class: 1 });
  if (edns) m.edns = edns;
  return encodeMessage(m);
}

function resolverFor(s: DnsServer): dnsp.Resolver {
  const r = new dnsp.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${s.address.port}`]);
  return r;
}

function udpAsk(portNo: number, packet: Uint8Array, waitMs = 1000): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => { sock.close(); resolve(undefined); }, waitMs);
    sock.on('message', (msg) => { clearTimeout(timer); sock.close(); resolve(msg); });
    sock.on('error', (e) => { clearTimeout(timer); sock.close(); reject(e); });
    sock.send(packet, portNo, '127.0.0.1');
  });
}

/** Sends all `packets` on one TCP connection (as one write, to exercise framing), reads `expect` answers. */
function tcpAsk(portNo: number, packets: Uint8Array[], expect = packets.length): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(portNo, '127.0.0.1');
    const out: Uint8Array[] = [];
    let buf = Buffer.alloc(0);
    sock.setTimeout(3000, () => { sock.destroy(); reject(new Error(`tcp: timed out with ${out.length}/${expect} answers`)); });
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= expect) { sock.end(); resolve(out); }
    });
    sock.on('close', () => { if (out.length < expect) resolve(out); });
    sock.write(Buffer.concat(packets.map((p) => {
      const f = Buffer.alloc(2 + p.length);
      f.writeUInt16BE(p.length, 0);
      f.set(p, 2);
      return f;
    })));
  });
}

function bigSnapshot(n: number) {
  const s = fixture();
  const eps = Array.from({ length: n }, (_, i) => ep(`10.244.${Math.floor(i / 250) + 10}.${(i % 250) + 1}`));
  s.services = [...s.services, service('default', 'many', { clusterIP: 'None', ports: [port('http', 80)] })];
  s.endpointSlices = [...s.endpointSlices, slice('default', 'many-x', 'many', 'IPv4', eps, [{ name: 'http', port: 80 }])];
  return s;
}

test('server: node\'s resolver over UDP (A, AAAA, SRV, CNAME, PTR, errors) and TCP fallback on truncation', async () => {
  const logs: QueryLog[] = [];
  const s = await startDNS({ snapshot: bigSnapshot(100), listen: { host: '127.0.0.1', port: 0 }, onQuery: (q) => logs.push(q) });
  try {
    assert.ok(s.address.port > 0);
    const r = resolverFor(s);
    assert.deepEqual(await r.resolve4('web.default.svc.cluster.local'), ['10.96.0.20']);
    assert.deepEqual(await r.resolve4('web.default.svc.cluster.local', { ttl: true }), [{ address: '10.96.0.20', ttl: 5 }]);
    assert.deepEqual(await r.resolve6('dual.default.svc.cluster.local'), ['fd00:10:96::30']);
    assert.deepEqual((await r.resolve4('db.default.svc.cluster.local')).sort(), ['10.244.1.10', '10.244.1.11', '10.244.1.12']);
    assert.deepEqual(await r.resolveSrv('_http._tcp.web.default.svc.cluster.local'),
      [{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    assert.deepEqual((await r.resolveSrv('_pg._tcp.db.default.svc.cluster.local')).map((x) => x.name).sort(),
      ['10-244-1-12.db.default.svc.cluster.local', 'db-0.db.default.svc.cluster.local', 'db-1.db.default.svc.cluster.local']);
    assert.deepEqual(await r.resolveCname('ext.default.svc.cluster.local'), ['example.com']);
    assert.deepEqual(await r.reverse('10.96.0.20'), ['web.default.svc.cluster.local']);
    assert.deepEqual(await r.reverse('10.244.1.10'), ['db-0.db.default.svc.cluster.local']);
    assert.deepEqual(await r.resolveTxt('dns-version.cluster.local'), [['1.1.0']]);
    await assert.rejects(r.resolve4('nope.default.svc.cluster.local'), { code: 'ENOTFOUND' });
    await assert.rejects(r.resolve6('web.default.svc.cluster.local'), { code: 'ENODATA' });
    await assert.rejects(r.resolve4('example.com'), { code: 'EREFUSED' });

    // 100 A records do not fit in a UDP answer: TC, then the resolver asks again over TCP.
    logs.length = 0;
    const many = await r.resolve4('many.default.svc.cluster.local');
    assert.equal(many.length, 100);
    assert.equal(new Set(many).size, 100);
    assert.ok(logs.some((l) => l.transport === 'udp' && l.truncated), JSON.stringify(logs));
    assert.ok(logs.some((l) => l.transport === 'tcp' && !l.truncated && l.name === 'many.default.svc.cluster.local'));
  } finally {
    await s.close();
  }
});

test('server: raw UDP — truncation limits, EDNS, FORMERR, NOTIMP, responses dropped', async () => {
  const s = await startDNS({ snapshot: bigSnapshot(100), listen: { host: '127.0.0.1', port: 0 }, loadBalance: false });
  try {
    const p = s.address.port;
    // Without EDNS: at most 512 octets, TC set, whole records only.
    const plain = (await udpAsk(p, query('many.default.svc.cluster.local', RRType.A, 11)))!;
    assert.ok(plain.length <= 512);
    const pm = decodeMessage(plain);
    assert.equal(pm.id, 11);
    assert.equal(pm.tc, true);
    assert.equal(pm.aa, true);
    assert.ok(pm.answers.length > 10 && pm.answers.length < 100);
    // With EDNS 4096 we still cap at our 1232, and say so.
    const big = (await udpAsk(p, query('many.default.svc.cluster.local', RRType.A, 12, { udpPayloadSize: 4096, version: 0, dnssecOk: false, options: [] })))!;
    assert.ok(big.length <= 1232 && big.length > 512);
    const bm = decodeMessage(big);
    assert.equal(bm.tc, true);
    assert.equal(bm.edns?.udpPayloadSize, 1232);
    // A small answer fits and carries OPT back.
    const small = decodeMessage((await udpAsk(p, query('web.default.svc.cluster.local', RRType.A, 13, { udpPayloadSize: 1400, version: 0, dnssecOk: true, options: [] })))!);
    assert.deepEqual(small.answers.map(show), ['web.default.svc.cluster.local. 5 A 10.96.0.20']);
    assert.equal(small.tc, false);
    assert.equal(small.rd, true);
    assert.equal(small.ra, false);
    assert.deepEqual(small.edns, { udpPayloadSize: 1232, version: 0, dnssecOk: true, options: [] });
    // EDNS version 1: BADVERS.
    const badvers = decodeMessage((await udpAsk(p, query('web.default.svc.cluster.local', RRType.A, 14, { udpPayloadSize: 1232, version: 1, dnssecOk: false, options: [] })))!);
    assert.equal(badvers.rcode, Rcode.BADVERS);
    // Garbage after a valid header: FORMERR with the same id.
    const garbage = Uint8Array.from([0x22, 0x33, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1]);
    const fe = decodeMessage((await udpAsk(p, garbage))!);
    assert.equal(fe.id, 0x2233);
    assert.equal(fe.rcode, Rcode.FORMERR);
    assert.equal(fe.qr, true);
    // Two questions: FORMERR.
    const two = emptyMessage(15);
    two.questions.push({ name: 'a.cluster.local', type: 1, class: 1 }, { name: 'b.cluster.local', type: 1, class: 1 });
    assert.equal(decodeMessage((await udpAsk(p, encodeMessage(two)))!).rcode, Rcode.FORMERR);
    // NOTIFY/UPDATE: NOTIMP.
    const upd = emptyMessage(16);
    upd.opcode = 5;
    upd.questions.push({ name: 'cluster.local', type: RRType.SOA, class: 1 });
    assert.equal(decodeMessage((await udpAsk(p, encodeMessage(upd)))!).rcode, Rcode.NOTIMP);
    // A response (QR set) and a runt are dropped, and the server keeps answering.
    const resp = emptyMessage(17);
    resp.qr = true;
    assert.equal(await udpAsk(p, encodeMessage(resp), 200), undefined);
    assert.equal(await udpAsk(p, Uint8Array.of(1, 2, 3), 200), undefined);
    const rnd = prng(99);
    for (let i = 0; i < 200; i++) {
      const junk = Uint8Array.from({ length: 12 + Math.floor(rnd() * 60) }, () => Math.floor(rnd() * 256));
      junk[2] &= 0x7f;
      await udpAsk(p, junk, 50);
    }
    const again = decodeMessage((await udpAsk(p, query('web.default.svc.cluster.local', RRType.A, 18)))!);
    assert.equal(again.answers.length, 1);
  } finally {
    await s.close();
  }
});

test('server: TCP by hand — pipelined queries, large answers, malformed frames', async () => {
  const s = await startDNS({ snapshot: bigSnapshot(1000), listen: { host: '127.0.0.1', port: 0 } });
  try {
    const p = s.address.port;
    const [a, b, c] = await tcpAsk(p, [
      query('web.default.svc.cluster.local', RRType.A, 1),
      query('_pg._tcp.db.default.svc.cluster.local', RRType.SRV, 2),
      query('many.default.svc.cluster.local', RRType.A, 3),
    ]);
    const ma = decodeMessage(a);
    assert.equal(ma.id, 1);
    assert.deepEqual(ma.answers.map(show), ['web.default.svc.cluster.local. 5 A 10.96.0.20']);
    const mb = decodeMessage(b);
    assert.equal(mb.id, 2);
    assert.equal(mb.answers.length, 3);
    assert.equal(mb.additionals.length, 4);
    const mc = decodeMessage(c);
    assert.equal(mc.id, 3);
    assert.equal(mc.tc, false);
    assert.equal(mc.answers.length, 1000);
    // A frame that does not parse gets FORMERR on the same connection.
    const [fe] = await tcpAsk(p, [Uint8Array.from([0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5])]);
    assert.equal(decodeMessage(fe).rcode, Rcode.FORMERR);
    // A runt frame closes the connection without an answer.
    assert.deepEqual(await tcpAsk(p, [Uint8Array.of(1)], 1), []);
  } finally {
    await s.close();
  }
});

test('server: handlePacket never throws on random or mutated input', () => {
  const zone = buildZone(bigSnapshot(30));
  const rnd = prng(1234);
  const seeds = [
    query('web.default.svc.cluster.local', RRType.A),
    query('_pg._tcp.db.default.svc.cluster.local', RRType.SRV, 2, { udpPayloadSize: 600, version: 0, dnssecOk: false, options: [] }),
    query('20.0.96.10.in-addr.arpa', RRType.PTR),
    query('many.default.svc.cluster.local', RRType.A),
  ];
  let answered = 0;
  for (let i = 0; i < 20000; i++) {
    let b: Uint8Array;
    if (i % 3 === 0) {
      b = Uint8Array.from({ length: Math.floor(rnd() * 100) }, () => Math.floor(rnd() * 256));
    } else {
      b = seeds[i % seeds.length].slice();
      const flips = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.2) b = b.slice(0, Math.floor(rnd() * b.length));
    }
    for (const transport of ['udp', 'tcp'] as const) {
      const out = handlePacket(b, zone, { transport, random: rnd });
      if (!out) continue;
      answered++;
      const m = decodeMessage(out);
      assert.equal(m.qr, true);
      if (transport === 'udp') assert.ok(out.length <= 1232);
    }
  }
  assert.ok(answered > 10000);
  // Before the informers have synced there is no zone: SERVFAIL.
  assert.equal(decodeMessage(handlePacket(query('web.default.svc.cluster.local', 1), undefined, { transport: 'udp' })!).rcode, Rcode.SERVFAIL);
});

test('server: load balancing shuffles address records only', () => {
  const zone = buildZone(bigSnapshot(20));
  const orders = new Set<string>();
  const rnd = prng(5);
  for (let i = 0; i < 10; i++) {
    const m = decodeMessage(handlePacket(query('many.default.svc.cluster.local', RRType.A), zone, { transport: 'tcp', random: rnd })!);
    assert.equal(m.answers.length, 20);
    orders.add(m.answers.map(show).join());
  }
  assert.ok(orders.size > 1);
  const m = decodeMessage(handlePacket(query('ext-in.default.svc.cluster.local', RRType.A), zone, { transport: 'udp', random: rnd })!);
  assert.deepEqual(m.answers.map((r) => r.type), [RRType.CNAME, RRType.A]);
});

test('server: backed by informers — follows Services and EndpointSlices as they change', async () => {
  const c = new FakeClient();
  const svcs = findResource('', 'v1', 'services')!;
  const slices = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
  const nss = findResource('', 'v1', 'namespaces')!;
  const snap = fixture();
  for (const n of snap.namespaces!) await c.create(nss, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: n } });
  for (const o of snap.services) await c.create(svcs, o.metadata!.namespace, o as unknown as KObject);
  for (const o of snap.endpointSlices) await c.create(slices, o.metadata!.namespace, o as unknown as KObject);

  const s = await startDNS({ client: c, listen: { host: '127.0.0.1', port: 0 }, syncTimeoutMs: 3000 });
  try {
    const r = resolverFor(s);
    assert.deepEqual(await r.resolve4('web.default.svc.cluster.local'), ['10.96.0.20']);
    await assert.rejects(r.resolve4('new.default.svc.cluster.local'), { code: 'ENOTFOUND' });
    const before = decodeMessage(handlePacket(query('cluster.local', RRType.SOA), s.provider.zone(), { transport: 'udp' })!);

    await c.create(svcs, 'default', service('default', 'new', { clusterIP: '10.96.0.99', ports: [port('http', 80)] }) as unknown as KObject);
    await c.create(slices, 'default', slice('default', 'db-more', 'db', 'IPv4', [ep('10.244.1.99', { hostname: 'db-9' })],
      [{ name: 'pg', port: 5432 }]) as unknown as KObject);
    await waitFor(async () => (await r.resolve4('new.default.svc.cluster.local').catch(() => [])).length === 1);
    assert.deepEqual(await r.resolve4('db-9.db.default.svc.cluster.local'), ['10.244.1.99']);
    const after = decodeMessage(handlePacket(query('cluster.local', RRType.SOA), s.provider.zone(), { transport: 'udp' })!);
    const serial = (m: Message): number => (m.answers[0].data.kind === 'SOA' ? m.answers[0].data.serial : -1);
    assert.ok(serial(after) > serial(before), 'SOA serial moves with changes');

    await c.delete(svcs, 'default', 'new');
    await waitFor(async () => (await r.resolve4('new.default.svc.cluster.local').catch((e: { code?: string }) => e.code)) === 'ENOTFOUND');
  } finally {
    await s.close();
  }
  assert.equal(c.openWatches(), 0, 'close() ends the informers\' watches');
});

test('server: listen errors and missing sources are reported with codes', async () => {
  await assert.rejects(startDNS({ listen: { host: '127.0.0.1', port: 0 } }), { code: 'DNS_NO_SOURCE' });
  const s = await startDNS({ snapshot: fixture(), listen: { host: '127.0.0.1', port: 0 } });
  try {
    await assert.rejects(startDNS({ snapshot: fixture(), listen: { host: '127.0.0.1', port: s.address.port } }), { code: 'DNS_LISTEN_FAILED' });
  } finally {
    await s.close();
  }
  await s.close(); // idempotent
});

async function waitFor(cond: () => Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

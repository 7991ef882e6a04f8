import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalName, decodeMessage, DnsMessageError, emptyMessage, encodeMessage, nameToLabels, peekHeader,
  Rcode, RRClass, RRType, type Message,
} from './message.js';
import { prng } from './testdata.js';

function sample(): Message {
  const m = emptyMessage(0xbeef);
  Object.assign(m, { qr: true, aa: true, rd: true, cd: true, rcode: Rcode.NXDOMAIN });
  m.questions.push({ name: 'web.default.svc.cluster.local', type: RRType.SRV, class: RRClass.IN });
  m.answers.push(
    { name: 'web.default.svc.cluster.local', type: RRType.A, class: 1, ttl: 5, data: { kind: 'A', address: '10.96.0.20' } },
    { name: 'web.default.svc.cluster.local', type: RRType.AAAA, class: 1, ttl: 5, data: { kind: 'AAAA', address: 'fd00:10:96::20' } },
    { name: 'ext.default.svc.cluster.local', type: RRType.CNAME, class: 1, ttl: 5, data: { kind: 'CNAME', target: 'example.com' } },
    { name: '20.0.96.10.in-addr.arpa', type: RRType.PTR, class: 1, ttl: 5, data: { kind: 'PTR', target: 'web.default.svc.cluster.local' } },
    { name: '_http._tcp.web.default.svc.cluster.local', type: RRType.SRV, class: 1, ttl: 5,
      data: { kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } },
    { name: 'dns-version.cluster.local', type: RRType.TXT, class: 1, ttl: 28800, data: { kind: 'TXT', strings: ['1.1.0', '', 'a"b'] } },
    { name: 'x.cluster.local', type: 99, class: 1, ttl: 1, data: { kind: 'RAW', data: Uint8Array.of(1, 2, 3) } },
  );
  m.authorities.push({ name: 'cluster.local', type: RRType.SOA, class: 1, ttl: 5, data: {
    kind: 'SOA', mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 4294967295,
    refresh: 7200, retry: 1800, expire: 86400, minimum: 5 } });
  m.additionals.push({ name: 'cluster.local', type: RRType.NS, class: 1, ttl: 5, data: { kind: 'NS', target: 'ns.dns.cluster.local' } });
  m.edns = { udpPayloadSize: 1232, version: 0, dnssecOk: true, options: [{ code: 10, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }] };
  return m;
}

test('message: encode/decode round-trip of every record type, with EDNS', () => {
  const m = sample();
  const bytes = encodeMessage(m);
  assert.deepEqual(decodeMessage(bytes), m);
  // Encoding is deterministic.
  assert.deepEqual(encodeMessage(decodeMessage(bytes)), bytes);
});

test('message: names are compressed (case-insensitively) except SRV targets', () => {
  const m = emptyMessage(1);
  m.questions.push({ name: 'web.default.svc.cluster.local', type: RRType.A, class: 1 });
  for (let i = 0; i < 10; i++) {
    m.answers.push({ name: 'WEB.default.svc.cluster.local', type: RRType.A, class: 1, ttl: 5, data: { kind: 'A', address: `10.0.0.${i}` } });
  }
  const bytes = encodeMessage(m);
  // header 12 + question (31 + 4) + 10 × (pointer 2 + 10 + rdata 4)
  assert.equal(bytes.length, 12 + 35 + 10 * 16);
  // The pointers reuse the question's spelling.
  assert.equal(decodeMessage(bytes).answers[0].name, 'web.default.svc.cluster.local');

  const s = emptyMessage(2);
  s.questions.push({ name: 'web.default.svc.cluster.local', type: RRType.SRV, class: 1 });
  s.answers.push({ name: 'web.default.svc.cluster.local', type: RRType.SRV, class: 1, ttl: 5,
    data: { kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } });
  const sb = encodeMessage(s);
  assert.equal(sb.length, 12 + 35 + 2 + 10 + 6 + 31);
});

test('message: decodes a query built by hand (dig-style, with EDNS cookie)', () => {
  const hex = '12340120000100000000000103776562076465666175' + '6c740373766307636c7573746572056c6f63616c0000010001' +
    '00002910000000000000' + '0c000a00080102030405060708';
  const m = decodeMessage(Buffer.from(hex, 'hex'));
  assert.equal(m.id, 0x1234);
  assert.equal(m.rd, true);
  assert.equal(m.ad, true);
  assert.deepEqual(m.questions, [{ name: 'web.default.svc.cluster.local', type: 1, class: 1 }]);
  assert.equal(m.edns?.udpPayloadSize, 4096);
  assert.equal(m.edns?.options[0].code, 10);
  assert.deepEqual(peekHeader(Buffer.from(hex, 'hex')), { id: 0x1234, qr: false, opcode: 0, rd: true, qdcount: 1 });
});

test('message: extended rcode lives in the OPT record', () => {
  const m = emptyMessage(3);
  m.qr = true;
  m.rcode = Rcode.BADVERS;
  m.edns = { udpPayloadSize: 512, version: 0, dnssecOk: false, options: [] };
  const b = encodeMessage(m);
  assert.equal(b[3] & 0x0f, 0);
  assert.equal(decodeMessage(b).rcode, 16);
});

test('message: label escapes round-trip; bad names are refused', () => {
  const m = emptyMessage(4);
  m.questions.push({ name: 'a\\.b.c\\\\d.\\000\\255x.Z', type: 1, class: 1 });
  const back = decodeMessage(encodeMessage(m));
  assert.equal(back.questions[0].name, 'a\\.b.c\\\\d.\\000\\255x.Z');
  assert.equal(nameToLabels('a\\.b.c').length, 2);
  assert.deepEqual(nameToLabels(''), []);
  assert.deepEqual(nameToLabels('.'), []);
  assert.equal(canonicalName('Web.Default.'), 'web.default');
  for (const bad of ['a..b', '.a', 'x'.repeat(64), `${'x'.repeat(63)}.`.repeat(4) + 'x', 'a\\', 'a\\999', 'é\u0100']) {
    assert.throws(() => nameToLabels(bad), DnsMessageError, bad);
  }
  // The longest legal name: 255 octets on the wire.
  const longest = [`${'x'.repeat(63)}`, `${'x'.repeat(63)}`, `${'x'.repeat(63)}`, `${'x'.repeat(61)}`].join('.');
  assert.equal(nameToLabels(longest).length, 4);
  assert.throws(() => encodeMessage({ ...emptyMessage(), answers: [{ name: 'a', type: 1, class: 1, ttl: 1, data: { kind: 'A', address: 'fd00::1' } }] }),
    DnsMessageError);
});

function header(qd: number, an = 0, ns = 0, ar = 0): number[] {
  return [0, 1, 0, 0, 0, qd, 0, an, 0, ns, 0, ar];
}

test('message: malformed packets throw DnsMessageError with a code, never anything else', () => {
  const bad: [string, number[], string][] = [
    ['short header', [0, 1, 0], 'DNS_SHORT_PACKET'],
    ['missing question', header(1), 'DNS_SHORT_PACKET'],
    ['self pointer', [...header(1), 0xc0, 12, 0, 1, 0, 1], 'DNS_BAD_POINTER'],
    ['forward pointer', [...header(1), 0xc0, 14, 0, 1, 0, 1, 0], 'DNS_BAD_POINTER'],
    ['pointer loop via a label', [...header(1), 1, 0x61, 0xc0, 12, 0, 1, 0, 1], 'DNS_BAD_POINTER'],
    ['pointer past end', [...header(1), 0xc0], 'DNS_SHORT_PACKET'],
    ['label past end', [...header(1), 5, 0x61], 'DNS_SHORT_PACKET'],
    ['extended label type', [...header(1), 0x41, 0, 0, 1, 0, 1], 'DNS_BAD_LABEL'],
    ['reserved label type', [...header(1), 0x81, 0, 0, 1, 0, 1], 'DNS_BAD_LABEL'],
    ['A with 3 octets', [...header(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3], 'DNS_BAD_RDATA'],
    ['RDATA past end', [...header(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2], 'DNS_SHORT_PACKET'],
    ['CNAME shorter than its RDLENGTH', [...header(0, 1), 0, 0, 5, 0, 1, 0, 0, 0, 5, 0, 4, 1, 0x61, 0, 0], 'DNS_BAD_RDATA'],
    ['CNAME running past RDLENGTH', [...header(0, 1), 0, 0, 5, 0, 1, 0, 0, 0, 5, 0, 1, 1, 0x61, 0], 'DNS_BAD_RDATA'],
    ['TXT string past RDATA', [...header(0, 1), 0, 0, 16, 0, 1, 0, 0, 0, 5, 0, 2, 5, 0x61], 'DNS_BAD_RDATA'],
    ['two OPT records', [...header(0, 0, 0, 2), 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0], 'DNS_DUPLICATE_OPT'],
    ['OPT not at root', [...header(0, 0, 0, 1), 1, 0x61, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0], 'DNS_BAD_RDATA'],
    ['OPT option past end', [...header(0, 0, 0, 1), 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0], 'DNS_SHORT_PACKET'],
    ['trailing bytes', [...header(0), 0], 'DNS_TRAILING_BYTES'],
  ];
  for (const [what, bytes, code] of bad) {
    assert.throws(() => decodeMessage(Uint8Array.from(bytes)), (e: unknown) => e instanceof DnsMessageError && e.code === code, what);
  }
  // A name of more than 255 octets built out of pointers back to the same long labels.
  const long: number[] = [...header(2)];
  const first = [63, ...new Array(63).fill(0x61), 63, ...new Array(63).fill(0x62), 63, ...new Array(63).fill(0x63), 0];
  long.push(...first, 0, 1, 0, 1);
  long.push(63, ...new Array(63).fill(0x64), 0xc0, 12, 0, 1, 0, 1);
  assert.throws(() => decodeMessage(Uint8Array.from(long)), (e: unknown) => e instanceof DnsMessageError && e.code === 'DNS_NAME_TOO_LONG');
});

test('message: fuzz — random bytes and mutated valid messages decode or throw DnsMessageError', () => {
  const rnd = prng(0x5eed);
  const valid = encodeMessage(sample());
  for (let i = 0; i < 20000; i++) {
    let b: Uint8Array;
    if (i % 2 === 0) {
      b = new Uint8Array(Math.floor(rnd() * 80));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      // Plausible headers reach deeper into the decoder.
      if (b.length >= 12 && i % 4 === 0) { b[4] = 0; b[5] = 1; b[6] = 0; b[7] = Math.floor(rnd() * 3); }
    } else {
      b = valid.slice(0, Math.max(0, valid.length - Math.floor(rnd() * 8)));
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    try {
      const m = decodeMessage(b);
      // Whatever decodes must encode again (names from the wire are always writable).
      encodeMessage({ ...m, answers: [], authorities: [], additionals: [], edns: undefined, rcode: m.rcode & 0xf });
    } catch (e) {
      if (!(e instanceof DnsMessageError)) throw new Error(`case ${i} (${Buffer.from(b).toString('hex')}): ${String(e)}`);
    }
  }
});

test('message: trailing dots', () => {
  assert.deepEqual(nameToLabels('a.b.').map((l) => l.length), [1, 1]);
  // `a\.` is one label "a." — its final dot is escaped, not the root.
  assert.deepEqual(nameToLabels('a\\.').map((l) => l.length), [2]);
  // `a\\.` is the label "a\" and then the root.
  assert.deepEqual(nameToLabels('a\\\\.').map((l) => l.length), [2]);
  assert.equal(canonicalName('A\\\\.'), 'a\\\\');
});

test('message: every error code is documented in README.md', async () => {
  const { readFile } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found');
    dir = up;
  }
  const src = path.join(dir, 'src', 'dns');
  const readme = await readFile(path.join(src, 'README.md'), 'utf8');
  const codes = new Set<string>();
  for (const f of ['message.ts', 'server.ts']) {
    for (const m of (await readFile(path.join(src, f), 'utf8')).matchAll(/'(DNS_[A-Z_]+)'/g)) codes.add(m[1]);
  }
  assert.ok(codes.size >= 12);
  for (const c of codes) assert.ok(readme.includes(`\`${c}\``), `${c} is not in README.md`);
});

// The ClusterIP and NodePort allocators: Kubernetes' errors, the KEP-3070 /
// KEP-3668 bands, and property tests over random interleavings.
import { test } from 'node:test';
import { prng } from '../../../api/testing/prng.js';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bigIntToIP, formatIP, ipToBigInt, parseIPSloppy } from '../../../api/validation/ip.js';
import {
  allocatedIPs, allocateIP, allocateNextIP, freeIPCount, hasIP, ipOffset, newIPRange, releaseIP, restoreIPRange, snapshotIPRange,
  type IPRange,
} from './ip.js';
import {
  allocatedPorts, allocateNextPort, allocatePort, hasPort, newPortAllocator, parsePortRange, releasePort, restorePortAllocator,
  snapshotPortAllocator, type PortAllocator,
} from './port.js';


test('ip: sizes and bands as Kubernetes computes them', () => {
  const r16 = newIPRange('10.96.0.0/16');
  assert.equal(r16.cidr, '10.96.0.0/16');
  assert.equal(r16.max, 65534);
  assert.equal(r16.offset, 256);
  assert.equal(r16.base, '10.96.0.1');
  const r24 = newIPRange('10.0.0.0/24');
  assert.deepEqual([r24.max, r24.offset], [254, 16]);
  const r28 = newIPRange('10.0.0.0/28');
  assert.deepEqual([r28.max, r28.offset], [14, 0]);
  const r20 = newIPRange('10.0.0.0/20');
  assert.deepEqual([r20.max, r20.offset], [4094, 256]);
  // IPv6: no broadcast address, and at most 2^16 addresses are kept.
  const v6 = newIPRange('fd00::/108');
  assert.deepEqual([v6.family, v6.max, v6.offset], ['IPv6', 65535, 256]);
  const v6small = newIPRange('fd00::/120');
  assert.deepEqual([v6small.max, v6small.offset], [255, 16]);
});

test('ip: network and broadcast addresses are never valid', () => {
  const r = newIPRange('10.0.0.0/24');
  const notInRange = (ip: string) => `the provided IP (${ip}) is not in the valid range. The range of valid IPs is 10.0.0.0/24`;
  for (const ip of ['10.0.0.0', '10.0.0.255', '10.0.1.1', '2001:db8::1']) {
    const res = allocateIP(r, ip);
    assert.equal(res.ok, false);
    if (!res.ok) assert.equal(res.error.message, notInRange(ip));
  }
  assert.equal(allocateIP(r, '10.0.0.1').ok, true);
  assert.equal(allocateIP(r, '10.0.0.254').ok, true);
});

test('ip: IPv6 addresses beyond the first 2^16 are not in range', () => {
  const r = newIPRange('fd00::/108');
  assert.equal(allocateIP(r, 'fd00::ffff').ok, true);
  const res = allocateIP(r, 'fd00::1:0');
  assert.equal(res.ok, false);
  if (!res.ok) assert.equal(res.error.message, 'the provided IP (fd00::1:0) is not in the valid range. The range of valid IPs is fd00::/108');
});

test('ip: a requested IP twice is already allocated; release makes it free again', () => {
  let r = newIPRange('10.96.0.0/16');
  const a = allocateIP(r, '10.96.0.10');
  assert.ok(a.ok);
  r = a.range;
  const b = allocateIP(r, '10.96.0.10');
  assert.deepEqual(b, { ok: false, error: { code: 'AlreadyAllocated', message: 'provided IP is already allocated' } });
  r = releaseIP(r, '10.96.0.10');
  assert.equal(hasIP(r, '10.96.0.10'), false);
  // Releasing a free or foreign IP is a no-op.
  assert.equal(releaseIP(r, '10.96.0.10'), r);
  assert.equal(releaseIP(r, '192.0.2.1'), r);
});

test('ip: dynamic allocation stays in the upper band until it is full', () => {
  let r = newIPRange('10.0.0.0/24');
  const rand = prng(7);
  for (let i = 0; i < 254 - 16; i++) {
    const res = allocateNextIP(r, rand);
    assert.ok(res.ok);
    assert.ok(ipOffset(res.range, res.ip) >= 16, `${res.ip} is in the lower band`);
    r = res.range;
  }
  // Now only the lower band (10.0.0.1 .. 10.0.0.16) is left.
  for (let i = 0; i < 16; i++) {
    const res = allocateNextIP(r, rand);
    assert.ok(res.ok);
    assert.ok(ipOffset(res.range, res.ip) < 16);
    r = res.range;
  }
  assert.deepEqual(allocateNextIP(r, rand), { ok: false, error: { code: 'Full', message: 'range is full' } });
  assert.equal(freeIPCount(r), 0);
});

test('ip: the random start scans forward and wraps inside the band', () => {
  let r = newIPRange('10.0.0.0/24');
  // rand → 0.999…: the last address of the band, then a wrap to its first.
  const high = () => 0.9999999;
  let res = allocateNextIP(r, high);
  assert.ok(res.ok);
  assert.equal(res.ip, '10.0.0.254');
  r = res.range;
  res = allocateNextIP(r, high);
  assert.ok(res.ok);
  assert.equal(res.ip, '10.0.0.17');
});

test('ip: snapshots restore to the same allocations, in RangeAllocation form', () => {
  let r = newIPRange('10.96.0.0/16');
  for (const ip of ['10.96.0.1', '10.96.0.10', '10.96.255.254']) {
    const res = allocateIP(r, ip);
    assert.ok(res.ok);
    r = res.range;
  }
  const snap = snapshotIPRange(r);
  assert.equal(snap.range, '10.96.0.0/16');
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  const back = restoreIPRange(snap);
  assert.deepEqual(allocatedIPs(back), ['10.96.0.1', '10.96.0.10', '10.96.255.254']);
  // Bit i of the big-endian integer is offset i: offset 0 → last byte's low bit.
  const one = allocateIP(newIPRange('10.0.0.0/24'), '10.0.0.1');
  assert.ok(one.ok);
  assert.equal(snapshotIPRange(one.range).data, Buffer.from([1]).toString('base64'));
});

test('port: parsing --service-node-port-range', () => {
  assert.deepEqual(parsePortRange('30000-32767'), { base: 30000, size: 2768 });
  assert.deepEqual(parsePortRange('30000+2767'), { base: 30000, size: 2768 });
  assert.deepEqual(parsePortRange('8080'), { base: 8080, size: 1 });
  assert.throws(() => parsePortRange('3-2'), /end port cannot be less than start port: 3-2/);
  assert.throws(() => parsePortRange('1-70000'), /the port range cannot be greater than 65535: 1-70000/);
  assert.throws(() => parsePortRange('1-2+3'), /unable to parse port range: 1-2\+3/);
  assert.throws(() => parsePortRange('a-b'), /strconv.Atoi: parsing "a": invalid syntax/);
  const a = newPortAllocator('30000+2767');
  assert.equal(a.range, '30000-32767');
  assert.equal(a.offset, 86);
});

test('port: Kubernetes errors', () => {
  let a = newPortAllocator();
  const r1 = allocatePort(a, 30080);
  assert.ok(r1.ok);
  a = r1.allocator;
  assert.deepEqual(allocatePort(a, 30080), { ok: false, error: { code: 'AlreadyAllocated', message: 'provided port is already allocated' } });
  assert.deepEqual(allocatePort(a, 80), {
    ok: false, error: { code: 'NotInRange', message: 'provided port is not in the valid range. The range of valid ports is 30000-32767' },
  });
  let small = newPortAllocator('40000-40001');
  for (let i = 0; i < 2; i++) {
    const r = allocateNextPort(small, Math.random);
    assert.ok(r.ok);
    small = r.allocator;
  }
  assert.deepEqual(allocateNextPort(small, Math.random), { ok: false, error: { code: 'Full', message: 'range is full' } });
});

test('port: dynamic ports start at 30086 for the default range', () => {
  let a = newPortAllocator();
  const rand = prng(3);
  for (let i = 0; i < 2768 - 86; i++) {
    const r = allocateNextPort(a, rand);
    assert.ok(r.ok);
    assert.ok(r.port >= 30086, `${r.port} is in the static band`);
    a = r.allocator;
  }
  const r = allocateNextPort(a, rand);
  assert.ok(r.ok && r.port < 30086);
});

test('port: snapshot round trip', () => {
  let a = newPortAllocator();
  for (const p of [30000, 30500, 32767]) {
    const r = allocatePort(a, p);
    assert.ok(r.ok);
    a = r.allocator;
  }
  assert.deepEqual(allocatedPorts(restorePortAllocator(snapshotPortAllocator(a))), [30000, 30500, 32767]);
});

// ---- properties ------------------------------------------------------------

type Cmd = { op: 'next' } | { op: 'alloc'; i: number } | { op: 'release'; i: number };

// Releases are rarer than allocations so that runs reach exhaustion.
const cmd = (lo: number, hi: number): fc.Arbitrary<Cmd> => fc.oneof(
  { arbitrary: fc.constant<Cmd>({ op: 'next' }), weight: 4 },
  { arbitrary: fc.integer({ min: lo, max: hi }).map((i): Cmd => ({ op: 'alloc', i })), weight: 3 },
  { arbitrary: fc.integer({ min: lo, max: hi }).map((i): Cmd => ({ op: 'release', i })), weight: 2 },
);
const cmds = (lo: number, hi: number) => fc.array(cmd(lo, hi), { maxLength: 400, size: 'max' });

test('ip property: random interleavings never double-allocate, never leak, honour the bands', () => {
  for (const cidr of ['10.0.0.0/26', 'fd00::/122', '10.0.0.0/29']) {
    const start = newIPRange(cidr);
    const network = ipToBigInt(parseIPSloppy(cidr.split('/')[0])!);
    const size = Number(1n << BigInt((start.family === 'IPv4' ? 32 : 128) - Number(cidr.split('/')[1])));
    // Offsets from the network address, a little outside the CIDR too.
    const ipOf = (i: number) => formatIP(bigIntToIP(network + BigInt(i), start.family));
    fc.assert(fc.property(cmds(-2, size + 2), fc.integer(), (ops, seed) => {
      const rand = prng(seed);
      let r: IPRange = start;
      const model = new Set<number>(); // bitmap offsets
      for (const c of ops) {
        const before = r;
        const beforeData = snapshotIPRange(before).data;
        if (c.op === 'next') {
          const res = allocateNextIP(r, rand);
          if (model.size === r.max) {
            assert.deepEqual(res, { ok: false, error: { code: 'Full', message: 'range is full' } });
          } else {
            assert.ok(res.ok);
            const o = ipOffset(res.range, res.ip);
            assert.ok(o >= 0 && !model.has(o), 'handed out an allocated or invalid IP');
            if (o < r.offset) {
              // The lower band only once the upper one is full.
              for (let k = r.offset; k < r.max; k++) assert.ok(model.has(k));
            }
            model.add(o);
            r = res.range;
          }
        } else if (c.op === 'alloc') {
          const res = allocateIP(r, ipOf(c.i));
          const o = c.i - 1;
          if (o < 0 || o >= r.max) {
            assert.equal(res.ok, false);
            if (!res.ok) assert.equal(res.error.code, 'NotInRange');
          } else if (model.has(o)) {
            assert.equal(res.ok, false);
            if (!res.ok) assert.equal(res.error.message, 'provided IP is already allocated');
          } else {
            assert.ok(res.ok);
            model.add(o);
            r = res.range;
          }
        } else {
          r = releaseIP(r, ipOf(c.i));
          model.delete(c.i - 1);
        }
        // Values: the old state is untouched by the operation.
        assert.equal(snapshotIPRange(before).data, beforeData);
        assert.equal(r.bitmap.count, model.size);
      }
      assert.deepEqual(allocatedIPs(r).map((ip) => ipOffset(r, ip)), [...model].sort((a, b) => a - b));
      assert.deepEqual(allocatedIPs(restoreIPRange(snapshotIPRange(r))), allocatedIPs(r));
    }), { numRuns: 100 });
  }
});

test('port property: random interleavings, exhaustion gives "range is full"', () => {
  const start = newPortAllocator('40000-40049');
  fc.assert(fc.property(cmds(39998, 40052), fc.integer(), (ops, seed) => {
    const rand = prng(seed);
    let a: PortAllocator = start;
    const model = new Set<number>();
    for (const c of ops) {
      if (c.op === 'next') {
        const res = allocateNextPort(a, rand);
        if (model.size === a.size) {
          assert.deepEqual(res, { ok: false, error: { code: 'Full', message: 'range is full' } });
        } else {
          assert.ok(res.ok && !model.has(res.port) && res.port >= 40000 && res.port <= 40049);
          if (res.port < 40000 + a.offset) for (let p = 40000 + a.offset; p <= 40049; p++) assert.ok(model.has(p));
          model.add(res.port);
          a = res.allocator;
        }
      } else if (c.op === 'alloc') {
        const res = allocatePort(a, c.i);
        if (c.i < 40000 || c.i > 40049) assert.ok(!res.ok && res.error.code === 'NotInRange');
        else if (model.has(c.i)) assert.ok(!res.ok && res.error.code === 'AlreadyAllocated');
        else {
          assert.ok(res.ok);
          model.add(c.i);
          a = res.allocator;
        }
      } else {
        a = releasePort(a, c.i);
        model.delete(c.i);
      }
      assert.equal(a.bitmap.count, model.size);
    }
    assert.deepEqual(allocatedPorts(a), [...model].sort((x, y) => x - y));
    for (const p of model) assert.ok(hasPort(a, p));
  }), { numRuns: 100 });
});

test('bitmap property: many chunks (a /20), allocate all then release all', () => {
  let r = newIPRange('10.0.0.0/20');
  const rand = prng(11);
  const seen = new Set<string>();
  for (let i = 0; i < r.max; i++) {
    const res = allocateNextIP(r, rand);
    assert.ok(res.ok);
    assert.ok(!seen.has(res.ip));
    seen.add(res.ip);
    r = res.range;
  }
  assert.equal(allocateNextIP(r, rand).ok, false);
  for (const ip of seen) r = releaseIP(r, ip);
  assert.equal(r.bitmap.count, 0);
  assert.ok(r.bitmap.chunks.every((c) => c === null));
});

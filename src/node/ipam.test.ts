import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNodeError } from './errors.js';
import { allocateIP, gatewayOf, IpamStore, ipOf, newIpamState, reconcileIPs, releaseIP } from './ipam.js';

const owner = (n: number) => ({ podUid: `uid-${n}`, namespace: 'default', name: `p${n}` });

test('allocation skips the network address and the gateway, and goes round-robin', () => {
  let s = newIpamState('10.244.3.0/24');
  assert.equal(gatewayOf('10.244.3.0/24'), '10.244.3.1');
  const a = allocateIP(s, owner(1)); s = a.state;
  const b = allocateIP(s, owner(2)); s = b.state;
  assert.deepEqual([a.ip, b.ip], ['10.244.3.2', '10.244.3.3']);
  // Same pod, same address.
  assert.equal(allocateIP(s, owner(1)).ip, '10.244.3.2');
  s = releaseIP(s, 'uid-1');
  // A released address is not reused at once.
  const c = allocateIP(s, owner(3)); s = c.state;
  assert.equal(c.ip, '10.244.3.4');
  assert.equal(ipOf(s, 'uid-2'), '10.244.3.3');
});

test('the broadcast address is never handed out, and a full range says so', () => {
  let s = newIpamState('10.0.0.0/29'); // .2–.6 usable
  const got: string[] = [];
  for (let i = 0; i < 5; i++) { const r = allocateIP(s, owner(i)); s = r.state; got.push(r.ip); }
  assert.deepEqual(got, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.throws(() => allocateIP(s, owner(9)), (e: unknown) => isNodeError(e, 'IPAM_EXHAUSTED'));
  s = releaseIP(s, 'uid-0');
  // Wraps around to the freed address.
  assert.equal(allocateIP(s, owner(9)).ip, '10.0.0.2');
});

test('reconcile keeps exactly the addresses in use, whatever the state said', () => {
  let s = newIpamState('10.244.0.0/24');
  for (let i = 0; i < 3; i++) s = allocateIP(s, owner(i)).state;
  s = reconcileIPs(s, new Map([['10.244.0.3', owner(1)], ['10.244.0.9', owner(7)], ['192.168.0.1', owner(8)]]));
  assert.deepEqual(Object.keys(s.allocations).sort(), ['10.244.0.3', '10.244.0.9']);
  assert.equal(ipOf(s, 'uid-7'), '10.244.0.9');
  // Never hands out an address in use.
  for (let i = 10; i < 20; i++) {
    const r = allocateIP(s, owner(i));
    assert.ok(r.ip !== '10.244.0.3' && r.ip !== '10.244.0.9');
    s = r.state;
  }
});

test('IpamStore persists across restarts and starts over for a different podCIDR', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-ipam-'));
  try {
    const path = join(dir, 'ipam.json');
    const a = new IpamStore(path, '10.244.1.0/24');
    assert.equal(a.allocate(owner(1)), '10.244.1.2');
    assert.equal(a.allocate(owner(2)), '10.244.1.3');
    a.release('uid-1');
    const b = new IpamStore(path, '10.244.1.0/24');
    assert.equal(ipOf(b.snapshot(), 'uid-2'), '10.244.1.3');
    assert.equal(b.allocate(owner(3)), '10.244.1.4');
    const c = new IpamStore(path, '10.244.2.0/24');
    assert.deepEqual(c.snapshot().allocations, {});
    writeFileSync(path, '{not json');
    assert.throws(() => new IpamStore(path, '10.244.2.0/24'), (e: unknown) => isNodeError(e, 'IPAM_STATE_CORRUPT'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

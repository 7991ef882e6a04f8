import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNodeError, nodeErrorCodes } from './errors.js';
import { checkIfName, hostVethName, isClusterNetns, lanPortName, nodeNetnsName, podNetnsName, validatePrefix } from './names.js';

test('interface names fit IFNAMSIZ and are deterministic', () => {
  const v = hostVethName('7f3c9a52-1b2e-4c3d-9e8f-0a1b2c3d4e5f');
  assert.equal(v, hostVethName('7f3c9a52-1b2e-4c3d-9e8f-0a1b2c3d4e5f'));
  assert.match(v, /^veth[0-9a-f]{11}$/);
  assert.notEqual(v, hostVethName('another-uid'));
  assert.ok(lanPortName('a-very-long-node-name-indeed').length <= 15);
  assert.throws(() => checkIfName('sixteen-chars-xx'), (e: unknown) => isNodeError(e, 'BAD_NAME'));
  assert.throws(() => checkIfName('a/b'), (e: unknown) => isNodeError(e, 'BAD_NAME'));
});

test('namespace names are readable, unique per pod uid, and bounded', () => {
  assert.equal(nodeNetnsName('svcnet', 'node-1'), 'svcnet-node-node-1');
  const a = podNetnsName('svcnet', 'default', 'web-0', 'uid-a');
  const b = podNetnsName('svcnet', 'default', 'web-0', 'uid-b');
  assert.match(a, /^svcnet-pod-default-web-0-[0-9a-f]{8}$/);
  assert.notEqual(a, b);
  const long = podNetnsName('svcnet', 'n'.repeat(63), 'p'.repeat(253), 'uid');
  assert.ok(long.length <= 200, `${long.length}`);
  assert.notEqual(long, podNetnsName('svcnet', 'n'.repeat(63), 'p'.repeat(253), 'uid2'));
  assert.ok(isClusterNetns('svcnet', a));
  assert.ok(isClusterNetns('svcnet', 'svcnet-lan'));
  assert.ok(!isClusterNetns('svcnet', 'svcnetx-lan'));
  assert.ok(!isClusterNetns('svcnet', 'other-pod-x'));
});

test('prefixes are validated', () => {
  validatePrefix('svcnet');
  validatePrefix('t-123');
  for (const bad of ['', 'Svc', '1abc', 'a_b', 'ends-', 'x'.repeat(41)]) {
    assert.throws(() => validatePrefix(bad), (e: unknown) => isNodeError(e, 'BAD_NAME'), bad);
  }
});

test('every error code is documented', () => {
  for (const [code, text] of Object.entries(nodeErrorCodes)) assert.ok(text.length > 10, code);
});

// kubelet's WebSocket port-forward framing: protocol choice as wsstream makes
// it, the `port` / `ports` query rules of kubelet and kube-apiserver, the
// port prefix, and the binary and base64 messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  choosePortForwardProtocol, decodeChannelMessage, encodeChannelMessage, parseApiserverPorts, parseKubeletPorts, portPrefix,
  PF_BASE64_PROTOCOL, PF_BINARY_PROTOCOL,
} from './wsportforward.js';

test('protocol: the first offered one supported; none offered is ""; v5 and SPDY tunnels are not port-forward protocols', () => {
  // @kubernetes/client-node's list.
  assert.equal(choosePortForwardProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']), PF_BINARY_PROTOCOL);
  assert.equal(choosePortForwardProtocol(['v4.base64.channel.k8s.io', 'v4.channel.k8s.io']), PF_BASE64_PROTOCOL);
  assert.equal(choosePortForwardProtocol([]), '');
  assert.equal(choosePortForwardProtocol(['v5.channel.k8s.io']), undefined);
  assert.equal(choosePortForwardProtocol(['portforward.k8s.io']), undefined);
});

test('kubelet `port` values: lists, several values, its errors', () => {
  assert.deepEqual(parseKubeletPorts(['80,81', '8080']), { ports: [80, 81, 8080] });
  assert.deepEqual(parseKubeletPorts([]), { error: 'query parameter "port" is required' });
  assert.deepEqual(parseKubeletPorts(['']), { error: 'query parameter "port" cannot be empty' });
  assert.deepEqual(parseKubeletPorts(['80,x']), { error: 'unable to parse "80,x" as a port: strconv.ParseUint: parsing "x": invalid syntax' });
  assert.deepEqual(parseKubeletPorts(['70000']), { error: 'unable to parse "70000" as a port: strconv.ParseUint: parsing "70000": value out of range' });
  assert.deepEqual(parseKubeletPorts(['0']), { error: 'port "0" must be > 0' });
  assert.deepEqual(parseKubeletPorts(['-1']), { error: 'unable to parse "-1" as a port: strconv.ParseUint: parsing "-1": invalid syntax' });
});

test('kube-apiserver `ports`: comma lists, none is fine (SPDY clients send none), bad ones are errors', () => {
  assert.deepEqual(parseApiserverPorts(['80,81']), { ports: [80, 81] });
  assert.deepEqual(parseApiserverPorts(['80', '81']), { ports: [80, 81] });
  assert.deepEqual(parseApiserverPorts([]), { ports: [] });
  assert.deepEqual(parseApiserverPorts(['http']), { error: 'cannot convert to []int32: strconv.ParseUint: parsing "http": invalid syntax' });
});

test('port prefix: 2 bytes, little-endian', () => {
  assert.deepEqual([...portPrefix(80)], [80, 0]);
  assert.deepEqual([...portPrefix(8080)], [0x90, 0x1f]);
  assert.deepEqual([...portPrefix(65535)], [255, 255]);
});

test('binary and base64 messages, both ways', () => {
  assert.deepEqual(encodeChannelMessage(PF_BINARY_PROTOCOL, 3, 'hi'), Buffer.from([3, 0x68, 0x69]));
  assert.deepEqual(encodeChannelMessage('', 0, portPrefix(80)), Buffer.from([0, 80, 0]));
  assert.equal(encodeChannelMessage(PF_BASE64_PROTOCOL, 1, 'hi'), '1aGk=');
  assert.deepEqual(decodeChannelMessage(PF_BINARY_PROTOCOL, Buffer.from([2, 1, 2])), { channel: 2, data: Buffer.from([1, 2]) });
  assert.deepEqual(decodeChannelMessage(PF_BASE64_PROTOCOL, Buffer.from('2aGk=')), { channel: 2, data: Buffer.from('hi') });
  assert.equal(decodeChannelMessage(PF_BASE64_PROTOCOL, Buffer.from('0!!')), undefined);
  assert.equal(decodeChannelMessage(PF_BINARY_PROTOCOL, Buffer.alloc(0)), undefined);
  // Round trip over every byte value.
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const proto of [PF_BINARY_PROTOCOL, PF_BASE64_PROTOCOL]) {
    const m = encodeChannelMessage(proto, 4, all);
    assert.deepEqual(decodeChannelMessage(proto, Buffer.from(m)), { channel: 4, data: all });
  }
});

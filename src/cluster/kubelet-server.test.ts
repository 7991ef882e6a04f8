import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeletClientToken, parseKubeletPath } from './kubelet-server.js';
import { kubeletEndpoint } from './kubelet-proxy.js';

test('kubelet paths: the routes kube-apiserver builds, nothing else', () => {
  assert.deepEqual(parseKubeletPath('/containerLogs/default/box/app'), { kind: 'containerLogs', namespace: 'default', pod: 'box', container: 'app' });
  assert.deepEqual(parseKubeletPath('/exec/default/box/app'), { kind: 'exec', namespace: 'default', pod: 'box', container: 'app' });
  assert.deepEqual(parseKubeletPath('/attach/ns/p/uid-1/c'), { kind: 'attach', namespace: 'ns', pod: 'p', uid: 'uid-1', container: 'c' });
  assert.deepEqual(parseKubeletPath('/portForward/ns/p'), { kind: 'portForward', namespace: 'ns', pod: 'p' });
  assert.deepEqual(parseKubeletPath('/portForward/ns/p/u'), { kind: 'portForward', namespace: 'ns', pod: 'p', uid: 'u' });
  assert.deepEqual(parseKubeletPath('/healthz'), { kind: 'healthz' });
  for (const bad of ['/', '/exec/ns/p', '/exec/ns//c', '/containerLogs/ns/p', '/pods', '/exec/ns/p/%zz/c', '/portForward/ns/p/u/x']) {
    assert.equal(parseKubeletPath(bad), undefined, bad);
  }
});

test('the kubelet client token is derived, stable, and not the admin token', () => {
  assert.equal(kubeletClientToken('t'), kubeletClientToken('t'));
  assert.notEqual(kubeletClientToken('t'), kubeletClientToken('u'));
  assert.notEqual(kubeletClientToken('t'), 't');
  assert.match(kubeletClientToken('t'), /^[0-9a-f]{64}$/);
});

test('the kubelet endpoint of a Node: the svcnet address annotation, else the InternalIP; the port of daemonEndpoints, else 10250', () => {
  const addresses = [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '172.30.0.10' }];
  assert.deepEqual(kubeletEndpoint({ metadata: { annotations: { 'svcnet.io/kubelet-address': '127.0.0.1' } },
    status: { addresses, daemonEndpoints: { kubeletEndpoint: { Port: 41000 } } } }), { host: '127.0.0.1', port: 41000 });
  assert.deepEqual(kubeletEndpoint({ status: { addresses } }), { host: '172.30.0.10', port: 10250 });
  assert.equal(kubeletEndpoint({ status: {} }), undefined);
});

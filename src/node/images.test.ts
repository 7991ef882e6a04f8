import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageKind, normalizeImage, parseImage, resolveContainerCommand, servePorts } from './images.js';

test('image references normalize as containerd reports them', () => {
  assert.equal(normalizeImage('nginx'), 'docker.io/library/nginx:latest');
  assert.equal(normalizeImage('nginx:1.27'), 'docker.io/library/nginx:1.27');
  assert.equal(normalizeImage('registry.k8s.io/e2e-test-images/agnhost:2.53'), 'registry.k8s.io/e2e-test-images/agnhost:2.53');
  assert.equal(normalizeImage('localhost:5000/x/y'), 'localhost:5000/x/y:latest');
  assert.deepEqual(parseImage('busybox@sha256:abc'), { registry: 'docker.io', repository: 'library/busybox', tag: '', digest: 'sha256:abc' });
  assert.equal(imageKind('registry.k8s.io/pause:3.10'), 'pause');
  assert.equal(imageKind('python:3.12'), 'shell');
  assert.equal(imageKind('httpd'), 'server');
});

test('what runs for a container', () => {
  const agn = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
  assert.deepEqual(resolveContainerCommand({ image: agn }, [], ['netexec', '--http-port=8080']),
    { kind: 'builtin', name: 'agnhost', args: ['netexec', '--http-port=8080'] });
  assert.deepEqual(resolveContainerCommand({ image: agn }, ['/agnhost'], ['serve-hostname']),
    { kind: 'builtin', name: 'agnhost', args: ['serve-hostname'] });
  assert.deepEqual(resolveContainerCommand({ image: agn }, ['sh', '-c', 'sleep 1'], []), { kind: 'host', argv: ['sh', '-c', 'sleep 1'] });
  assert.deepEqual(resolveContainerCommand({ image: 'busybox' }, [], ['sleep', '3600']), { kind: 'host', argv: ['sleep', '3600'] });
  assert.deepEqual(resolveContainerCommand({ image: 'busybox' }, [], []), { kind: 'host', argv: ['sh'] });
  assert.deepEqual(resolveContainerCommand({ image: 'python:3' }, ['python3', '-m', 'http.server'], ['8000']),
    { kind: 'host', argv: ['python3', '-m', 'http.server', '8000'] });
  assert.deepEqual(resolveContainerCommand({ image: 'nginx' }, [], []), { kind: 'builtin', name: 'serve', args: ['--port=80/TCP'] });
  assert.deepEqual(resolveContainerCommand({ image: 'example.com/anything', ports: [{ containerPort: 9000 }, { containerPort: 53, protocol: 'UDP' }] }, [], []),
    { kind: 'builtin', name: 'serve', args: ['--port=9000/TCP', '--port=53/UDP'] });
  assert.deepEqual(resolveContainerCommand({ image: 'registry.k8s.io/pause:3.10' }, [], []), { kind: 'builtin', name: 'pause', args: [] });
  assert.deepEqual(servePorts({ image: 'example.com/x' }), []);
});

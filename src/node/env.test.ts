import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod, Service } from 'kubernetes-types/core/v1.js';
import { containerEnv, expandVars, serviceEnvVars } from './env.js';

test('$(VAR) expansion follows Kubernetes', () => {
  const env: Record<string, string> = { A: 'a', B: 'b' };
  const f = (s: string) => expandVars(s, (n) => env[n]);
  assert.equal(f('$(A)-$(B)'), 'a-b');
  assert.equal(f('$(MISSING)'), '$(MISSING)');
  assert.equal(f('$$(A)'), '$(A)');
  assert.equal(f('$$'), '$');
  assert.equal(f('x$(A'), 'x$(A');
  assert.equal(f('$A'), '$A');
});

const svc = (ns: string, name: string, ip: string, ports: { port: number; name?: string; protocol?: string }[]): Service =>
  ({ metadata: { namespace: ns, name }, spec: { clusterIP: ip, ports } });

test('service links: kubernetes always, the pod namespace when enabled', () => {
  const services = [
    svc('default', 'kubernetes', '10.96.0.1', [{ port: 443, name: 'https', protocol: 'TCP' }]),
    svc('app', 'redis-primary', '10.96.0.20', [{ port: 6379, protocol: 'TCP' }]),
    svc('app', 'headless', 'None', [{ port: 80 }]),
    svc('other', 'x', '10.96.0.30', [{ port: 80 }]),
  ];
  const m = Object.fromEntries(serviceEnvVars(services, 'app', true));
  assert.equal(m['KUBERNETES_SERVICE_HOST'], '10.96.0.1');
  assert.equal(m['KUBERNETES_SERVICE_PORT_HTTPS'], '443');
  assert.equal(m['KUBERNETES_PORT_443_TCP'], 'tcp://10.96.0.1:443');
  assert.equal(m['REDIS_PRIMARY_SERVICE_PORT'], '6379');
  assert.equal(m['REDIS_PRIMARY_PORT'], 'tcp://10.96.0.20:6379');
  assert.equal(m['REDIS_PRIMARY_PORT_6379_TCP_ADDR'], '10.96.0.20');
  assert.equal(m['HEADLESS_SERVICE_HOST'], undefined);
  assert.equal(m['X_SERVICE_HOST'], undefined);
  const off = Object.fromEntries(serviceEnvVars(services, 'app', false));
  assert.deepEqual(Object.keys(off).filter((k) => !k.startsWith('KUBERNETES_')), []);
});

test('container env: fieldRef, configMap refs, expansion in order, config errors', () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'app', uid: 'u1', labels: { tier: 'web' } },
    spec: { nodeName: 'n1', containers: [] },
  };
  const r = containerEnv({
    pod, podIP: '10.244.0.9', hostIP: '172.30.0.10', services: [], base: { PATH: '/bin', HOSTNAME: 'p' },
    configMaps: new Map([['cfg', { data: { K1: 'v1', K2: 'v2' } }]]), nodeCPU: 2, nodeMemoryBytes: 1024,
    container: {
      name: 'c', envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CM_' }],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
        { name: 'GREETING', value: 'hi $(POD_NAME) at $(POD_IP) $(CM_K1)' },
        { name: 'K2', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'K2' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    },
  });
  assert.equal(r.error, undefined);
  assert.equal(r.env['GREETING'], 'hi p at 10.244.0.9 v1');
  assert.equal(r.env['TIER'], 'web');
  assert.equal(r.env['K2'], 'v2');
  assert.equal(r.env['CPU'], '2');
  assert.equal(r.env['HOSTNAME'], 'p');
  const missing = containerEnv({
    pod, podIP: '', hostIP: '', services: [], base: {}, configMaps: new Map(), nodeCPU: 1, nodeMemoryBytes: 1,
    container: { name: 'c', envFrom: [{ configMapRef: { name: 'nope' } }] },
  });
  assert.equal(missing.error, 'configmap "nope" not found');
});

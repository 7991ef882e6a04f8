// @kubernetes/client-node (1.x, the line that runs on Node 20) against
// svcnet: CRUD with the typed API, a merge patch, and an informer that sees
// add, update and delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startHarness, type Harness } from './lib/harness.js';

let h: Harness;
let kc: k8s.KubeConfig;
before(async () => {
  h = await startHarness();
  kc = new k8s.KubeConfig();
  kc.loadFromFile(h.kubeconfig);
});
after(async () => { await h.close(); });

function until(pred: () => boolean, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error('timed out'));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test('typed CRUD on configmaps and services', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cn1', labels: { a: 'b' } }, data: { k: 'v' } } });
  assert.equal(created.metadata?.name, 'cn1');
  assert.ok(created.metadata?.uid);
  const got = await core.readNamespacedConfigMap({ name: 'cn1', namespace: 'default' });
  assert.deepEqual(got.data, { k: 'v' });
  got.data = { k: 'v2' };
  const replaced = await core.replaceNamespacedConfigMap({ name: 'cn1', namespace: 'default', body: got });
  assert.equal(replaced.data?.k, 'v2');
  assert.notEqual(replaced.metadata?.resourceVersion, got.metadata?.resourceVersion);
  const patched = await core.patchNamespacedConfigMap({ name: 'cn1', namespace: 'default', body: { data: { extra: 'x' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
  assert.deepEqual(patched.data, { k: 'v2', extra: 'x' });
  const list = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'a=b' });
  assert.deepEqual(list.items.map((i) => i.metadata?.name), ['cn1']);
  await core.deleteNamespacedConfigMap({ name: 'cn1', namespace: 'default' });
  await assert.rejects(core.readNamespacedConfigMap({ name: 'cn1', namespace: 'default' }), (e: unknown) => (e as { code?: number }).code === 404);

  const svc = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'cns' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } } });
  assert.equal(svc.spec?.type, 'ClusterIP');
  assert.equal(svc.spec?.ports?.[0]?.protocol, 'TCP');
});

test('an informer sees add, update and delete', async () => {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps',
    () => core.listNamespacedConfigMap({ namespace: 'default' }));
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add:${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update:${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete:${o.metadata?.name}`));
  await informer.start();
  try {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'inf1' }, data: { a: '1' } } });
    await until(() => seen.includes('add:inf1'));
    await core.patchNamespacedConfigMap({ name: 'inf1', namespace: 'default', body: { data: { a: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await until(() => seen.includes('update:inf1'));
    await core.deleteNamespacedConfigMap({ name: 'inf1', namespace: 'default' });
    await until(() => seen.includes('delete:inf1'));
  } finally {
    await informer.stop();
  }
});

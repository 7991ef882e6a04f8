import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resources } from '../../api/resources.js';
import { MemoryStore } from '../../storage/memory.js';
import type { Store } from '../../storage/store.js';
import { trackManagedFields } from '../patching.js';
import { buildFilter } from '../selectors.js';
import { strategies } from '../strategies.js';
import { jsonOf } from '../wire.js';
import { Registry, type Obj, type ObjWatchEvent } from './generic.js';

const config = { serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767' };

function registry(store: Store, plural: string): Registry {
  const info = resources.find((r) => r.plural === plural && r.group === '')!;
  return new Registry(info, store, strategies({ store }, config)[info.kind] ?? {}, trackManagedFields);
}

/** What a client would get from the stored bytes alone, with nothing cached. */
async function fresh(store: Store, reg: Registry, ns: string, name: string): Promise<Obj> {
  const kv = (await store.get(reg.key(ns, name)))!;
  const o = JSON.parse(kv.value) as Obj;
  o.metadata.resourceVersion = String(kv.modRevision);
  return o;
}

const configMap = (name: string, labels: Record<string, string>, data: Record<string, string>): Obj =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data });

test('a write answers with the stored object; its JSON text is the stored text plus its resourceVersion', async () => {
  const store = new MemoryStore();
  const reg = registry(store, 'configmaps');
  const created = await reg.create(configMap('a', { app: 'x' }, { k: 'v' }), { fieldManager: 'test' });
  assert.ok(Object.isFrozen(created) && Object.isFrozen(created.metadata), 'shared objects are frozen');
  assert.throws(() => { (created.metadata as { name?: string }).name = 'b'; }, TypeError);
  const want = await fresh(store, reg, 'default', 'a');
  assert.deepEqual(JSON.parse(jsonOf(created)), want);
  assert.deepEqual(JSON.parse(JSON.stringify(created)), want);
  const got = await reg.get('default', 'a');
  assert.deepEqual(JSON.parse(jsonOf(got)), want);
  assert.equal(created.metadata.managedFields?.[0]?.manager, 'test');

  // A mutator that changes its argument works on a copy: what was handed out stays as it was.
  const { obj: updated } = await reg.guaranteedUpdate('default', 'a', (cur) => {
    (cur['data'] as Record<string, string>)['k'] = 'w';
    return cur;
  }, { fieldManager: 'other' });
  assert.deepEqual((created['data'] as Record<string, string>), { k: 'v' });
  assert.deepEqual(JSON.parse(jsonOf(updated)), await fresh(store, reg, 'default', 'a'));
  assert.deepEqual(updated.metadata.managedFields?.map((m) => m.manager).sort(), ['other', 'test']);
});

test('a no-op update keeps the resourceVersion and managedFields', async () => {
  const store = new MemoryStore();
  const reg = registry(store, 'configmaps');
  const created = await reg.create(configMap('a', {}, { k: 'v' }), { fieldManager: 'test' });
  const same = JSON.parse(JSON.stringify(created)) as Obj;
  const { obj } = await reg.guaranteedUpdate('default', 'a', () => same, { fieldManager: 'someone-else', owned: true });
  assert.equal(obj.metadata.resourceVersion, created.metadata.resourceVersion);
  assert.deepEqual(obj.metadata.managedFields, created.metadata.managedFields);
  assert.equal(await store.revision(), Number(created.metadata.resourceVersion));
});

test('unconditional updates racing on one object both land (compare-and-swap retries on fresh state)', async () => {
  const store = new MemoryStore();
  const reg = registry(store, 'configmaps');
  await reg.create(configMap('n', {}, { n: '0' }), { fieldManager: 'test' });
  const bump = () => reg.guaranteedUpdate('default', 'n', async (cur) => {
    await new Promise((r) => setImmediate(r)); // both read before either writes
    const data = cur['data'] as Record<string, string>;
    return { ...cur, metadata: { ...cur.metadata, resourceVersion: undefined }, data: { n: String(Number(data['n']) + 1) } };
  }, { fieldManager: 'test' });
  await Promise.all([bump(), bump(), bump()]);
  const final = await reg.get('default', 'n');
  assert.equal((final['data'] as Record<string, string>)['n'], '3');
  assert.deepEqual(JSON.parse(jsonOf(final)), await fresh(store, reg, 'default', 'n'));
});

test('watchers share one decoding; a filtered watch sees an object enter and leave its selection', async () => {
  const store = new MemoryStore();
  const reg = registry(store, 'configmaps');
  const all: ObjWatchEvent[] = [];
  const selected: ObjWatchEvent[] = [];
  const w1 = reg.watch('default', 0, undefined, (evs) => all.push(...evs), (e) => assert.fail(e.message));
  const w2 = reg.watch('default', 0, buildFilter(reg.info, 'app=web', ''), (evs) => selected.push(...evs), (e) => assert.fail(e.message));
  // Each write is delivered before the next (as watchers keep up); the last two go out together.
  const delivered = () => new Promise((r) => setTimeout(r, 5));
  const a = await reg.create(configMap('a', { app: 'web' }, { k: '1' }), { fieldManager: 't' });
  await delivered();
  const { obj: b } = await reg.guaranteedUpdate('default', 'a', (cur) => ({ ...cur, metadata: { ...cur.metadata, labels: { app: 'db' } } }), { fieldManager: 't' });
  await delivered();
  const { obj: c } = await reg.guaranteedUpdate('default', 'a', (cur) => ({ ...cur, data: { k: '2' } }), { fieldManager: 't' });
  await reg.delete('default', 'a');
  const deletedAt = String(await store.revision());
  await new Promise((r) => setTimeout(r, 20));
  w1.close();
  w2.close();
  const brief = (evs: ObjWatchEvent[]) => evs.map((e) => [e.type, e.object.metadata.resourceVersion, e.object.metadata.labels?.['app']]);
  assert.deepEqual(brief(all), [
    ['ADDED', a.metadata.resourceVersion, 'web'], ['MODIFIED', b.metadata.resourceVersion, 'db'],
    ['MODIFIED', c.metadata.resourceVersion, 'db'], ['DELETED', deletedAt, 'db'],
  ]);
  assert.deepEqual(brief(selected), [['ADDED', a.metadata.resourceVersion, 'web'], ['DELETED', b.metadata.resourceVersion, 'db']]);
  // Every event's text is what encoding its object gives, and the same object went to both watchers.
  for (const e of [...all, ...selected]) assert.deepEqual(JSON.parse(jsonOf(e.object)), JSON.parse(JSON.stringify(e.object)));
  assert.equal(all[0]!.object, selected[0]!.object);
  assert.equal(all[0]!.object, a);
});

test('an object stored by another process (nothing cached) decodes and updates the same way', async () => {
  const store = new MemoryStore();
  const writer = registry(store, 'configmaps');
  await writer.create(configMap('a', { app: 'x' }, { k: 'v' }), { fieldManager: 'test' });
  const reader = registry(store, 'configmaps');
  const got = await reader.get('default', 'a');
  assert.ok(!Object.isFrozen(got));
  assert.deepEqual(got, await fresh(store, reader, 'default', 'a'));
  const { obj } = await reader.guaranteedUpdate('default', 'a', (cur) => ({ ...cur, data: { k: 'w' } }), { fieldManager: 'test', owned: true });
  assert.deepEqual(JSON.parse(jsonOf(obj)), await fresh(store, reader, 'default', 'a'));
});

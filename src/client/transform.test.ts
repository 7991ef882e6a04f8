import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findByKind } from '../api/resources.js';
import { FakeClock } from './clock.js';
import { FakeClient } from './fake.js';
import { Informer } from './informer.js';
import { isTrimmed, trimManagedFields, withoutTrimmedManagedFields } from './transform.js';
import type { KObject } from './types.js';

const cms = findByKind('v1', 'ConfigMap')!;

const managed = () => [
  { manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { '.': {}, 'f:a': {} } } },
  { manager: 'endpoint-controller', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:01Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} }, subresource: 'status' },
];
const obj = (): KObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ns', name: 'a', resourceVersion: '7', managedFields: managed() }, data: { a: '1' } });

test('trimManagedFields keeps who wrote the object, drops the field sets, and never mutates its argument', () => {
  const o = obj();
  const before = structuredClone(o);
  const t = trimManagedFields(o);
  assert.deepEqual(o, before, 'argument untouched');
  assert.deepEqual(t.metadata?.managedFields, [
    { manager: 'kubectl-client-side-apply', operation: 'Update' },
    { manager: 'endpoint-controller', operation: 'Update', subresource: 'status' },
  ]);
  assert.deepEqual({ ...t, metadata: { ...t.metadata, managedFields: undefined } }, { ...o, metadata: { ...o.metadata, managedFields: undefined } }, 'the rest as received');
  assert.equal(trimManagedFields(t), t, 'idempotent');
  const bare: KObject = { metadata: { name: 'b' } };
  assert.equal(trimManagedFields(bare), bare, 'no managedFields: the same object');
  assert.equal(isTrimmed(t.metadata?.managedFields), true);
  assert.equal(isTrimmed(o.metadata?.managedFields), false);
  assert.equal(isTrimmed([]), false);
});

test('withoutTrimmedManagedFields drops trimmed managedFields from a write, keeps real ones', () => {
  const t = trimManagedFields(obj());
  const w = withoutTrimmedManagedFields({ ...t, data: { a: '2' } });
  assert.equal('managedFields' in (w.metadata ?? {}), false);
  assert.equal(w.metadata?.resourceVersion, '7');
  assert.deepEqual(w['data'], { a: '2' });
  assert.equal(JSON.stringify(w).includes('managedFields'), false);
  const full = obj();
  assert.equal(withoutTrimmedManagedFields(full), full);
});

test('an informer with a transform caches and hands out transformed objects, from the list and from the watch', async () => {
  const c = new FakeClient();
  await c.create(cms, 'ns', obj());
  const inf = new Informer(c, cms, { clock: new FakeClock(), transform: trimManagedFields });
  const seen: KObject[] = [];
  inf.addEventHandler({ onAdd: (o) => seen.push(o), onUpdate: (_old, o) => seen.push(o) });
  inf.start();
  await inf.waitForSync();
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  const o = obj();
  await c.update(cms, 'ns', { ...o, metadata: { ...o.metadata, resourceVersion: undefined }, data: { a: '2' } });
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  assert.equal(seen.length, 2);
  for (const o of [...seen, inf.store.get('ns', 'a')!]) assert.equal(isTrimmed(o.metadata?.managedFields), true);
  assert.deepEqual(inf.store.get('ns', 'a')?.['data'], { a: '2' });
  inf.close();
});

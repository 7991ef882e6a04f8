import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, objectKey, splitKey } from './cache.js';
import type { KObject } from './types.js';

const cm = (ns: string | undefined, name: string, rv: string, data: Record<string, string> = {}): KObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { ...(ns ? { namespace: ns } : {}), name, resourceVersion: rv }, data });

test('keys', () => {
  assert.equal(objectKey(cm('a', 'x', '1')), 'a/x');
  assert.equal(objectKey(cm(undefined, 'node1', '1')), 'node1');
  assert.deepEqual(splitKey('a/x'), { namespace: 'a', name: 'x' });
  assert.deepEqual(splitKey('node1'), { name: 'node1' });
});

test('apply: ADDED, MODIFIED, DELETED report changes; reader sees them at once', () => {
  const { writer, reader } = createCache();
  assert.equal(reader.hasSynced(), false);
  assert.deepEqual(writer.apply({ type: 'ADDED', object: cm('a', 'x', '1') }), { type: 'add', obj: cm('a', 'x', '1') });
  assert.deepEqual(reader.get('a', 'x'), cm('a', 'x', '1'));
  const u = writer.apply({ type: 'MODIFIED', object: cm('a', 'x', '2', { k: 'v' }) });
  assert.deepEqual(u, { type: 'update', old: cm('a', 'x', '1'), obj: cm('a', 'x', '2', { k: 'v' }) });
  // MODIFIED of an unknown object is an add (the watch may start mid-history).
  assert.equal(writer.apply({ type: 'MODIFIED', object: cm('b', 'y', '3') })?.type, 'add');
  assert.equal(reader.resourceVersion, '3');
  assert.deepEqual(writer.apply({ type: 'DELETED', object: cm('a', 'x', '4') }), { type: 'delete', obj: cm('a', 'x', '4') });
  assert.equal(reader.get('a', 'x'), undefined);
  assert.equal(writer.apply({ type: 'DELETED', object: cm('a', 'nope', '5') }), undefined);
  assert.equal(writer.apply({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }), undefined);
  assert.equal(reader.resourceVersion, '9');
  assert.equal(reader.size, 1);
});

test('namespace index and cluster-scoped objects', () => {
  const { writer, reader } = createCache();
  writer.replace([cm('a', 'x', '1'), cm('a', 'y', '2'), cm('b', 'x', '3'), cm(undefined, 'n1', '4')], '4');
  assert.deepEqual(reader.list('a').map(objectKey).sort(), ['a/x', 'a/y']);
  assert.deepEqual(reader.list('b').map(objectKey), ['b/x']);
  assert.deepEqual(reader.list('zzz'), []);
  assert.equal(reader.list().length, 4);
  assert.deepEqual(reader.get(undefined, 'n1'), cm(undefined, 'n1', '4'));
  writer.apply({ type: 'DELETED', object: cm('b', 'x', '5') });
  assert.deepEqual(reader.list('b'), []);
  assert.deepEqual(reader.keys().sort(), ['a/x', 'a/y', 'n1']);
});

test('replace computes synthetic deletes, adds and updates (by resourceVersion) and marks synced', () => {
  const { writer, reader } = createCache();
  writer.replace([cm('a', 'keep', '1'), cm('a', 'change', '2'), cm('a', 'gone', '3')], '3');
  assert.equal(reader.hasSynced(), true);
  const changes = writer.replace([cm('a', 'keep', '1'), cm('a', 'change', '7'), cm('a', 'new', '8')], '9');
  assert.deepEqual(changes, [
    { type: 'delete', obj: cm('a', 'gone', '3') },
    { type: 'update', old: cm('a', 'change', '2'), obj: cm('a', 'change', '7') },
    { type: 'add', obj: cm('a', 'new', '8') },
  ]);
  assert.deepEqual(reader.keys().sort(), ['a/change', 'a/keep', 'a/new']);
  assert.equal(reader.resourceVersion, '9');
  assert.deepEqual(writer.replace([], '10'), [
    { type: 'delete', obj: cm('a', 'keep', '1') }, { type: 'delete', obj: cm('a', 'change', '7') }, { type: 'delete', obj: cm('a', 'new', '8') },
  ]);
  assert.deepEqual(reader.list('a'), []);
});

test('named indexes follow adds, updates, deletes and relists', () => {
  const { writer, reader } = createCache();
  const byColour = (o: KObject): string[] => {
    const c = (o['data'] as Record<string, string> | undefined)?.['colour'];
    return c === undefined ? [] : c.split(',').map((x) => `${o.metadata?.namespace ?? ''}/${x}`);
  };
  writer.apply({ type: 'ADDED', object: cm('a', 'x', '1', { colour: 'red' }) });
  // Added after content exists: filled at once.
  writer.addIndex('colour', byColour);
  writer.addIndex('colour', byColour); // the same function again: a no-op
  assert.throws(() => writer.addIndex('colour', (o) => byColour(o)), /another function/);
  assert.equal(reader.hasIndex('colour'), true);
  assert.equal(reader.hasIndex('size'), false);
  assert.throws(() => reader.byIndex('size', 'a/red'), /no index/);
  const names = (v: string) => reader.byIndex('colour', v).map(objectKey).sort();
  assert.deepEqual(names('a/red'), ['a/x']);

  writer.apply({ type: 'ADDED', object: cm('a', 'y', '2', { colour: 'red,blue' }) });
  writer.apply({ type: 'ADDED', object: cm('b', 'x', '3', { colour: 'red' }) });
  assert.deepEqual(names('a/red'), ['a/x', 'a/y']);
  assert.deepEqual(names('a/blue'), ['a/y']);
  assert.deepEqual(names('b/red'), ['b/x']);
  assert.equal(reader.countByIndex('colour', 'a/red'), 2);

  // An update filed under the same values hands out the new object.
  writer.apply({ type: 'MODIFIED', object: cm('a', 'x', '4', { colour: 'red', other: '1' }) });
  assert.deepEqual(reader.byIndex('colour', 'a/red').find((o) => o.metadata?.name === 'x')?.metadata?.resourceVersion, '4');
  // An update that changes the values moves it.
  writer.apply({ type: 'MODIFIED', object: cm('a', 'y', '5', { colour: 'green' }) });
  assert.deepEqual(names('a/red'), ['a/x']);
  assert.deepEqual(names('a/blue'), []);
  assert.deepEqual(names('a/green'), ['a/y']);
  // Values no object has any more are forgotten.
  assert.equal(reader.countByIndex('colour', 'a/blue'), 0);

  writer.apply({ type: 'DELETED', object: cm('a', 'x', '6') });
  assert.deepEqual(names('a/red'), []);

  // A relist: gone objects leave the index, changed ones move.
  writer.replace([cm('a', 'y', '5', { colour: 'green' }), cm('b', 'x', '7', { colour: 'blue' }), cm('c', 'z', '8')], '8');
  assert.deepEqual(names('a/green'), ['a/y']);
  assert.deepEqual(names('b/red'), []);
  assert.deepEqual(names('b/blue'), ['b/x']);
  assert.deepEqual(reader.list('c').map(objectKey), ['c/z']);
  writer.replace([], '9');
  assert.deepEqual(names('a/green'), []);
  assert.deepEqual(names('b/blue'), []);
});

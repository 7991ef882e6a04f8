import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../api/errors.js';
import { applyJsonPatch } from './jsonpatch.js';
import type { JsonValue } from './json.js';

interface Case { name: string; doc: JsonValue; patch: JsonValue; want: JsonValue }

const applies: Case[] = [
  { name: 'add a member', doc: { a: 1 }, patch: [{ op: 'add', path: '/b', value: 2 }], want: { a: 1, b: 2 } },
  { name: 'add overwrites a member', doc: { a: 1 }, patch: [{ op: 'add', path: '/a', value: [1] }], want: { a: [1] } },
  { name: 'add inserts at an index', doc: { l: [1, 3] }, patch: [{ op: 'add', path: '/l/1', value: 2 }], want: { l: [1, 2, 3] } },
  { name: 'add at the length appends', doc: { l: [1] }, patch: [{ op: 'add', path: '/l/1', value: 2 }], want: { l: [1, 2] } },
  { name: '- appends', doc: { l: [1] }, patch: [{ op: 'add', path: '/l/-', value: 2 }], want: { l: [1, 2] } },
  { name: 'negative add index counts from the end of the grown list', doc: { l: [1, 2] }, patch: [{ op: 'add', path: '/l/-1', value: 9 }], want: { l: [1, 2, 9] } },
  { name: 'remove a member', doc: { a: 1, b: 2 }, patch: [{ op: 'remove', path: '/a' }], want: { b: 2 } },
  { name: 'remove an item', doc: { l: [1, 2, 3] }, patch: [{ op: 'remove', path: '/l/0' }], want: { l: [2, 3] } },
  { name: 'remove the last item by -1', doc: { l: [1, 2, 3] }, patch: [{ op: 'remove', path: '/l/-1' }], want: { l: [1, 2] } },
  { name: 'replace a member', doc: { spec: { replicas: 1 } }, patch: [{ op: 'replace', path: '/spec/replicas', value: 3 }], want: { spec: { replicas: 3 } } },
  { name: 'replace of a missing member sets it (json-patch v4)', doc: { a: 1 }, patch: [{ op: 'replace', path: '/b', value: 2 }], want: { a: 1, b: 2 } },
  { name: 'replace the whole document', doc: { a: 1 }, patch: [{ op: 'replace', path: '', value: { b: 2 } }], want: { b: 2 } },
  { name: 'move', doc: { a: { x: 1 }, b: {} }, patch: [{ op: 'move', from: '/a/x', path: '/b/y' }], want: { a: {}, b: { y: 1 } } },
  { name: 'copy is deep', doc: { a: { x: [1] } }, patch: [{ op: 'copy', from: '/a', path: '/b' }, { op: 'add', path: '/b/x/-', value: 2 }], want: { a: { x: [1] }, b: { x: [1, 2] } } },
  { name: 'test passes then replace', doc: { metadata: { resourceVersion: '5' }, v: 1 },
    patch: [{ op: 'test', path: '/metadata/resourceVersion', value: '5' }, { op: 'replace', path: '/v', value: 2 }],
    want: { metadata: { resourceVersion: '5' }, v: 2 } },
  { name: 'test of null on a missing member passes', doc: { a: 1 }, patch: [{ op: 'test', path: '/b', value: null }], want: { a: 1 } },
  { name: '~1 and ~0 escape / and ~', doc: { metadata: { labels: { 'app.kubernetes.io/name': 'x', 'a~b': 'y' } } },
    patch: [{ op: 'replace', path: '/metadata/labels/app.kubernetes.io~1name', value: 'z' }, { op: 'remove', path: '/metadata/labels/a~0b' }],
    want: { metadata: { labels: { 'app.kubernetes.io/name': 'z' } } } },
  { name: 'an empty patch changes nothing', doc: { a: 1 }, patch: [], want: { a: 1 } },
  { name: 'a null patch changes nothing', doc: { a: 1 }, patch: null, want: { a: 1 } },
];

for (const c of applies) {
  test(`json patch: ${c.name}`, () => {
    const before = JSON.stringify(c.doc);
    assert.deepEqual(applyJsonPatch(c.doc, c.patch), c.want);
    assert.equal(JSON.stringify(c.doc), before, 'input must not change');
  });
}

// kube-apiserver answers every failing operation with the same 422 text.
const invalid = { code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' };

const failures: { name: string; doc: JsonValue; patch: JsonValue; want: { code: number; reason?: string; message: string } }[] = [
  { name: 'failed test', doc: { a: 1 }, patch: [{ op: 'test', path: '/a', value: 2 }], want: invalid },
  { name: 'remove of a missing member', doc: { a: 1 }, patch: [{ op: 'remove', path: '/b' }], want: invalid },
  { name: 'add under a missing parent', doc: { a: 1 }, patch: [{ op: 'add', path: '/x/y', value: 1 }], want: invalid },
  { name: 'index out of range', doc: { l: [1] }, patch: [{ op: 'add', path: '/l/5', value: 1 }], want: invalid },
  { name: 'replace of a missing index', doc: { l: [1] }, patch: [{ op: 'replace', path: '/l/1', value: 1 }], want: invalid },
  { name: 'unknown op', doc: { a: 1 }, patch: [{ op: 'frobnicate', path: '/a' }], want: invalid },
  { name: 'op without path', doc: { a: 1 }, patch: [{ op: 'add', value: 1 }], want: invalid },
  { name: 'patch that is not a list', doc: { a: 1 }, patch: { op: 'add' },
    want: { code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch' } },
  { name: 'operation that is not an object', doc: { a: 1 }, patch: ['add'],
    want: { code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal string into Go value of type jsonpatch.Operation' } },
  { name: 'more than 10000 operations', doc: { a: 1 }, patch: Array.from({ length: 10001 }, () => ({ op: 'test', path: '/a', value: 1 })),
    want: { code: 413, reason: 'RequestEntityTooLarge', message: 'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001' } },
];

for (const c of failures) {
  test(`json patch fails: ${c.name}`, () => {
    assert.throws(() => applyJsonPatch(c.doc, c.patch), (e: unknown) => {
      assert.ok(e instanceof StatusError);
      assert.equal(e.status.code, c.want.code);
      if (c.want.reason) assert.equal(e.status.reason, c.want.reason);
      assert.equal(e.status.message, c.want.message);
      return true;
    });
  });
}

test('json patch: the 422 keeps evanphx\'s reason as the cause, not on the wire', () => {
  try {
    applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]);
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(e instanceof StatusError);
    assert.deepEqual(e.status.details, {});
    assert.equal((e as Error).cause, 'testing value /a failed: test failed');
  }
});

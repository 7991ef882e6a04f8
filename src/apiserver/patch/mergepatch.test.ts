import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../api/errors.js';
import { applyMergePatch, createMergePatch } from './mergepatch.js';
import type { JsonValue } from './json.js';

interface Case { name: string; doc: JsonValue; patch: JsonValue; want: JsonValue }

const cases: Case[] = [
  // RFC 7386 appendix A.
  { name: 'replace a member', doc: { a: 'b' }, patch: { a: 'c' }, want: { a: 'c' } },
  { name: 'add a member', doc: { a: 'b' }, patch: { b: 'c' }, want: { a: 'b', b: 'c' } },
  { name: 'null deletes', doc: { a: 'b' }, patch: { a: null }, want: {} },
  { name: 'null deletes one of two', doc: { a: 'b', b: 'c' }, patch: { a: null }, want: { b: 'c' } },
  { name: 'a list replaces a scalar', doc: { a: ['b'] }, patch: { a: 'c' }, want: { a: 'c' } },
  { name: 'a scalar replaces a list', doc: { a: 'c' }, patch: { a: ['b'] }, want: { a: ['b'] } },
  { name: 'nested merge and delete', doc: { a: { b: 'c' } }, patch: { a: { b: 'd', c: null } }, want: { a: { b: 'd' } } },
  { name: 'lists are replaced whole', doc: { a: [{ b: 'c' }] }, patch: { a: [1] }, want: { a: [1] } },
  { name: 'nulls in a new object are pruned', doc: { e: null }, patch: { a: 1 }, want: { e: null, a: 1 } },
  { name: 'new nested value without its nulls', doc: {}, patch: { a: { bb: { ccc: null } } }, want: { a: { bb: {} } } },
  { name: 'a list patch replaces the document', doc: { a: 'b' }, patch: ['c'], want: ['c'] },
  // What kubectl sends.
  { name: 'kubectl label', doc: { metadata: { name: 'web', labels: { app: 'web' } } },
    patch: { metadata: { labels: { tier: 'frontend' } } }, want: { metadata: { name: 'web', labels: { app: 'web', tier: 'frontend' } } } },
  { name: 'kubectl label tier-', doc: { metadata: { name: 'web', labels: { app: 'web', tier: 'frontend' } } },
    patch: { metadata: { labels: { tier: null } } }, want: { metadata: { name: 'web', labels: { app: 'web' } } } },
  { name: 'ports are replaced, not merged', doc: { spec: { ports: [{ port: 80 }, { port: 443 }] } },
    patch: { spec: { ports: [{ port: 8080 }] } }, want: { spec: { ports: [{ port: 8080 }] } } },
];

for (const c of cases) {
  test(`merge patch: ${c.name}`, () => {
    const before = JSON.stringify(c.doc);
    assert.deepEqual(applyMergePatch(c.doc, c.patch), c.want);
    assert.equal(JSON.stringify(c.doc), before, 'input must not change');
  });
}

for (const patch of [null, 'x', 3]) {
  test(`merge patch: ${JSON.stringify(patch)} is 400 Invalid JSON Patch`, () => {
    assert.throws(() => applyMergePatch({ a: 1 }, patch), (e: unknown) =>
      e instanceof StatusError && e.status.code === 400 && e.status.message === 'Invalid JSON Patch');
  });
}

const diffs: { name: string; original: JsonValue; modified: JsonValue; want: JsonValue }[] = [
  { name: 'no change', original: { a: 1 }, modified: { a: 1 }, want: {} },
  { name: 'changed, added and removed members', original: { a: 1, b: 2, c: { d: 1, e: 2 } }, modified: { a: 2, c: { d: 1 }, f: [1] },
    want: { a: 2, b: null, c: { e: null }, f: [1] } },
  { name: 'lists whole', original: { l: [1, 2] }, modified: { l: [1] }, want: { l: [1] } },
  { name: 'type change', original: { a: { b: 1 } }, modified: { a: 'x' }, want: { a: 'x' } },
];

for (const c of diffs) {
  test(`create merge patch: ${c.name}`, () => {
    const p = createMergePatch(c.original, c.modified);
    assert.deepEqual(p, c.want);
    assert.deepEqual(applyMergePatch(c.original, p), c.modified);
  });
}

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, compareKeys, createKey, openStore, parseStoreSpec } from './index.js';
import fc from 'fast-check';

const root = mkdtempSync(join(tmpdir(), 'svcnet-openstore-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('openStore: memory', async () => {
  const s = await openStore('memory');
  assert.equal(s.kind, 'memory');
  await s.close();
});

test('openStore: sqlite:PATH creates the directory and reopens the same data', async () => {
  const path = join(root, 'a', 'b', 'state.db');
  const s = await openStore(`sqlite:${path}`);
  assert.equal(s.kind, 'sqlite');
  await createKey(s, '/k', 'v');
  await s.close();
  assert.ok(existsSync(path));
  const again = await openStore(`sqlite:${path}`);
  assert.equal((await again.get('/k'))?.value, 'v');
  await again.close();
});

test('openStore: etcd with no endpoint answering is Unavailable, and anything else is refused clearly', async () => {
  // Port 9 (discard): nothing listens. etcd.test.ts opens real ones.
  await assert.rejects(openStore('etcd:http://127.0.0.1:9,127.0.0.2:9'), (e: unknown) => e instanceof StoreError && e.code === 'Unavailable' &&
    /etcd is unavailable: http:\/\/127\.0\.0\.1:9: .*; http:\/\/127\.0\.0\.2:9: /.test(e.message));
  await assert.rejects(openStore('etcd:ftp://x'), /invalid storage "etcd:ftp:\/\/x": invalid etcd endpoint "ftp:\/\/x": only http:\/\/ is supported/);
  await assert.rejects(openStore('postgres://x'), { message: 'invalid storage "postgres://x": expected memory, sqlite:PATH or etcd:URL[,URL...]' });
  await assert.rejects(openStore('sqlite:'), /sqlite needs a file path/);
  await assert.rejects(openStore('etcd:'), /etcd needs at least one URL/);
  await assert.rejects(openStore(''), /invalid storage ""/);
});

test('parseStoreSpec', () => {
  assert.deepEqual(parseStoreSpec('memory'), { kind: 'memory' });
  assert.deepEqual(parseStoreSpec('sqlite:/var/lib/svcnet/state.db'), { kind: 'sqlite', path: '/var/lib/svcnet/state.db' });
  assert.deepEqual(parseStoreSpec('etcd:http://a:2379, http://b:2379'), { kind: 'etcd', endpoints: ['http://a:2379', 'http://b:2379'] });
});

test('compareKeys is UTF-8 byte order', () => {
  const str = fc.string({ unit: 'binary', maxLength: 6 });
  fc.assert(fc.property(str, str, (a, b) => {
    assert.equal(Math.sign(compareKeys(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
  }), { numRuns: 500 });
});

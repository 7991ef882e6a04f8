import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, LineTooLongError } from './ndjson.js';

test('lines split across chunks, including inside a multi-byte character', () => {
  const text = '{"a":"é€😀"}\n{"b":2}\n\n{"c":3}';
  const bytes = Buffer.from(text);
  // Every possible split point, and byte-at-a-time.
  for (let cut = 0; cut <= bytes.length; cut++) {
    const s = new LineSplitter();
    const out = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
    const last = s.flush();
    assert.deepEqual([...out, last], ['{"a":"é€😀"}', '{"b":2}', '{"c":3}']);
  }
  const s = new LineSplitter();
  const out: string[] = [];
  for (const b of bytes) out.push(...s.push(Buffer.from([b])));
  assert.deepEqual(out, ['{"a":"é€😀"}', '{"b":2}']);
  assert.equal(s.flush(), '{"c":3}');
  assert.equal(s.flush(), undefined);
});

test('pending bytes are copied, not aliased to a reused chunk', () => {
  const s = new LineSplitter();
  const chunk = Buffer.from('{"x":1');
  s.push(chunk);
  chunk.fill(0x20);
  assert.deepEqual(s.push(Buffer.from('}\n')), ['{"x":1}']);
});

test('a line over the limit fails', () => {
  const s = new LineSplitter(8);
  s.push(Buffer.from('12345'));
  assert.throws(() => s.push(Buffer.from('67890')), LineTooLongError);
});

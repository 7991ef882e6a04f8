// Waiting for addresses another process holds (bindwait.ts), on a fake clock with fake
// binds: the retry schedule (fast, then slow), one probe per tick in turn, every address at
// once after a probe binds, removal, and bindWhenFree's errors and abort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../client/clock.js';
import { bindWhenFree, InUseWaiter, nextBindDelay, type BindOutcome } from './bindwait.js';

const inUse = () => Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
/** Lets the waiter's promise chains run. */
const settle = async () => { for (let i = 0; i < 10; i++) await Promise.resolve(); };

test('nextBindDelay: fast until the window ends, then slow', () => {
  assert.equal(nextBindDelay(0, { fastUntil: 100 }), 10);
  assert.equal(nextBindDelay(99, { fastUntil: 100, intervalMs: 20 }), 20);
  assert.equal(nextBindDelay(100, { fastUntil: 100 }), 1000);
  assert.equal(nextBindDelay(100, { fastUntil: 100, slowIntervalMs: 500 }), 500);
});

test('InUseWaiter: one probe a tick, in turn; once one binds, every other one is tried at once', async () => {
  const clock = new FakeClock(0);
  const held = new Set(['a', 'b', 'c']);
  const tries: string[] = [];
  const changes: number[] = [];
  const w = new InUseWaiter<string>({
    fastUntil: 1000, clock,
    tryBind: async (k): Promise<BindOutcome> => { tries.push(k); return held.has(k) ? 'inUse' : 'bound'; },
    onChange: (n) => changes.push(n),
  });
  w.add('a'); w.add('b'); w.add('c'); w.add('a');
  assert.equal(w.size, 3);
  assert.deepEqual(changes, [1]);
  for (let i = 0; i < 4; i++) { clock.advance(10); await settle(); }
  assert.deepEqual(tries, ['a', 'b', 'c', 'a'], 'one probe per 10 ms tick, rotating');
  held.clear(); // the old proxy let go of everything
  clock.advance(10); await settle();
  assert.deepEqual(tries.slice(4), ['b', 'c', 'a'], 'the first success tries all the others at once');
  assert.equal(w.size, 0);
  assert.deepEqual(changes, [1, 0]);
  assert.equal(clock.pending(), 0, 'no timer left');
});

test('InUseWaiter: slow after the window; a removed address is not tried; gone is dropped; close stops it', async () => {
  const clock = new FakeClock(0);
  const tries: string[] = [];
  const w = new InUseWaiter<string>({
    fastUntil: 0, clock,
    tryBind: async (k): Promise<BindOutcome> => { tries.push(k); return k === 'gone' ? 'gone' : 'inUse'; },
  });
  w.add('x'); w.add('y');
  clock.advance(999); await settle();
  assert.deepEqual(tries, [], 'past the window: once a second');
  clock.advance(1); await settle();
  assert.deepEqual(tries, ['x']);
  w.delete('y');
  clock.advance(1000); await settle();
  assert.deepEqual(tries, ['x', 'x'], 'y was removed');
  w.add('gone');
  clock.advance(1000); await settle();
  clock.advance(1000); await settle();
  assert.deepEqual(tries, ['x', 'x', 'x', 'gone', 'x'], 'x, then gone (dropped; its not being in use says: try the rest)');
  assert.equal(w.has('gone'), false, 'an address that failed otherwise leaves the waiter');
  w.close();
  assert.equal(clock.pending(), 0);
  w.add('z');
  assert.equal(w.size, 0, 'nothing is added once closed');
});

test('bindWhenFree: retries EADDRINUSE, calls onWait once, throws other errors at once, stops on abort', async () => {
  const clock = new FakeClock(0);
  let n = 0;
  let waits = 0;
  const p = bindWhenFree(async () => { if (++n < 3) throw inUse(); return 'ok'; }, { fastUntil: 1000, intervalMs: 20, clock, onWait: () => waits++ });
  await settle(); clock.advance(20); await settle(); clock.advance(20); await settle();
  assert.equal(await p, 'ok');
  assert.equal(n, 3);
  assert.equal(waits, 1);

  await assert.rejects(bindWhenFree(async () => { throw Object.assign(new Error('nope'), { code: 'EACCES' }); }, { fastUntil: 1000, clock }), /nope/);

  const ac = new AbortController();
  const q = bindWhenFree(async () => { throw inUse(); }, { fastUntil: 1000, clock, signal: ac.signal });
  await settle();
  ac.abort();
  await assert.rejects(q, /EADDRINUSE/);
  assert.equal(clock.pending(), 0);
});

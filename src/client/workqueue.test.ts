import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './clock.js';
import { Backoff } from './backoff.js';
import { ItemExponentialRateLimiter, WorkQueue } from './workqueue.js';

/** get() that must already have a key ready (resolves within the same tick). */
async function ready(q: WorkQueue): Promise<string | undefined> {
  let got: string | undefined | null = null;
  void q.get().then((k) => { got = k; });
  await Promise.resolve();
  await Promise.resolve();
  return got === null ? 'NOTHING' : got;
}

test('keys are deduplicated while queued and handed out FIFO', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a'); q.add('b'); q.add('a'); q.add('c'); q.add('b');
  assert.equal(q.len(), 3);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(await q.get(), 'c');
  assert.equal(q.len(), 0);
  q.shutDown();
});

test('a key being processed is not handed out again until done, then is requeued once', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  const k = await q.get();
  assert.equal(k, 'a');
  q.add('a'); q.add('a');
  assert.equal(q.len(), 0, 'not queued while processing');
  assert.equal(await ready(q), 'NOTHING');
  q.done('a');
  assert.equal(q.len(), 0, 'handed to the waiting getter');
  // The getter left waiting above received it.
  q.done('a');
  q.add('b');
  assert.equal(await q.get(), 'b');
  q.done('b');
  assert.equal(q.len(), 0);
  q.shutDown();
});

test('done without a re-add does not requeue', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add('a');
  assert.equal(await q.get(), 'a');
  q.done('a');
  assert.equal(q.len(), 0);
  assert.equal(await ready(q), 'NOTHING');
  q.shutDown();
});

test('a waiting get() is woken by add()', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const p = q.get();
  q.add('x');
  assert.equal(await p, 'x');
  q.shutDown();
});

test('per-key exponential backoff 5 ms doubling to the 1000 s cap; forget resets', () => {
  const rl = new ItemExponentialRateLimiter();
  const delays = Array.from({ length: 20 }, () => rl.when('k'));
  assert.deepEqual(delays.slice(0, 5), [5, 10, 20, 40, 80]);
  assert.equal(delays.at(-1), 1_000_000);
  assert.ok(delays.every((d, i) => i === 0 || d >= delays[i - 1]!));
  assert.equal(rl.numRequeues('k'), 20);
  assert.equal(rl.when('other'), 5);
  for (let i = 0; i < 2000; i++) rl.when('k');
  assert.equal(rl.when('k'), 1_000_000, 'no overflow');
  rl.forget('k');
  assert.equal(rl.numRequeues('k'), 0);
  assert.equal(rl.when('k'), 5);
});

test('addRateLimited waits the backoff on the clock; forget starts over', async () => {
  const clock = new FakeClock(1000);
  const q = new WorkQueue({ clock });
  q.addRateLimited('k');
  assert.equal(q.len(), 0);
  clock.advance(4);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1);
  assert.equal(await q.get(), 'k');
  q.done('k');
  q.addRateLimited('k');
  clock.advance(9);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1, 'second failure waits 10 ms');
  assert.equal(q.numRequeues('k'), 2);
  q.forget('k');
  assert.equal(q.numRequeues('k'), 0);
  assert.equal(q.metrics().retries, 2);
  q.shutDown();
});

test('addAfter: the earliest pending delay wins; 0 adds at once; timers are cleared on shutdown', () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.addAfter('a', 100);
  q.addAfter('a', 50);
  q.addAfter('a', 200);
  assert.equal(clock.pending(), 1);
  assert.equal(q.metrics().waiting, 1);
  clock.advance(50);
  assert.equal(q.len(), 1);
  assert.equal(clock.pending(), 0);
  q.addAfter('b', 0);
  assert.equal(q.len(), 2);
  q.addAfter('c', 10);
  q.shutDown();
  assert.equal(clock.pending(), 0);
  clock.advance(100);
  assert.equal(q.len(), 0);
});

test('shutdown wakes getters with undefined and refuses new keys', async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const p1 = q.get();
  const p2 = q.get();
  q.shutDown();
  assert.equal(await p1, undefined);
  assert.equal(await p2, undefined);
  q.add('x');
  q.addRateLimited('x');
  assert.equal(q.len(), 0);
  assert.equal(await q.get(), undefined);
  assert.equal(q.shuttingDown(), true);
});

test('backoff: exponential with jitter, capped, reset', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 1, random: () => 0.5 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [150, 300, 600, 1000, 1000, 1000]);
  b.reset();
  assert.equal(b.next(), 150);
  const noJitter = new Backoff({ initialMs: 800, jitter: 0 });
  assert.deepEqual([noJitter.next(), noJitter.next()], [800, 1600]);
});

test('fake clock fires timers in deadline order, including ones set while firing', () => {
  const c = new FakeClock();
  const seen: string[] = [];
  c.setTimeout(() => { seen.push('b@20'); c.setTimeout(() => seen.push('d@25'), 5); }, 20);
  c.setTimeout(() => seen.push('a@10'), 10);
  const h = c.setTimeout(() => seen.push('never'), 15);
  c.clearTimeout(h);
  c.setTimeout(() => seen.push('late@100'), 100);
  c.advance(30);
  assert.deepEqual(seen, ['a@10', 'b@20', 'd@25']);
  assert.equal(c.now(), 30);
  assert.equal(c.pending(), 1);
});

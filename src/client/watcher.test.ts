import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors } from '../api/errors.js';
import { initialWatcherState, step, type WatcherInput, type WatcherState } from './watcher.js';
import type { KObject, ListResult } from './types.js';

const obj = (name: string, rv: string): KObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ns', name, resourceVersion: rv } });
const page = (items: KObject[], rv: string, cont?: string): ListResult => ({ items, metadata: cont ? { resourceVersion: rv, continue: cont } : { resourceVersion: rv } });
const expired = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version: 3 (7)' };

/** Runs inputs from a state; returns the final state and every effect, in order. */
function run(state: WatcherState, ...inputs: WatcherInput[]) {
  const effects = [];
  for (const i of inputs) {
    const r = step(state, i, { pageSize: 2 });
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

function listed(rv = '10'): WatcherState {
  return run(initialWatcherState, { type: 'Resume' }, { type: 'ListPage', page: page([obj('a', '5')], rv) }).state;
}

test('Empty → Listing → paged list → Replace with every page and the first page rv, then Watch', () => {
  let r = step(initialWatcherState, { type: 'Resume' }, { pageSize: 2 });
  assert.deepEqual(r.state, { phase: 'Listing', items: [] });
  assert.deepEqual(r.effects, [{ type: 'List', limit: 2 }]);
  r = step(r.state, { type: 'ListPage', page: page([obj('a', '5'), obj('b', '6')], '10', 'tok1') }, { pageSize: 2 });
  assert.equal(r.state.phase, 'Listing');
  assert.deepEqual(r.effects, [{ type: 'List', limit: 2, continue: 'tok1' }]);
  r = step(r.state, { type: 'ListPage', page: page([obj('c', '11')], '12') }, { pageSize: 2 });
  assert.deepEqual(r.state, { phase: 'Watching', resourceVersion: '10', healthy: false });
  assert.deepEqual(r.effects, [
    { type: 'Replace', items: [obj('a', '5'), obj('b', '6'), obj('c', '11')], resourceVersion: '10' },
    { type: 'ResetBackoff' },
    { type: 'Watch', resourceVersion: '10' },
  ]);
});

test('watch events are applied and advance the rv; bookmarks only advance it; backoff resets on the first event', () => {
  const r = run(listed(),
    { type: 'WatchEvent', event: { type: 'ADDED', object: obj('x', '11') } },
    { type: 'WatchEvent', event: { type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '15' } } } },
    { type: 'WatchEvent', event: { type: 'DELETED', object: obj('x', '16') } });
  assert.deepEqual(r.state, { phase: 'Watching', resourceVersion: '16', healthy: true });
  assert.deepEqual(r.effects.map((e) => e.type), ['ResetBackoff', 'Apply', 'Apply']);
  assert.deepEqual(r.effects[2], { type: 'Apply', event: { type: 'DELETED', object: obj('x', '16') } });
});

test('a normal watch end re-watches from the last rv', () => {
  const r = run(listed(),
    { type: 'WatchEvent', event: { type: 'MODIFIED', object: obj('a', '20') } },
    { type: 'WatchClosed' });
  assert.deepEqual(r.state, { phase: 'Watching', resourceVersion: '20', healthy: false });
  assert.deepEqual(r.effects.at(-1), { type: 'Watch', resourceVersion: '20' });
});

test('a watch that ends without any event backs off before re-watching', () => {
  let r = run(listed('10'), { type: 'WatchClosed' });
  assert.deepEqual(r.state, { phase: 'WatchPending', resourceVersion: '10' });
  assert.equal(r.effects.length, 1);
  assert.equal(r.effects[0]!.type, 'Backoff');
  r = run(r.state, { type: 'Resume' });
  assert.deepEqual(r.effects, [{ type: 'Watch', resourceVersion: '10' }]);
});

test('ERROR 410 Expired relists at once with an empty page buffer', () => {
  const r = run(listed(), { type: 'WatchEvent', event: { type: 'ERROR', object: expired as unknown as KObject } });
  assert.deepEqual(r.state, { phase: 'Listing', items: [] });
  assert.deepEqual(r.effects, [{ type: 'StopWatch' }, { type: 'List', limit: 2 }]);
});

test('a watch closed with a 410 StatusError relists too', () => {
  const r = run(listed(), { type: 'WatchClosed', error: errors.resourceExpired() });
  assert.deepEqual(r.effects, [{ type: 'List', limit: 2 }]);
});

test('another ERROR event backs off, then relists', () => {
  let r = run(listed(), { type: 'WatchEvent', event: { type: 'ERROR', object: { kind: 'Status', code: 500, reason: 'InternalError', message: 'boom' } as unknown as KObject } });
  assert.deepEqual(r.state, initialWatcherState);
  assert.deepEqual(r.effects.map((e) => e.type), ['StopWatch', 'Backoff']);
  const b = r.effects[1] as { error: Error };
  assert.equal(b.error.message, 'boom');
  r = run(r.state, { type: 'Resume' });
  assert.deepEqual(r.effects, [{ type: 'List', limit: 2 }]);
});

test('a failed watch stream backs off and resumes from the same rv (no relist)', () => {
  let r = run(listed('10'), { type: 'WatchEvent', event: { type: 'ADDED', object: obj('q', '12') } }, { type: 'WatchClosed', error: new Error('ECONNRESET') });
  assert.deepEqual(r.state, { phase: 'WatchPending', resourceVersion: '12' });
  assert.equal(r.effects.at(-1)!.type, 'Backoff');
  r = run(r.state, { type: 'Resume' });
  assert.deepEqual(r.effects, [{ type: 'Watch', resourceVersion: '12' }]);
});

test('a failed list backs off to Empty; an expired continue token restarts the list at once', () => {
  let r = run(initialWatcherState, { type: 'Resume' }, { type: 'ListFailed', error: new Error('connection refused') });
  assert.deepEqual(r.state, initialWatcherState);
  assert.equal(r.effects.at(-1)!.type, 'Backoff');
  r = run(initialWatcherState, { type: 'Resume' }, { type: 'ListPage', page: page([obj('a', '1')], '3', 'tok') }, { type: 'ListFailed', error: errors.resourceExpired('continue expired') });
  assert.deepEqual(r.state, { phase: 'Listing', items: [] });
  assert.deepEqual(r.effects.at(-1), { type: 'List', limit: 2 });
  // An expired error on a first page is not retried in a tight loop.
  r = run(initialWatcherState, { type: 'Resume' }, { type: 'ListFailed', error: errors.resourceExpired() });
  assert.equal(r.effects.at(-1)!.type, 'Backoff');
});

test('inputs that do not belong to the phase are ignored and the state is not mutated', () => {
  const s = Object.freeze(listed());
  for (const i of [{ type: 'Resume' }, { type: 'ListPage', page: page([], '99') }, { type: 'ListFailed', error: new Error('x') }] as WatcherInput[]) {
    const r = step(s, i);
    assert.equal(r.state, s);
    assert.deepEqual(r.effects, []);
  }
  assert.deepEqual(step(initialWatcherState, { type: 'WatchClosed' }).effects, []);
  const listing = Object.freeze({ phase: 'Listing' as const, items: Object.freeze([obj('a', '1')]) });
  const r = step(listing, { type: 'ListPage', page: page([obj('b', '2')], '3') });
  assert.equal(listing.items.length, 1);
  const e0 = r.effects[0]!;
  assert.equal(e0.type === 'Replace' ? e0.items.length : -1, 2);
});

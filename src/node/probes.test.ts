import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../client/clock.js';
import { initialProbeState, probeAction, probeStep, ProbeWorker, type ProbeResult } from './probes.js';
import { FakeProber } from './testdata/fakes.js';

test('results flip only after the thresholds, liveness failure holds the worker', () => {
  const t = { successThreshold: 2, failureThreshold: 3 };
  let s = initialProbeState('readiness');
  assert.equal(s.result, 'failure');
  let r = probeStep('readiness', s, 'success', t); s = r.state;
  assert.equal(r.changed, false);
  r = probeStep('readiness', s, 'success', t); s = r.state;
  assert.deepEqual([r.changed, s.result], [true, 'success']);
  for (const expectChange of [false, false, true]) {
    r = probeStep('readiness', s, 'failure', t); s = r.state;
    assert.equal(r.changed, expectChange);
  }
  assert.equal(s.result, 'failure');
  let l = initialProbeState('liveness');
  assert.equal(l.result, 'success');
  for (let i = 0; i < 3; i++) l = probeStep('liveness', l, 'failure', { successThreshold: 1, failureThreshold: 3 }).state;
  assert.deepEqual([l.result, l.onHold], ['failure', true]);
  assert.equal(initialProbeState('startup').result, 'unknown');
});

test('probe actions resolve named ports and default to the pod IP', () => {
  const c = { ports: [{ name: 'http', containerPort: 8080 }] };
  assert.deepEqual(probeAction({ httpGet: { port: 'http', path: 'healthz', httpHeaders: [{ name: 'X', value: 'y' }] } }, c, '10.244.0.5'),
    { kind: 'http', host: '10.244.0.5', port: 8080, path: '/healthz', scheme: 'HTTP', headers: [{ name: 'X', value: 'y' }] });
  assert.deepEqual(probeAction({ tcpSocket: { port: 9376 } }, c, '10.244.0.5'), { kind: 'tcp', host: '10.244.0.5', port: 9376 });
  assert.deepEqual(probeAction({ exec: { command: ['cat', '/tmp/ok'] } }, c, 'x'), { kind: 'exec', command: ['cat', '/tmp/ok'] });
  assert.equal(probeAction({ httpGet: { port: 'nope' } }, c, 'x').kind, 'unsupported');
});

const flush = () => new Promise((r) => setImmediate(r));

test('a worker probes after initialDelaySeconds, every periodSeconds, and reports changes', async () => {
  const clock = new FakeClock(1_000_000);
  const prober = new FakeProber();
  let ok = false;
  prober.answer = () => ({ ok, output: ok ? '' : 'HTTP probe failed with statuscode: 500' });
  const results: ProbeResult[] = [];
  const w = new ProbeWorker({
    type: 'readiness', probe: { httpGet: { port: 80 }, initialDelaySeconds: 5, periodSeconds: 2, failureThreshold: 2, successThreshold: 1 },
    container: {}, podIP: '10.244.0.5', podNetns: 'pod-ns', env: {}, startedAt: clock.now(), executor: prober, clock,
    onResult: (r) => results.push(r),
  });
  clock.advance(4999); await flush();
  assert.equal(prober.calls.length, 0);
  clock.advance(1); await flush();
  assert.equal(prober.calls.length, 1);
  ok = true;
  clock.advance(2000); await flush();
  assert.deepEqual(results, ['success']);
  ok = false;
  clock.advance(2000); await flush();
  assert.deepEqual(results, ['success']);
  clock.advance(2000); await flush();
  assert.deepEqual(results, ['success', 'failure']);
  w.close();
  clock.advance(10_000); await flush();
  assert.equal(prober.calls.length, 4);
});

test('liveness waits for the startup probe (gate) and stops after a failure', async () => {
  const clock = new FakeClock(0);
  const prober = new FakeProber();
  prober.answer = () => ({ ok: false, output: 'refused' });
  let started = false;
  const results: ProbeResult[] = [];
  const w = new ProbeWorker({
    type: 'liveness', probe: { tcpSocket: { port: 80 }, periodSeconds: 1, failureThreshold: 1 }, container: {}, podIP: 'ip', podNetns: 'ns',
    env: {}, startedAt: 0, executor: prober, clock, gate: () => started, onResult: (r) => results.push(r),
  });
  clock.advance(0); await flush();
  clock.advance(3000); await flush();
  assert.equal(prober.calls.length, 0);
  started = true;
  clock.advance(1000); await flush();
  assert.deepEqual(results, ['failure']);
  clock.advance(5000); await flush();
  assert.equal(prober.calls.length, 1);
  w.close();
});

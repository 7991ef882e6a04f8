import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { computePodStatus, type ContainerView, type PodRuntimeView } from './status.js';
import { assertGolden } from './testdata/golden.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:00:05Z';
const T2 = '2026-01-01T00:00:09Z';

function pod(spec: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'uid-1' },
    spec: { nodeName: 'node-1', restartPolicy: 'Always', containers: [{ name: 'app', image: 'nginx' }], ...spec },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

const running = (over: Partial<ContainerView> = {}): ContainerView => ({
  name: 'app', containerID: 'svcnet://c1', restartCount: 0, current: { state: 'running', startedAt: T0 }, started: true, ready: true, ...over,
});

const view = (over: Partial<PodRuntimeView> = {}): PodRuntimeView => ({
  sandboxReady: true, podIP: '10.244.0.5', hostIP: '172.30.0.10', initContainers: [], containers: [], terminal: false, ...over,
});

test('pod status as kubelet writes it (golden)', () => {
  const cases: Record<string, unknown> = {};
  cases['pending, no sandbox yet'] = computePodStatus(pod(), view({ sandboxReady: false, podIP: undefined }), T0);
  cases['running and ready'] = computePodStatus(pod(), view({ containers: [running()] }), T0);
  cases['running, readiness failing'] = computePodStatus(pod(), view({ containers: [running({ ready: false })] }), T0);
  cases['crash loop'] = computePodStatus(pod(), view({
    containers: [running({
      restartCount: 3, started: false, ready: false,
      current: { state: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=app pod=web_default(uid-1)' },
      last: { state: 'terminated', exitCode: 1, reason: 'Error', startedAt: T0, finishedAt: T1 },
    })],
  }), T1);
  cases['Never, exited 0 → Succeeded'] = computePodStatus(pod({ restartPolicy: 'Never' }), view({
    containers: [running({ started: false, ready: false, current: { state: 'terminated', exitCode: 0, reason: 'Completed', startedAt: T0, finishedAt: T1 } })],
  }), T1);
  cases['Never, exited 2 → Failed'] = computePodStatus(pod({ restartPolicy: 'Never' }), view({
    containers: [running({ started: false, ready: false, current: { state: 'terminated', exitCode: 2, reason: 'Error', startedAt: T0, finishedAt: T1 } })],
  }), T1);
  cases['init container running'] = computePodStatus(pod({ initContainers: [{ name: 'init', image: 'busybox' }] }), view({
    initContainers: [running({ name: 'init', ready: false, started: true })],
  }), T0);
  cases['two containers, one unready, one not created'] = computePodStatus(
    pod({ containers: [{ name: 'b', image: 'nginx' }, { name: 'a', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53' }] }),
    view({ containers: [running({ name: 'b', ready: false })] }), T0);
  cases['deleted, containers stopped by SIGTERM → Failed'] = computePodStatus(pod(), view({
    terminal: true,
    containers: [running({ started: false, ready: false, current: { state: 'terminated', exitCode: 143, reason: 'Error', startedAt: T0, finishedAt: T2 } })],
  }), T2);
  assertGolden('pod-status', cases);
});

test('lastTransitionTime moves only when a condition changes', () => {
  const p = pod();
  const s1 = computePodStatus(p, view({ containers: [running({ ready: false })] }), T0);
  const s2 = computePodStatus({ ...p, status: s1 }, view({ containers: [running({ ready: false })] }), T1);
  assert.deepEqual(s2, s1);
  const s3 = computePodStatus({ ...p, status: s2 }, view({ containers: [running()] }), T2);
  const times = Object.fromEntries(s3.conditions!.map((c) => [c.type, c.lastTransitionTime]));
  assert.deepEqual(times, { PodReadyToStartContainers: T0, Initialized: T0, Ready: T2, ContainersReady: T2, PodScheduled: T0 });
  assert.equal(s3.startTime, T0);
  // Conditions kubelet does not own are kept.
  const withGate = computePodStatus({ ...p, status: { ...s3, conditions: [...s3.conditions!, { type: 'example.com/gate', status: 'True' }] } },
    view({ containers: [running()] }), T2);
  assert.ok(withGate.conditions!.some((c) => c.type === 'example.com/gate'));
});

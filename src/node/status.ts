// PodStatus from what the runtime knows, as kubelet computes it
// (pkg/kubelet/kubelet_pods.go generateAPIPodStatus + getPhase,
// pkg/kubelet/status/generate.go, status_manager.go updateLastTransitionTime).
// Pure: the previous status comes in with the pod, the clock as `now`.
import type { ContainerStatus, ContainerState, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';
import { qosClass } from '../api/defaults/pod.js';
import { normalizeImage } from './images.js';
import { sha256Hex } from './names.js';

export interface TerminatedView {
  state: 'terminated';
  exitCode: number;
  signal?: number;
  /** Completed, Error, StartError, ContainerStatusUnknown… */
  reason: string;
  message?: string;
  startedAt?: string;
  finishedAt: string;
}

export type ContainerStateView =
  | { state: 'waiting'; reason: string; message?: string }
  | { state: 'running'; startedAt: string }
  | TerminatedView;

/** One container as the runtime sees it (missing from the view = never created). */
export interface ContainerView {
  name: string;
  containerID?: string;
  restartCount: number;
  current: ContainerStateView;
  last?: TerminatedView;
  /** Startup probe passed (or none) and the container runs. */
  started: boolean;
  /** Readiness: started and the readiness probe passes (or none). */
  ready: boolean;
}

export interface PodRuntimeView {
  /** Namespace, interface, address and routes are in place (PodReadyToStartContainers). */
  sandboxReady: boolean;
  podIP?: string;
  hostIP: string;
  initContainers: readonly ContainerView[];
  containers: readonly ContainerView[];
  /** The pod is done for good (deleted, or its containers will not restart): phase is Succeeded or Failed once they stop. */
  terminal: boolean;
}

/** Conditions kubelet owns; others on the pod (DisruptionTarget, readiness gates) are kept as they are. */
const kubeletConditions = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);

export function containerIDFor(podUid: string, name: string, restartCount: number): string {
  return `svcnet://${sha256Hex(`${podUid}/${name}/${restartCount}`)}`;
}

export function imageIDFor(image: string): string {
  const n = normalizeImage(image);
  const repo = n.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  return `${repo}@sha256:${sha256Hex(n)}`;
}

function apiState(v: ContainerStateView, containerID?: string): ContainerState {
  switch (v.state) {
    case 'waiting': return { waiting: v.message ? { reason: v.reason, message: v.message } : { reason: v.reason } };
    case 'running': return { running: { startedAt: v.startedAt } };
    case 'terminated': return { terminated: terminatedState(v, containerID) };
  }
}

function terminatedState(v: TerminatedView, containerID?: string): NonNullable<ContainerState['terminated']> {
  const t: NonNullable<ContainerState['terminated']> = { exitCode: v.exitCode, reason: v.reason };
  if (v.signal !== undefined) t.signal = v.signal;
  if (v.message) t.message = v.message;
  if (v.startedAt) t.startedAt = v.startedAt;
  t.finishedAt = v.finishedAt;
  if (containerID) t.containerID = containerID;
  return t;
}

function containerStatus(name: string, image: string, v: ContainerView | undefined, waitingReason: string): ContainerStatus {
  const n = image ? normalizeImage(image) : '';
  if (!v) {
    return { name, image: n, imageID: '', lastState: {}, ready: false, restartCount: 0, started: false, state: { waiting: { reason: waitingReason } } };
  }
  const s: ContainerStatus = {
    name, image: n, imageID: v.containerID ? imageIDFor(image) : '',
    lastState: v.last ? { terminated: terminatedState(v.last) } : {},
    ready: v.ready, restartCount: v.restartCount, started: v.started,
    state: apiState(v.current, v.containerID),
  };
  if (v.containerID) s.containerID = v.containerID;
  return s;
}

type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** kubelet getPhase (1.32), for regular init containers (no sidecars). */
export function podPhase(pod: Pod, init: readonly ContainerStatus[], main: readonly ContainerStatus[], terminal: boolean): Phase {
  const spec = pod.spec!;
  let pendingInitialization = 0;
  let failedInitialization = 0;
  for (const c of spec.initContainers ?? []) {
    const s = init.find((x) => x.name === c.name);
    if (!s) { pendingInitialization++; continue; }
    if (s.state?.running) pendingInitialization++;
    else if (s.state?.terminated) { if (s.state.terminated.exitCode !== 0) failedInitialization++; }
    else if (s.state?.waiting) {
      if (s.lastState?.terminated) { if (s.lastState.terminated.exitCode !== 0) failedInitialization++; }
      else pendingInitialization++;
    } else pendingInitialization++;
  }
  let unknown = 0, running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const c of spec.containers ?? []) {
    const s = main.find((x) => x.name === c.name);
    if (!s) { unknown++; continue; }
    if (s.state?.running) running++;
    else if (s.state?.terminated) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
    else if (s.state?.waiting) { if (s.lastState?.terminated) stopped++; else waiting++; }
    else unknown++;
  }
  if (failedInitialization > 0 && spec.restartPolicy === 'Never') return 'Failed';
  if (pendingInitialization > 0 && !terminal) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (terminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (spec.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (spec.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function cond(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  const c: PodCondition = { type, status: ok ? 'True' : 'False' };
  (c as { lastProbeTime?: string | null }).lastProbeTime = null;
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/** The status kubelet would write for this pod now. */
export function computePodStatus(pod: Pod, view: PodRuntimeView, now: string): PodStatus {
  const spec = pod.spec!;
  const old = pod.status ?? {};
  const initNames = (spec.initContainers ?? []).map((c) => c.name);
  const initDone = (spec.initContainers ?? []).every((c) => {
    const v = view.initContainers.find((x) => x.name === c.name);
    return v?.current.state === 'terminated' && v.current.exitCode === 0;
  });
  const initStatuses = (spec.initContainers ?? []).map((c) => containerStatus(c.name, c.image ?? '',
    view.initContainers.find((x) => x.name === c.name), view.sandboxReady ? 'PodInitializing' : 'PodInitializing'));
  const mainStatuses = spec.containers.map((c) => containerStatus(c.name, c.image ?? '',
    view.containers.find((x) => x.name === c.name), initDone && view.sandboxReady ? 'ContainerCreating' : initNames.length ? 'PodInitializing' : 'ContainerCreating'));
  // kubelet sorts container statuses by name (kubetypes.SortedContainerStatuses).
  mainStatuses.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const phase = podPhase(pod, initStatuses, mainStatuses, view.terminal);

  const conditions: PodCondition[] = [];
  conditions.push(cond('PodReadyToStartContainers', view.sandboxReady));
  const incomplete = (spec.initContainers ?? []).filter((c) => {
    const v = view.initContainers.find((x) => x.name === c.name);
    return !(v?.current.state === 'terminated' && v.current.exitCode === 0);
  }).map((c) => c.name);
  // An init container that completed before the pod's end keeps Initialized true (the pod did initialize).
  if (incomplete.length === 0 || (phase === 'Succeeded' || phase === 'Failed') && incomplete.length === 0) conditions.push(cond('Initialized', true));
  else conditions.push(cond('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incomplete.join(' ')}]`));
  const containersReady = containersReadyCondition(spec.containers.map((c) => c.name), mainStatuses, phase);
  const ready = { ...containersReady, type: 'Ready' };
  conditions.push(ready, containersReady);
  conditions.push(cond('PodScheduled', true));

  // lastTransitionTime moves only when a condition's status changes.
  for (const c of conditions) {
    const prev = old.conditions?.find((x) => x.type === c.type);
    c.lastTransitionTime = prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now;
  }
  for (const c of old.conditions ?? []) if (!kubeletConditions.has(c.type)) conditions.push(c);

  const status: PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
  };
  const podIP = view.podIP ?? old.podIP;
  if (podIP) { status.podIP = podIP; status.podIPs = [{ ip: podIP }]; }
  status.startTime = old.startTime ?? now;
  if (initStatuses.length) status.initContainerStatuses = initStatuses;
  status.containerStatuses = mainStatuses;
  status.qosClass = old.qosClass ?? qosClass(spec);
  return status;
}

function containersReadyCondition(names: readonly string[], statuses: readonly ContainerStatus[], phase: Phase): PodCondition {
  const unknown: string[] = [];
  const unready: string[] = [];
  for (const n of names) {
    const s = statuses.find((x) => x.name === n);
    if (!s) unknown.push(n);
    else if (!s.ready) unready.push(n);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return cond('ContainersReady', false, 'PodCompleted');
  if (phase === 'Failed') return cond('ContainersReady', false, 'PodFailed');
  const msgs: string[] = [];
  if (unknown.length) msgs.push(`containers with unknown status: [${unknown.join(' ')}]`);
  if (unready.length) msgs.push(`containers with unready status: [${unready.join(' ')}]`);
  if (msgs.length) return cond('ContainersReady', false, 'ContainersNotReady', msgs.join(', '));
  return cond('ContainersReady', true);
}

/** Is the pod Ready by its conditions? */
export function isPodReady(status: PodStatus | undefined): boolean {
  return status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

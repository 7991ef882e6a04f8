// Container logs for `kubectl logs` (the API server's pods/log calls
// getContainerLogs). Each container's stdout and stderr go to one file per
// restart (<dataDir>/pods/<uid>/logs/<container>/<restartCount>.log); the
// current and the previous one are kept, as kubelet keeps them.
//
// Node agents running in this process register themselves as log sources;
// getContainerLogs finds the one that runs the pod. Errors are the Status
// errors kube-apiserver / kubelet answer with, so the API server can return
// them as they are.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { errors, type StatusError } from '../api/errors.js';

export interface ContainerLogOptions {
  follow?: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  /** The log of the previous (terminated) instance. */
  previous?: boolean;
  /** Stop after this many bytes. */
  limitBytes?: number;
  /** Ends a follow. */
  signal?: AbortSignal;
}

/** What a log source knows of one container of a pod. */
export interface LogContainerState {
  restartCount: number;
  state: 'waiting' | 'running' | 'terminated';
  waitingReason?: string;
  /** A previous instance exists (lastState.terminated). */
  hasPrevious: boolean;
}

export interface LogPod {
  name: string;
  /** Regular containers, in spec order, then init containers. */
  containers: readonly string[];
  initContainers: readonly string[];
  container(name: string): LogContainerState | undefined;
  logPath(container: string, restartCount: number): string;
}

export interface LogSource {
  findPod(namespace: string, name: string): LogPod | undefined;
}

const sources = new Set<LogSource>();

/** Node agents call this at start; dispose at close. */
export function registerLogSource(s: LogSource): { dispose(): void } {
  sources.add(s);
  return { dispose: () => { sources.delete(s); } };
}

function findPod(namespace: string, name: string): LogPod | undefined {
  for (const s of sources) {
    const p = s.findPod(namespace, name);
    if (p) return p;
  }
  return undefined;
}

/**
 * The log of one container of a pod run by a node agent of this process.
 * `container` may be omitted when the pod has exactly one container. Throws a
 * StatusError (400/404) before anything is streamed.
 */
export async function getContainerLogs(namespace: string, pod: string, container: string | undefined,
  opts: ContainerLogOptions = {}): Promise<AsyncIterable<Buffer>> {
  const p = findPod(namespace, pod);
  if (!p) throw errors.badRequest(`container "${container ?? ''}" in pod "${pod}" is waiting to start: ContainerCreating`);
  let name = container;
  if (!name) {
    if (p.containers.length === 1) name = p.containers[0]!;
    else {
      throw errors.badRequest(`a container name must be specified for pod ${pod}, choose one of: [${p.containers.join(' ')}] or one of the init containers: [${p.initContainers.join(' ')}]`.replace(' or one of the init containers: []', ''));
    }
  }
  if (!p.containers.includes(name) && !p.initContainers.includes(name)) {
    throw errors.badRequest(`container ${name} is not valid for pod ${pod}`);
  }
  const st = p.container(name);
  if (!st) throw waiting(name, pod, 'ContainerCreating');
  let restart = st.restartCount;
  if (opts.previous) {
    if (!st.hasPrevious || restart === 0) throw errors.badRequest(`previous terminated container "${name}" in pod "${pod}" not found`);
    restart -= 1;
  } else if (st.state === 'waiting' && !st.hasPrevious && restart === 0) {
    throw waiting(name, pod, st.waitingReason ?? 'ContainerCreating');
  } else if (st.state === 'waiting') {
    // Waiting to restart (CrashLoopBackOff): the current file is the last instance's.
    restart = Math.max(0, restart - (fileSize(p.logPath(name, restart)) === undefined ? 1 : 0));
  }
  const path = p.logPath(name, restart);
  const stillWriting = (): boolean => {
    const now = p.container(name!);
    return !!now && now.restartCount === restart && now.state === 'running';
  };
  return readLog(path, { ...opts, follow: !!opts.follow && !opts.previous }, stillWriting);
}

function waiting(container: string, pod: string, reason: string): StatusError {
  return errors.badRequest(`container "${container}" in pod "${pod}" is waiting to start: ${reason}`);
}

function fileSize(path: string): number | undefined {
  try { return statSync(path).size; } catch { return undefined; }
}

/** Where the last `lines` lines of the file start. */
export function tailOffset(path: string, lines: number): number {
  const size = fileSize(path) ?? 0;
  if (lines <= 0) return size;
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let pos = size;
    let newlines = 0;
    // A trailing newline ends the last line; it does not start another.
    let skipLast = true;
    while (pos > 0) {
      const len = Math.min(chunk.length, pos);
      pos -= len;
      readSync(fd, chunk, 0, len, pos);
      for (let i = len - 1; i >= 0; i--) {
        if (chunk[i] !== 0x0a) { skipLast = false; continue; }
        if (skipLast) { skipLast = false; continue; }
        newlines++;
        if (newlines === lines) return pos + i + 1;
      }
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

async function* readLog(path: string, opts: ContainerLogOptions, stillWriting: () => boolean): AsyncGenerator<Buffer> {
  let offset = opts.tailLines !== undefined && fileSize(path) !== undefined ? tailOffset(path, opts.tailLines) : 0;
  let budget = opts.limitBytes ?? Infinity;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    const size = fileSize(path) ?? 0;
    while (offset < size && budget > 0) {
      const fd = openSync(path, 'r');
      let n: number;
      try { n = readSync(fd, buf, 0, Math.min(buf.length, size - offset, budget), offset); } finally { closeSync(fd); }
      if (n <= 0) break;
      offset += n;
      budget -= n;
      yield Buffer.from(buf.subarray(0, n));
    }
    if (!opts.follow || budget <= 0 || opts.signal?.aborted) return;
    if (!stillWriting() && offset >= (fileSize(path) ?? 0)) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 200);
      opts.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}

// `kubectl attach` (and `kubectl run -i/-it`, which attaches), the node's
// half: connect a client to the main process of a running container — its
// stdin, its output, its terminal — rather than start a new one (exec.ts).
//
// stdin: a container with `stdin: true` is started with a pipe on its stdin
// that the agent holds (the containerd shim's role), empty until a client
// attaches with stdin. `stdinOnce: true` closes it when the first attach that
// carried stdin ends (the field's contract in the API reference). After an
// agent restart the pipe is gone: an adopted container reads EOF.
//
// Output: a container's stdout and stderr go to its log file (runtime.ts), so
// it outlives the agent; an attach follows that file (inotify, with a poll
// as backstop) from its end, as kubelet hands an attach only what comes next.
// One departure, for what attach is mostly used for: the first stdin attach
// of a stdin container also gets what the container wrote before it
// (`kubectl run -i` attaches only once the pod runs; kubelet loses the
// output of that window, hence kubectl's "If you don't see a command
// prompt" line), and may attach even if the container already ended, until
// then. stdout and stderr reach the client together on the stdout channel:
// the log file holds them together.
//
// tty: a container with `tty: true` runs under util-linux `script` as an
// exec -t does (exec.ts onTerminal), its terminal resized with `stty -F`.
//
// The wire side (WebSocket channels, Status) is cluster/attach.ts with the
// pieces shared with exec (exec.ts, cluster/exec.ts).
import { closeSync, fstatSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { ExecError, findExecPod, resizeTerminal, type ExecProcess, type TerminalSize } from './exec.js';

// ---------------------------------------------------------------------------
// The container's stdin.

/** One attach's hold on a container's stdin. */
export interface StdinLease {
  /** This is the first attach that carried stdin (it gets the output written before it). */
  readonly first: boolean;
  /** Writes to the container's stdin; `cb` once the pipe took it (backpressure), or at once when nobody reads. */
  write(data: Buffer, cb: () => void): void;
  /** The client's stdin ended. Returns whether the attach goes on (kubelet's rule, see ContainerStdin). */
  clientEOF(): 'continue' | 'end';
  /** The attach ended (either way). */
  release(): void;
}

/**
 * The stdin pipe of one container instance, as containerd's attach treats it. A client's
 * EOF: with stdinOnce and no tty the container's stdin closes and the attach goes on
 * until the container exits (`kubectl run -i` piping a script to sh); otherwise the attach
 * ends and the container's stdin stays open for the next one (with stdinOnce it closes
 * once the first attach ended, whichever way).
 */
export class ContainerStdin {
  private attaches = 0;
  private closed = false;

  constructor(private readonly pipe: Writable | undefined, readonly once: boolean, readonly tty: boolean) {
    pipe?.on('error', () => { this.closed = true; });
  }

  /** No attach with stdin came yet (the container's early output is kept for it, even once it ended). */
  get unclaimed(): boolean { return this.attaches === 0; }

  /** Open for writing: attached by no one yet, or not stdinOnce, and not closed. */
  get open(): boolean { return !this.closed && !!this.pipe && !this.pipe.writableEnded && !this.pipe.destroyed; }

  lease(): StdinLease {
    const first = this.attaches === 0;
    this.attaches++;
    let done = false;
    const closeOnce = (): void => { if (this.once) this.close(); };
    return {
      first,
      write: (data, cb) => {
        const pipe = this.pipe;
        if (done || !this.open || !pipe) { cb(); return; }
        if (pipe.write(data)) { cb(); return; }
        const go = (): void => { pipe.off('drain', go); pipe.off('close', go); cb(); };
        pipe.on('drain', go);
        pipe.on('close', go);
      },
      clientEOF: () => {
        if (done) return 'end';
        done = true;
        closeOnce();
        return this.once && !this.tty ? 'continue' : 'end';
      },
      release: () => { done = true; closeOnce(); },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pipe && !this.pipe.writableEnded) this.pipe.end();
  }
}

// ---------------------------------------------------------------------------
// Following a log file.

export type FollowedFile = Readable & {
  /** Ends it now. */
  stop(): void;
  /** Ends it once nothing new came for `quietMs` (the writer's answer to the last input is in). */
  stopWhenQuiet(quietMs: number): void;
};

/**
 * The bytes written to `path` from `offset` on, as they come, until `ended` resolves
 * (the writer exited) and everything was read, or it is stopped.
 */
export function followFile(path: string, o: { offset: 'start' | 'end'; ended: Promise<unknown>; pollMs?: number }): FollowedFile {
  let fd: number | undefined;
  try { fd = openSync(path, 'r'); } catch { /* nothing written: ends with the writer */ }
  let pos = fd !== undefined && o.offset === 'end' ? fstatSync(fd).size : 0;
  let ended = false;
  let stopped = false;
  let wanted = true;
  let watcher: FSWatcher | undefined;
  let quiet: { ms: number; timer?: NodeJS.Timeout } | undefined;
  const buf = Buffer.alloc(64 * 1024);
  const pump = (): void => {
    if (stopped) return;
    let got = false;
    while (wanted && fd !== undefined) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      got = true;
      wanted = out.push(Buffer.from(buf.subarray(0, n)));
    }
    if (ended && wanted) { finish(); return; }
    if (quiet && (got || !quiet.timer)) {
      clearTimeout(quiet.timer);
      quiet.timer = setTimeout(() => { ended = true; pump(); }, quiet.ms);
    }
  };
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(poll);
    clearTimeout(quiet?.timer);
    watcher?.close();
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    out.push(null);
  };
  const out = new Readable({ read() { wanted = true; pump(); } }) as FollowedFile;
  out.stop = finish;
  out.stopWhenQuiet = (ms) => { if (!quiet) { quiet = { ms }; pump(); } };
  try { watcher = watch(path, { persistent: false }, () => pump()); watcher.on('error', () => undefined); } catch { /* polled */ }
  const poll = setInterval(pump, o.pollMs ?? 250);
  poll.unref();
  void o.ended.then(() => { ended = true; pump(); });
  return out;
}

// ---------------------------------------------------------------------------
// What an agent offers for an attach, and the attach itself.

export interface AttachTarget {
  /** The log file of the instance attached to. */
  logPath: string;
  /** The container runs on a terminal (`tty: true`). */
  tty: boolean;
  /** Its stdin, when the spec asks for one and this agent holds it. */
  stdin?: ContainerStdin;
  /** `script`'s pid for a tty container (resizes); undefined once it ended. */
  pid?: number;
  /** The instance runs (otherwise: a stdin container that ended before its first attach). */
  running: boolean;
  /** Resolves when the instance ended (at once when it already had). */
  exited: Promise<unknown>;
}

/** kubelet's podFullName: `name_namespace`. */
export function podFullName(namespace: string, pod: string): string {
  return `${pod}_${namespace}`;
}

/**
 * kubelet's GetAttach: the pod runs on this node, the container runs (or is a stdin
 * container that ended before its first attach, and this attach brings stdin: see above).
 * Throws ExecError (dial/handshake).
 */
export function findAttachTarget(namespace: string, pod: string, uid: string | undefined, nodeName: string | undefined, container: string,
  withStdin: boolean): AttachTarget {
  const p = findExecPod(namespace, pod, uid, nodeName);
  const t = p.attach?.(container);
  if (!t || (!t.running && !withStdin)) throw new ExecError('handshake', 500, `container ${container} not found in pod ${podFullName(namespace, pod)}`);
  return t;
}

/** kubelet's remotecommand NewOptions check (an attach has no command). */
export function validateAttachRequest(o: { stdin: boolean; stdout: boolean; stderr: boolean }): string | undefined {
  if (!o.stdin && !o.stdout && !o.stderr) return 'you must specify at least 1 of stdin, stdout, stderr';
  return undefined;
}

/** How long the output must stay quiet before an attach ended by the client's EOF ends. */
const ANSWER_QUIET_MS = 300;

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The first window size (tty containers). */
  size?: TerminalSize;
}

/**
 * Connects to the target. The result reads as an exec's process (cluster/exec.ts serves
 * both): `stdin` feeds the container's stdin, `stdout` carries its output, `exited`
 * resolves (with 0: an attach has no exit code of its own) when the output ended or the
 * attach did, `kill()` detaches (the container goes on).
 */
export function startAttach(t: AttachTarget, o: AttachOptions): ExecProcess {
  const lease = o.stdin && t.stdin ? t.stdin.lease() : undefined;
  let detach!: () => void;
  const detached = new Promise<void>((r) => { detach = r; });
  const wantsOutput = o.stdout || o.stderr;
  const output = wantsOutput
    ? followFile(t.logPath, { offset: lease?.first ? 'start' : 'end', ended: Promise.race([t.exited, detached]) })
    : undefined;
  const exited = output
    ? new Promise<number>((r) => { output.once('end', () => r(0)); output.once('close', () => r(0)); })
    : Promise.race([t.exited, detached]).then(() => 0);
  const stdin = o.stdin
    ? new Writable({
      write(chunk: Buffer, _enc, cb) { if (lease) lease.write(chunk, () => cb()); else cb(); },
      final(cb) {
        // No stdin in the container: the client's EOF changes nothing (containerd drops such input).
        if (lease && lease.clientEOF() === 'end') {
          // containerd ends such an attach at once; the container's answer to what was just
          // sent would be lost (`echo x | kubectl attach -i` printing nothing): wait for it.
          if (output) output.stopWhenQuiet(ANSWER_QUIET_MS); else detach();
        }
        cb();
      },
    })
    : undefined;
  stdin?.on('error', () => undefined);
  const resize = (s: TerminalSize): void => { if (t.tty && t.pid !== undefined) resizeTerminal(t.pid, s); };
  if (o.size) resize(o.size);
  void exited.then(() => lease?.release());
  return {
    stdin,
    // The log holds both streams: they go out on whichever of stdout/stderr the client asked for.
    stdout: o.stdout ? output : undefined,
    stderr: !o.stdout && o.stderr ? output : undefined,
    exited,
    resize,
    kill() { output?.stop(); detach(); lease?.release(); },
  };
}

// `kubectl exec`, the node's half: "run this command in container C of pod
// P" for the agent that runs P (kubelet's GetExec + the runtime's exec), and
// the pure parts of the remote-command protocol the API server speaks to the
// client (k8s.io/apimachinery/pkg/util/remotecommand, wsstream): options,
// channel framing, resize messages, the Status written on the error channel.
//
// A command runs as the container does (runtime.ts): `ip netns exec <pod
// netns>` (the pod's network namespace and its /etc/netns files), its own UTS
// namespace with the pod's hostname, the container's environment and working
// directory, in a process group of its own (so the whole tree can be killed
// when the client goes away). With a tty, util-linux `script` gives the
// command a pseudo-terminal (no native pty module); later window sizes are
// set on that terminal with `stty -F`, which makes the kernel send SIGWINCH.
//
// Node agents in this process register an ExecSource, as they register a
// LogSource (logs.ts); findExecTarget finds the one that runs the pod.
// Errors carry kubelet's own texts; the API server side decides how the
// client sees them (after a WebSocket upgrade, on the error channel, wrapped
// as kube-apiserver's stream translator wraps them).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Status } from 'kubernetes-types/meta/v1.js';
import { errors } from '../api/errors.js';
import { signalNumber } from './netns.js';
import type { AttachTarget } from './attach.js';
import { findExecutable, systemTool } from './runtime.js';
import { builtinFor } from './images.js';
import { builtinScript } from './probes.js';

// ---------------------------------------------------------------------------
// Options (PodExecOptions from the query string).

export interface ExecRequest {
  command: string[];
  container?: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Go's strconv.ParseBool, which the query parameter conversion uses. */
function parseBool(name: string, v: string | null): boolean {
  if (v === null) return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False', ''].includes(v)) return false;
  throw errors.badRequest(`${name}: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/**
 * PodExecOptions from `?command=…&command=…&container=&stdin=&stdout=&stderr=&tty=`.
 * kubelet drops stderr when a tty is asked for (the terminal carries both).
 */
export function parseExecQuery(q: URLSearchParams): ExecRequest {
  const tty = parseBool('tty', q.get('tty'));
  const r: ExecRequest = {
    command: q.getAll('command'),
    stdin: parseBool('stdin', q.get('stdin')),
    stdout: parseBool('stdout', q.get('stdout')),
    stderr: parseBool('stderr', q.get('stderr')) && !tty,
    tty,
  };
  const c = q.get('container');
  if (c) r.container = c;
  return r;
}

/** kubelet's remotecommand NewOptions checks, before anything runs. */
export function validateExecRequest(r: ExecRequest): string | undefined {
  if (!r.stdin && !r.stdout && !r.stderr) return 'you must specify at least 1 of stdin, stdout, stderr';
  if (r.command.length === 0) return 'you must specify at least 1 command';
  return undefined;
}

// ---------------------------------------------------------------------------
// Channel protocol (v4.channel.k8s.io / v5.channel.k8s.io): binary messages
// whose first byte is the stream.

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_ERROR = 3;
export const STREAM_RESIZE = 4;
/** v5: [255, n] = the sender is done writing stream n (the client closing stdin). */
export const STREAM_CLOSE = 255;

export const PROTOCOL_V5 = 'v5.channel.k8s.io';
export const PROTOCOL_V4 = 'v4.channel.k8s.io';
/** What we speak, best first (kubectl 1.30+ offers only v5). */
export const EXEC_PROTOCOLS = [PROTOCOL_V5, PROTOCOL_V4] as const;

/** The first subprotocol the client offered that we speak (server's choice: its own preference order). */
export function chooseProtocol(offered: Iterable<string>): string | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return EXEC_PROTOCOLS.find((p) => set.has(p));
}

export function encodeFrame(stream: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = stream;
  body.copy(out, 1);
  return out;
}

export type InboundFrame =
  | { kind: 'data'; stream: number; data: Buffer }
  | { kind: 'close'; stream: number }
  | { kind: 'empty' }
  | { kind: 'error'; message: string };

/** One message from the client (wsstream Conn.handle's rules: a bad CLOSE ends the connection). */
export function decodeFrame(msg: Buffer, protocol: string): InboundFrame {
  if (msg.length === 0) return { kind: 'empty' };
  if (protocol === PROTOCOL_V5 && msg[0] === STREAM_CLOSE) {
    if (msg.length !== 2) return { kind: 'error', message: `single channel byte should follow close signal, got ${msg.length - 1} bytes` };
    return { kind: 'close', stream: msg[1]! };
  }
  return { kind: 'data', stream: msg[0]!, data: msg.subarray(1) };
}

export interface TerminalSize { width: number; height: number }

/**
 * Window sizes from the resize stream: client-go encodes each as JSON
 * `{"Width":80,"Height":24}` followed by a newline; one message may hold several.
 * Malformed ones are skipped (kubelet logs and stops resizing; a bad size must not end the session).
 */
export function parseResize(data: Buffer | string): TerminalSize[] {
  const out: TerminalSize[] = [];
  for (const part of String(data).split(/\n|(?<=\})\s*(?=\{)/)) {
    const s = part.trim();
    if (!s) continue;
    try {
      const v = JSON.parse(s) as { Width?: unknown; Height?: unknown };
      const width = Number(v.Width), height = Number(v.Height);
      if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0 && width <= 65535 && height <= 65535) out.push({ width, height });
    } catch { /* skipped */ }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The Status on the error channel (kubelet's ServeExec / the API server's stream translator).

export const NON_ZERO_EXIT_CODE_REASON = 'NonZeroExitCode';
export const EXIT_CODE_CAUSE_TYPE = 'ExitCode';

/** Success, or NonZeroExitCode with the code as cause: client-go turns it into the exit code kubectl exits with. */
export function exitStatus(code: number): Status {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: command terminated with exit code ${code}`,
    reason: NON_ZERO_EXIT_CODE_REASON,
    details: { causes: [{ reason: EXIT_CODE_CAUSE_TYPE, message: String(code) }] },
  };
}

/** apierrors.NewInternalError(err) as json.Marshal writes it (no kind/apiVersion on this stream). */
export function internalErrorStatus(err: string): Status {
  return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${err}`, reason: 'InternalError', details: { causes: [{ message: err }] }, code: 500 };
}

// ---------------------------------------------------------------------------
// tty through util-linux `script`.

/** POSIX shell quoting: each word in single quotes. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/**
 * The argv that runs `argv` on a new pseudo-terminal: `script` runs its -c string with
 * $SHELL (we set it to the system sh), which sets the first window size, puts back
 * the container's own SHELL (or none), and execs the command. -e: script exits with the
 * command's code; -f: output is flushed at once; -q: no "Script started" lines.
 */
export function ttyCommand(argv: readonly string[], o: { script: string; stty: string; size?: TerminalSize; shell?: string }): string[] {
  const parts: string[] = [];
  parts.push(o.shell !== undefined ? `SHELL=${shellQuote([o.shell])}; export SHELL` : 'unset SHELL');
  if (o.size && o.size.width > 0 && o.size.height > 0) parts.push(`${shellQuote([o.stty])} rows ${o.size.height} cols ${o.size.width} 2>/dev/null`);
  parts.push(`exec ${shellQuote(argv)}`);
  return [o.script, '-q', '-e', '-f', '-c', parts.join('; '), '/dev/null'];
}

// ---------------------------------------------------------------------------
// The registry of node agents, and running a command.

/** Where and how a container's processes run. */
export interface ExecTarget {
  netns: string;
  env: Readonly<Record<string, string>>;
  cwd?: string;
  /** The pod's hostname (its own UTS namespace); undefined for none. */
  hostname?: string;
  /** For the "failed to start exec" text (kubelet names the exec by a random id). */
  containerID?: string;
}

export interface ExecPod {
  uid: string;
  /** The container's target while it runs; undefined when it does not run (kubelet: "container not found"). */
  target(container: string): Promise<ExecTarget | undefined>;
  /** What `kubectl attach` connects to (attach.ts); undefined when there is nothing to attach to. */
  attach?(container: string): AttachTarget | undefined;
}

export interface ExecSource {
  /** The node this agent runs: the API server's "kubelet" for that node's pods. */
  readonly nodeName: string;
  findPod(namespace: string, name: string, uid?: string): ExecPod | undefined;
}

const sources = new Set<ExecSource>();

/** Node agents call this at start; dispose at close. */
export function registerExecSource(s: ExecSource): { dispose(): void } {
  sources.add(s);
  return { dispose: () => { sources.delete(s); } };
}

/**
 * Whether an agent of this process runs node `nodeName` (every agent registers its
 * exec, log and port-forward sources together): the API server serves that node's
 * streaming subresources itself, and proxies to the node's kubelet endpoint otherwise.
 */
export function runsNodeHere(nodeName: string): boolean {
  for (const s of sources) if (s.nodeName === nodeName) return true;
  return false;
}

/**
 * Why an exec could not start, with the text kube-apiserver's client learns it by:
 * `dial` — no agent of the pod's node here (the API server cannot reach that kubelet);
 * `handshake` — kubelet refused the upgrade (`pod does not exist`, `container not found ("c")`),
 * `message` being kubelet's response body; `start` — the runtime could not start the command.
 */
export class ExecError extends Error {
  constructor(readonly stage: 'dial' | 'handshake' | 'start', readonly httpCode: number, message: string) {
    super(message);
  }
}

export interface ExecProcess {
  /** The command's stdin (when asked for): end() it at the client's EOF. */
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  /** A new window size (tty only; ignored otherwise). */
  resize(size: TerminalSize): void;
  /** The exit code (128+n for a signal), once the process ended and its output was read. */
  exited: Promise<number>;
  /** Ends the command and everything it started. */
  kill(): void;
}

export interface ExecStartOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** The first window size (tty). */
  size?: TerminalSize;
}

/**
 * What kubelet checks when the API server connects for an exec: the pod runs on this
 * node (by uid when given: a new pod of the same name is another pod), and the
 * container runs. Throws ExecError (dial/handshake).
 */
export async function findExecTarget(namespace: string, pod: string, uid: string | undefined, nodeName: string | undefined,
  container: string): Promise<ExecTarget> {
  const p = findExecPod(namespace, pod, uid, nodeName);
  const t = await p.target(container);
  if (!t) throw new ExecError('handshake', 500, `container not found ("${container}")`);
  return t;
}

/** The pod as the agent of its node knows it (kubelet's GetPodByName); throws ExecError (dial/handshake). Shared with attach. */
export function findExecPod(namespace: string, pod: string, uid: string | undefined, nodeName: string | undefined): ExecPod {
  const all = [...sources];
  const mine = nodeName ? all.filter((s) => s.nodeName === nodeName) : all;
  if (mine.length === 0) throw new ExecError('dial', 502, `error dialing backend: no node agent for node "${nodeName}" runs in this process`);
  let p: ExecPod | undefined;
  for (const s of mine) {
    p = s.findPod(namespace, pod, uid);
    if (p && (!uid || p.uid === uid)) break;
    p = undefined;
  }
  if (!p) throw new ExecError('handshake', 404, 'pod does not exist');
  return p;
}

/** runc's text for an argv[0] that cannot run (the container's PATH, or the path as given). */
export function execNotFoundText(argv0: string, path: string): string | undefined {
  if (argv0 === '') return 'exec: "": executable file not found in $PATH';
  if (findExecutable(argv0, path)) return undefined;
  if (argv0.includes('/')) return `exec: "${argv0}": stat ${argv0}: no such file or directory`;
  return `exec: "${argv0}": executable file not found in $PATH`;
}

const tools = (() => {
  let t: { ip: string; unshare: string; sh: string; hostname: string; script: string; stty: string } | undefined;
  return () => (t ??= {
    ip: systemTool('ip'), unshare: systemTool('unshare'), sh: systemTool('sh'), hostname: systemTool('hostname'),
    script: systemTool('script'), stty: systemTool('stty'),
  });
})();

export const NO_SCRIPT = 'a tty needs util-linux `script`, which is not installed on this node';

/**
 * How `argv` runs on a pseudo-terminal of its own (`exec -t`, and containers with `tty: true`):
 * under `script` (ttyCommand), with SHELL for script's -c and TERM as container runtimes set it.
 * Undefined when `script` is not installed.
 */
export function onTerminal(argv: readonly string[], env: Readonly<Record<string, string>>, size?: TerminalSize): { argv: string[]; env: Record<string, string> } | undefined {
  const tl = tools();
  if (!tl.script.startsWith('/')) return undefined;
  const out: Record<string, string> = { ...env, SHELL: tl.sh };
  out['TERM'] ??= 'xterm';
  return { argv: ttyCommand(argv, { script: tl.script, stty: tl.stty, size, shell: env['SHELL'] }), env: out };
}

/** A new window size for the terminal `script` (pid `scriptPid`) made for its command: the kernel sends it SIGWINCH. */
export function resizeTerminal(scriptPid: number, size: TerminalSize): void {
  if (size.width <= 0 || size.height <= 0) return;
  // One stty at a time per terminal, in order: kubectl attach sends a size one larger, then
  // the real one (to force a redraw); two racing stty runs could leave the larger one.
  const prev = resizing.get(scriptPid) ?? Promise.resolve();
  const next = prev.then(() => new Promise<void>((resolve) => {
    const pts = ptyOf(scriptPid);
    if (!pts) { resolve(); return; }
    const r = spawn(tools().stty, ['-F', pts, 'rows', String(size.height), 'cols', String(size.width)], { stdio: 'ignore' });
    r.once('error', () => resolve());
    r.once('exit', () => resolve());
  }));
  resizing.set(scriptPid, next);
  void next.then(() => { if (resizing.get(scriptPid) === next) resizing.delete(scriptPid); });
}

const resizing = new Map<number, Promise<void>>();

/** Starts `command` where the container runs. Throws ExecError (start) with the runtime's text. */
export async function startExec(t: ExecTarget, command: readonly string[], o: ExecStartOptions): Promise<ExecProcess> {
  const startFailed = (why: string): ExecError => {
    // containerd names each exec by a random id.
    const id = randomBytes(32).toString('hex');
    return new ExecError('start', 500, `failed to exec in container: failed to start exec "${id}": OCI runtime exec failed: exec failed: unable to start container process: ${why}: unknown`);
  };
  // `nslookup` is built in (images.ts builtinFor), as in the containers of shell-like
  // images: the host usually has none, and the docs run it with `kubectl exec`.
  const b = builtinFor(command);
  if (b) command = [process.execPath, builtinScript('image'), b.name, ...b.args];
  const bad = execNotFoundText(command[0] ?? '', t.env['PATH'] ?? '');
  if (bad) throw startFailed(bad);
  const tl = tools();
  let argv = [...command];
  let env: Record<string, string> = { ...t.env };
  if (o.tty) {
    const term = onTerminal(command, t.env, o.size);
    if (!term) throw startFailed(NO_SCRIPT);
    ({ argv, env } = term);
  }
  const args = ['netns', 'exec', t.netns];
  if (t.hostname !== undefined) args.push(tl.unshare, '--uts', tl.sh, '-c', `${tl.hostname} "$0" 2>/dev/null; exec "$@"`, t.hostname);
  args.push(...argv);
  const child = spawn(tl.ip, args, {
    detached: true, cwd: t.cwd, env,
    stdio: [o.stdin ? 'pipe' : 'ignore', o.stdout ? 'pipe' : 'ignore', o.stderr && !o.tty ? 'pipe' : 'ignore'],
  });
  if (child.pid === undefined) {
    const err = await new Promise<Error>((r) => child.once('error', r));
    throw startFailed(err.message);
  }
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  return wrapChild(child, o.tty);
}

function wrapChild(child: ChildProcess, tty: boolean): ExecProcess {
  const pid = child.pid!;
  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => {
      const rc = signal ? 128 + signalNumber(signal) : code ?? 0;
      // Output still in the pipes comes first; a background child holding them open must not
      // keep the session for ever (the exec ends with its process, not its children): once
      // nothing came for a second (and the reader is not holding back), it is over.
      let t: NodeJS.Timeout | undefined;
      const finish = (): void => { if (t) clearTimeout(t); t = undefined; if (!done) { done = true; resolve(rc); } };
      const quiet = (): void => {
        if (t) clearTimeout(t);
        t = setTimeout(() => (child.stdout?.isPaused() || child.stderr?.isPaused() ? quiet() : finish()), 1000);
      };
      if (child.stdout === null && child.stderr === null) { finish(); return; }
      child.once('close', finish);
      child.stdout?.on('data', quiet);
      child.stderr?.on('data', quiet);
      quiet();
    });
  });
  return {
    stdin: child.stdin ?? undefined,
    stdout: child.stdout ?? undefined,
    stderr: child.stderr ?? undefined,
    exited,
    resize(size) {
      if (tty && !done) resizeTerminal(pid, size);
    },
    kill() {
      if (done) return;
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      // `script` runs the command in a session of its own: its group needs the signal too.
      for (const c of childrenOf(pid)) { try { process.kill(-c, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The terminal `script` made for its child (the child's stdin is the pty's slave side). */
function ptyOf(scriptPid: number): string | undefined {
  for (const c of childrenOf(scriptPid)) {
    try {
      const l = readlinkSync(`/proc/${c}/fd/0`);
      if (l.startsWith('/dev/pts/')) return l;
    } catch { /* gone */ }
  }
  return undefined;
}

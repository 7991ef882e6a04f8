// Scenario-test harness: an API server in this process on a free loopback
// port, its own temp dir, HOME and kubeconfig (kubectl caches discovery under
// HOME), and helpers that run the real kubectl / python client against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { setLogLevel } from '../../src/log.js';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../../src/node/sandbox.js';

export interface Harness {
  dir: string;
  kubeconfig: string;
  server: RunningApiServer;
  env: NodeJS.ProcessEnv;
  kubectl(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** kubectl that must succeed; returns stdout. */
  k(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<string>;
  spawnKubectl(args: string[]): ChildProcess;
  /** Runs the compiled `svcnet` CLI with this harness's kubeconfig. */
  svcnet(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  writeFile(name: string, content: string): string;
  close(): Promise<void>;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** The CLI entry compiled beside this file (bin/svcnet.js loads the one in dist/). */
export const svcnetMain = fileURLToPath(new URL('../../src/cli/entry.js', import.meta.url));

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export async function startHarness(o: { storage?: string; dir?: string } = {}): Promise<Harness> {
  setLogLevel('error');
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'svcnet-test-'));
  const server = await startApiServer({
    listenHost: '127.0.0.1', listenPort: 0, storage: o.storage ?? 'memory', dataDir: dir,
    serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767',
  });
  const kubeconfig = server.kubeconfigPath!;
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: kubeconfig, LANG: 'C.UTF-8' };
  const h: Harness = {
    dir, kubeconfig, server, env,
    kubectl: (args, opts = {}) => run('/usr/bin/kubectl', args, { ...opts, env: { ...env, ...opts.env } }),
    async k(args, opts = {}) {
      const r = await h.kubectl(args, opts);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    spawnKubectl: (args) => {
      const child = spawn('/usr/bin/kubectl', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      collect(child);
      return child;
    },
    svcnet: (args, opts = {}) => run(process.execPath, [svcnetMain, ...args], { ...opts, env: { ...env, ...opts.env } }),
    writeFile(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    async close() {
      await server.close();
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Everything a child has printed so far (stdout and stderr), collected from its start. */
const outputs = new WeakMap<ChildProcess, { text: string; waiters: Set<() => void> }>();

function collect(child: ChildProcess): { text: string; waiters: Set<() => void> } {
  let o = outputs.get(child);
  if (!o) {
    const rec = { text: '', waiters: new Set<() => void>() };
    const on = (d: Buffer) => { rec.text += d.toString(); rec.waiters.forEach((w) => w()); };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    outputs.set(child, rec);
    o = rec;
  }
  return o;
}

/** GET / on 127.0.0.1:port (a forwarded port, a built-in server): the body, trimmed. */
export function getLocal(port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body.trim()));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `pred` holds on everything the child printed since it started, or times out. */
export function waitForOutput(child: ChildProcess, pred: (out: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const rec = collect(child);
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pred(rec.text)) return;
      clearTimeout(t);
      rec.waiters.delete(check);
      resolve(rec.text);
    };
    const t = setTimeout(() => { rec.waiters.delete(check); reject(new Error(`timed out waiting; output so far:\n${rec.text}`)); }, timeoutMs);
    rec.waiters.add(check);
    check();
  });
}

/**
 * A scenario test file that builds real namespaces runs itself again inside a private
 * sandbox (src/node/sandbox.ts): outside it registers one test that does so and
 * reports the inner tests' lines; inside it registers the scenario's tests.
 * `unsupported` says why it cannot run here (skipped), or undefined.
 */
export function sandboxedScenario(o: {
  title: string;
  /** import.meta.url of the test file. */
  self: string;
  timeoutMs: number;
  unsupported?: () => string | undefined;
  scenario: () => void;
}): void {
  if (process.env[SANDBOX_ENV] === '1') {
    o.scenario();
    return;
  }
  test(o.title, async (t) => {
    const why = sandboxUnsupported() ?? o.unsupported?.();
    if (why) { t.skip(why); return; }
    // Not a child of this test runner: it reports on its own (NODE_TEST_CONTEXT would switch its output to the runner's protocol).
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const r = await runInSandbox([process.execPath, '--test-reporter=spec', '--test-concurrency=1', fileURLToPath(o.self)], { timeoutMs: o.timeoutMs, capture: true, env });
    if (r.code !== 0) assert.fail(`scenario failed in the sandbox (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.output}`);
    for (const line of r.output.split('\n').filter((l) => /^\s*[✔✖]/.test(l))) t.diagnostic(line);
  });
}

/** The Service `web` that `UpSession.exposeWeb` made, as the API server reports it. */
export interface ExposedWeb {
  /** Its LoadBalancer IP (status.loadBalancer.ingress[0].ip). */
  lb: string;
  nodePort: number;
  clusterIP: string;
  /** The names of its pods, all Ready. */
  pods: string[];
  /** Whether a reply is a pod's name (the built-in servers answer with it). */
  fromPod(reply: string): boolean;
}

/**
 * Drives one `svcnet up` from a scenario test (up.test.ts, rootless.test.ts):
 * starts it, runs kubectl and `svcnet exec|rules|…` against its data dir, polls
 * with the up's output in every timeout message, and does the steps both tests
 * share. `as` runs every command through a prefix (rootless: `setpriv` to nobody).
 */
/** Rootless scenarios run every command, kubectl included, as this user (setpriv). */
export const NOBODY = 65534;
export const asNobody: readonly string[] = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/** Why a rootless scenario cannot run here, or undefined when it can. */
export function rootlessUnsupported(): string | undefined {
  if (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0) return '`setpriv` is not installed';
  // The compiled tree must be readable by an unprivileged user, and user namespaces allowed to it.
  const probe = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(svcnetMain)}, require('fs').constants.R_OK)`], { stdio: 'ignore' });
  if (probe.status !== 0) return `user ${NOBODY} cannot read ${svcnetMain}`;
  const userns = spawnSync(asNobody[0]!, [...asNobody.slice(1), 'unshare', '--user', '--map-root-user', '--net', 'true'], { stdio: 'ignore' });
  if (userns.status !== 0) return 'unprivileged user namespaces are disabled here';
  return undefined;
}

export class UpSession {
  /** Everything the running `svcnet up` printed (stdout and stderr), since `start`. */
  log = '';
  /** The temp dir `inTempDir` made (HOME, and the data dir under it); `stop` removes it. */
  dir: string | undefined;

  constructor(readonly dataDir: string, readonly env: NodeJS.ProcessEnv, private readonly as: readonly string[] = []) {}

  /**
   * A session in a fresh temp dir (its HOME, kubectl's cache, and the cluster's data
   * under `data/`), for root or for `nobody` (then every command runs as nobody and
   * the dir is nobody's).
   */
  static inTempDir(prefix: string, user: 'root' | 'nobody' = 'root'): UpSession {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    if (user === 'nobody') chownSync(dir, NOBODY, NOBODY);
    const data = join(dir, 'data');
    const env = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: join(data, 'kubeconfig'), LANG: 'C.UTF-8' };
    const s = new UpSession(data, env, user === 'nobody' ? asNobody : []);
    s.dir = dir;
    return s;
  }

  /** Stops `up` (Ctrl-C, and waits for it), then removes the temp dir of `inTempDir`. */
  async stop(up: ChildProcess | undefined): Promise<void> {
    if (up && up.exitCode === null && up.signalCode === null) {
      const exited = new Promise((r) => up.once('exit', r));
      up.kill('SIGINT');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs a command as this session's user, with its env; as it ends, failing or not. */
  readonly cmd = (cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> => {
    const [bin, ...pre] = this.as.length ? [...this.as, cmd] : [cmd];
    return run(bin!, [...pre, ...args], { env: this.env, timeoutMs: opts.timeoutMs ?? 20_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  };

  /** `svcnet up --data-dir DIR --listen 127.0.0.1:0 …args`. */
  start(args: string[]): ChildProcess {
    this.log = '';
    const full = [...this.as, process.execPath, svcnetMain, 'up', '--data-dir', this.dataDir, '--listen', '127.0.0.1:0', ...args];
    const up = spawn(full[0]!, full.slice(1), { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (d: Buffer) => { this.log += d.toString(); });
    up.stderr!.on('data', (d: Buffer) => { this.log += d.toString(); });
    return up;
  }

  /** Until `up` says it is up (failing at once if it exits first), then until `nodes` nodes are Ready. */
  async waitUp(up: ChildProcess, nodes: number): Promise<void> {
    await this.until(async () => this.log, (l) => l.includes('svcnet is up.') || up.exitCode !== null, 'svcnet up');
    assert.match(this.log, /svcnet is up\./, this.log);
    await this.until(() => this.k(['get', 'nodes']), (o) => (o.match(/\sReady\s/g) ?? []).length === nodes, `${nodes} Ready nodes`);
  }

  // Arrow properties: a test may take them apart (`const { k, inNs, until } = session`).
  /** kubectl that must succeed; returns stdout. */
  readonly k = async (args: string[], input?: string): Promise<string> => {
    const r = await this.cmd('/usr/bin/kubectl', args, input !== undefined ? { input } : {});
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  /** kubectl as it ends, failing or not (as this session's user). */
  readonly kubectl = (args: string[], input?: string): Promise<RunResult> =>
    this.cmd('/usr/bin/kubectl', args, input !== undefined ? { input } : {});

  /** The compiled `svcnet` CLI. */
  readonly svcnet = (args: string[], timeoutMs?: number): Promise<RunResult> =>
    this.cmd(process.execPath, [svcnetMain, ...args], timeoutMs !== undefined ? { timeoutMs } : {});

  /** `svcnet exec TARGET -- CMD…` (client, node/NAME, pod/NAME): its stdout, trimmed. */
  readonly inNs = async (target: string, cmd: string[]): Promise<string> =>
    (await this.svcnet(['exec', '--data-dir', this.dataDir, target, '--', ...cmd])).stdout.trim();

  /** Polls `f` every 200 ms until `ok`; on timeout, fails with the last value and the up's log. */
  readonly until = async <T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> => {
    const t0 = Date.now();
    for (;;) {
      const v = await f();
      if (ok(v)) return v;
      if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}; last: ${String(v).slice(0, 500)}\n--- svcnet up log:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  /**
   * The README's first steps: `kubectl create deployment web --image=nginx`,
   * `kubectl expose deployment web --port=80 --type=LoadBalancer`; waits until
   * its `replicas` pods are Running and Ready and the provider gave it an LB IP.
   */
  async exposeWeb(replicas: number): Promise<ExposedWeb> {
    await this.k(['create', 'deployment', 'web', '--image=nginx', `--replicas=${replicas}`]);
    await this.k(['expose', 'deployment', 'web', '--port=80', '--type=LoadBalancer']);
    await this.until(() => this.k(['get', 'pods', '-l', 'app=web', '--no-headers']),
      (o) => (o.match(/1\/1\s+Running/g) ?? []).length === replicas, `${replicas} ready pods`);
    const svc = JSON.parse(await this.until(() => this.k(['get', 'svc', 'web', '-o', 'json']),
      (o) => !!JSON.parse(o).status?.loadBalancer?.ingress?.[0]?.ip, 'LB IP'));
    const pods = (JSON.parse(await this.k(['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as { metadata: { name: string } }[]).map((p) => p.metadata.name);
    return {
      lb: svc.status.loadBalancer.ingress[0].ip as string,
      nodePort: svc.spec.ports[0].nodePort as number,
      clusterIP: svc.spec.clusterIP as string,
      pods,
      fromPod: (reply) => pods.includes(reply),
    };
  }
}

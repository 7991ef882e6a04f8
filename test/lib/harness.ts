// Scenario-test harness: an API server in this process on a free loopback
// port, its own temp dir, HOME and kubeconfig (kubectl caches discovery under
// HOME), and helpers that run the real kubectl / python client against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

// A userspace proxy restart that refuses no new connection, with real processes: the
// embedded cluster's proxy helper (src/cluster/helper-child.ts `proxy`, the process
// `svcnet up --dataplane userspace` runs per node) and the standalone `svcnet proxy --mode
// userspace`, against a real API server, inside a private sandbox (its own network
// namespace: the proxies bind a ClusterIP routed `local`, a NodePort and 127.0.0.1:10249).
//
// Clients open a NEW connection every 5 ms to the ClusterIP and to the NodePort (each
// writes a line and waits for its echo) throughout each restart, while two long-lived
// connections keep exchanging lines. Any refused, reset or unanswered connection counts.
//
//   seamless (what restartProxy does, src/cluster/proxy-handover.ts): the new helper starts
//        first with the old one's listening sockets, then the old one gets SIGTERM:
//        no connection refused or reset; the open connections keep going (old process,
//        draining) and the old process is still draining when the restart is over
//   the old order (SIGTERM, wait for "draining", start the new): refusals for the
//        new process's whole start-up; asserted, so that the check above is known to see them
//   standalone (`svcnet proxy --mode userspace` started while the old one runs): it waits
//        for the addresses (and the metrics port), says so, and takes them within ms of
//        the old one's SIGTERM; a few connections may be refused (or reset, from the old
//        accept queue) in that window (no socket passing between unrelated processes in
//        Node 20), far fewer than the old order's
//
// Run as root only (skipped otherwise). PXDEBUG=1 shows the proxies' logs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxedScenario, startHarness, svcnetMain } from './lib/harness.js';
import { startHelper, type Helper } from '../src/cluster/helpers.js';
import { replaceProxyHelper, TAKEOVER_ENV } from '../src/cluster/proxy-handover.js';
import { HttpClient } from '../src/client/http.js';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { findResource } from '../src/api/resources.js';
import { runCommand } from '../src/node/netns.js';
import { isRoot } from '../src/cluster/rootless.js';

const BACKEND_IP = '10.244.0.5';

interface Outcome { at: number; result: string }

/** Opens a new connection every `everyMs` to ip:port (line out, echo back) until stopped; counts what happened. */
function newConnectionLoop(ip: string, port: number, everyMs = 5): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  const inflight = new Set<Promise<void>>();
  let n = 0;
  const one = () => {
    const at = Date.now();
    const p = new Promise<void>((resolve) => {
      const line = `n${n++}\n`;
      const s = net.connect({ host: ip, port });
      let got = '';
      let done = false;
      const finish = (result: string) => {
        if (done) return;
        done = true;
        outcomes.push({ at, result });
        s.destroy();
        resolve();
      };
      s.setTimeout(5000, () => finish('TIMEOUT'));
      s.on('connect', () => s.write(line));
      s.on('data', (d) => { got += d.toString(); if (got.includes('\n')) finish(got === line ? 'ok' : `BAD ${JSON.stringify(got)}`); });
      s.on('end', () => finish(`CLOSED after ${JSON.stringify(got)}`));
      s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  const timer = setInterval(() => { if (inflight.size < 200) one(); }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inflight]);
      return outcomes;
    },
  };
}

/** A connection that keeps exchanging a line every 20 ms; `failures` lists what went wrong. */
async function chatter(ip: string, port: number): Promise<{ exchanged: () => number; failures: string[]; close(): void }> {
  const s = net.connect({ host: ip, port });
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  const failures: string[] = [];
  let count = 0;
  let expect = '';
  let buf = '';
  let closing = false;
  const send = () => { expect = `c${count}\n`; s.write(expect); };
  s.on('data', (d) => {
    buf += d.toString();
    if (!buf.includes('\n')) return;
    if (buf !== expect) failures.push(`got ${JSON.stringify(buf)} for ${JSON.stringify(expect)}`);
    buf = '';
    count++;
    setTimeout(() => { if (!closing) send(); }, 20);
  });
  s.on('error', (e: NodeJS.ErrnoException) => failures.push(e.code ?? e.message));
  s.on('close', () => { if (!closing) failures.push('closed'); });
  send();
  return { exchanged: () => count, failures, close: () => { closing = true; s.destroy(); } };
}

function summary(outcomes: Outcome[]): { total: number; bad: Outcome[]; windowMs: number; kinds: string } {
  const bad = outcomes.filter((o) => o.result !== 'ok');
  const kinds = new Map<string, number>();
  for (const b of bad) kinds.set(b.result, (kinds.get(b.result) ?? 0) + 1);
  return {
    total: outcomes.length, bad,
    windowMs: bad.length ? bad[bad.length - 1]!.at - bad[0]!.at : 0,
    kinds: [...kinds].map(([k, v]) => `${k}×${v}`).join(' '),
  };
}

/** Resolves once the process prints a line matching `re` (or exits). */
function lineMatching(child: ChildProcess, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const t = setTimeout(() => { rl.close(); reject(new Error(`no line matching ${re} within ${timeoutMs} ms`)); }, timeoutMs);
    rl.on('line', (l) => {
      if (process.env['PXDEBUG']) process.stderr.write(`[${child.pid}] ${l}\n`);
      if (re.test(l)) { clearTimeout(t); rl.close(); resolve(l); }
    });
    child.once('exit', (code, sig) => { clearTimeout(t); reject(new Error(`exited (${code ?? sig}) before a line matching ${re}`)); });
  });
}

function httpGet(url: string): Promise<number> {
  return new Promise((resolve) => {
    http.get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', () => resolve(0));
  });
}

sandboxedScenario({
  title: 'userspace proxy restart: no new connection refused (seamless handover), contrasted with the old order and the standalone takeover',
  self: import.meta.url,
  timeoutMs: 90_000,
  unsupported: () => (isRoot() ? undefined : 'needs root (a private network namespace)'),
  scenario: () => {
    const closers: (() => Promise<void> | void)[] = [];
    after(async () => { for (const c of closers.reverse()) { try { await c(); } catch { /* best effort */ } } });

    test('seamless restart refuses nothing; the old order refuses; standalone takes over within ms', async (t) => {
      // The node: the service CIDR is local (the proxy binds ClusterIPs), a pod address on lo.
      for (const cmd of [['sysctl', '-qw', 'net.ipv4.ip_nonlocal_bind=1'], ['ip', 'route', 'replace', 'local', '10.96.0.0/16', 'dev', 'lo'],
        ['ip', 'addr', 'add', `${BACKEND_IP}/32`, 'dev', 'lo']]) {
        const r = await runCommand(cmd[0]!, cmd.slice(1));
        assert.equal(r.code, 0, `${cmd.join(' ')}: ${r.stderr}`);
      }

      const h = await startHarness();
      closers.push(() => h.close());
      // The API server on a unix socket too, as `svcnet up` gives it to the node proxies.
      const sock = join(h.dir, 'apiserver.sock');
      rmSync(sock, { force: true });
      const unixServer = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 });
      h.server.api.serve(unixServer);
      await new Promise<void>((r) => unixServer.listen(sock, r));
      closers.push(() => new Promise<void>((r) => { unixServer.close(() => r()); unixServer.closeAllConnections(); }));

      // An echo backend (the "pod") and a NodePort Service with its EndpointSlice.
      const sockets = new Set<net.Socket>();
      const backend = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined); s.pipe(s); });
      await new Promise<void>((r) => backend.listen(8080, BACKEND_IP, r));
      closers.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); backend.close(() => r()); }));
      const client = new HttpClient(loadKubeconfig(h.kubeconfig));
      closers.push(() => client.close());
      const svc = await client.create(findResource('', 'v1', 'services')!, 'default', {
        apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'default' },
        spec: { type: 'NodePort', ports: [{ name: 'e', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      } as never) as { spec: { clusterIP: string; ports: { nodePort: number }[] } };
      await client.create(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, 'default', {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: 'echo-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'echo' } },
        addressType: 'IPv4', ports: [{ name: 'e', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: [BACKEND_IP], conditions: { ready: true } }],
      } as never);
      const vip = svc.spec.clusterIP;
      const nodePort = svc.spec.ports[0]!.nodePort;

      const args = ['proxy', 'node-a', '127.0.0.1', sock, h.kubeconfig, '10.244.0.0/16'];
      const startProxyHelper = async (takeover: boolean, onSpawn?: (c: ChildProcess) => void): Promise<Helper> => {
        const env: NodeJS.ProcessEnv = { ...process.env, ...(takeover ? { [TAKEOVER_ENV]: '1' } : {}) };
        delete env['NODE_TEST_CONTEXT'];
        const hp = await startHelper(undefined, args, 20_000, { ipc: true, env, ...(onSpawn ? { onSpawn } : {}) });
        closers.push(() => hp.close());
        return hp;
      };
      /** SIGTERM, then the `draining N` line (every port it held is free by then). */
      const stopGracefully = async (hp: Helper): Promise<void> => {
        const draining = lineMatching(hp.child, /^draining/);
        hp.child.kill('SIGTERM');
        await draining;
      };
      /** Runs `restart` under new-connection loops (ClusterIP, NodePort) and two open connections. */
      const underTraffic = async (label: string, restart: () => Promise<void>) => {
        const open = [await chatter(vip, 80), await chatter('127.0.0.1', nodePort)];
        const loops = [newConnectionLoop(vip, 80), newConnectionLoop('127.0.0.1', nodePort)];
        await new Promise((r) => setTimeout(r, 150));
        const t0 = Date.now();
        await restart();
        const tookMs = Date.now() - t0;
        await new Promise((r) => setTimeout(r, 250));
        const [cip, np] = (await Promise.all(loops.map((l) => l.stop()))).map(summary);
        const before = open.map((c) => c.exchanged());
        await new Promise((r) => setTimeout(r, 100));
        const moved = open.map((c, i) => c.exchanged() - before[i]!);
        for (const c of open) c.close();
        t.diagnostic(`${label}: restart ${tookMs} ms; ClusterIP ${cip!.total} new connections, ${cip!.bad.length} failed ${cip!.kinds} over ${cip!.windowMs} ms; ` +
          `NodePort ${np!.total}, ${np!.bad.length} failed ${np!.kinds} over ${np!.windowMs} ms; open connections exchanged ${open.map((c) => c.exchanged()).join('/')} lines`);
        return { cip: cip!, np: np!, open, moved };
      };

      const first = await startProxyHelper(false);
      assert.equal(await httpGet('http://127.0.0.1:10249/healthz'), 200, 'the first proxy serves /healthz');

      // ---------------------------------------------------------------- seamless
      let second!: Helper;
      const seamless = await underTraffic('seamless', async () => {
        second = await replaceProxyHelper(first.child, (onSpawn) => startProxyHelper(true, onSpawn), () => stopGracefully(first));
      });
      assert.deepEqual(seamless.cip.bad, [], 'no new ClusterIP connection refused, reset or unanswered');
      assert.deepEqual(seamless.np.bad, [], 'no new NodePort connection refused, reset or unanswered');
      assert.ok(seamless.cip.total > 50 && seamless.np.total > 50, 'the loops ran throughout');
      for (const c of seamless.open) assert.deepEqual(c.failures, [], 'open connections keep exchanging data');
      assert.ok(seamless.moved.every((n) => n > 0), 'open connections still exchange after the restart');
      assert.equal(first.child.exitCode, null, 'the old process still drains its open connections');
      await new Promise<void>((r) => { if (first.child.exitCode !== null) r(); else first.child.once('exit', () => r()); });
      assert.equal(await httpGet('http://127.0.0.1:10249/healthz'), 200, 'the new proxy serves /healthz');

      // ---------------------------------------------------------------- the old order
      let third!: Helper;
      const oldOrder = await underTraffic('old order', async () => {
        await stopGracefully(second);
        third = await startProxyHelper(false);
      });
      assert.ok(oldOrder.cip.bad.length > 0 && oldOrder.np.bad.length > 0, 'stopping first refuses new connections (the check sees refusals)');
      // Refused while nothing listens; now and then one reset: it was in the accept queue when the old listener closed.
      assert.ok(oldOrder.cip.bad.concat(oldOrder.np.bad).every((o) => o.result === 'ECONNREFUSED' || o.result === 'ECONNRESET'), `${oldOrder.cip.kinds} ${oldOrder.np.kinds}`);

      // ---------------------------------------------------------------- standalone
      const env = { ...h.env, PATH: process.env['PATH'] };
      const cli = spawn(process.execPath, [svcnetMain, 'proxy', '--mode', 'userspace', '--node-name', 'node-a', '--kubeconfig', h.kubeconfig,
        '--min-sync-period', '0', '--log-level', process.env['PXDEBUG'] ? 'debug' : 'warn'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      closers.push(() => { if (cli.exitCode === null) cli.kill('SIGKILL'); });
      const waiting = lineMatching(cli, /^waiting for \d+ address/);
      const standalone = await underTraffic('standalone', async () => {
        t.diagnostic(`standalone: ${await waiting}`);
        const took = lineMatching(cli, /^took over every address/);
        await stopGracefully(third);
        await took;
      });
      const refusedStandalone = standalone.cip.bad.length + standalone.np.bad.length;
      assert.ok(standalone.cip.bad.concat(standalone.np.bad).every((o) => o.result === 'ECONNREFUSED' || o.result === 'ECONNRESET'), `${standalone.cip.kinds} ${standalone.np.kinds}`);
      assert.ok(refusedStandalone < (oldOrder.cip.bad.length + oldOrder.np.bad.length) / 4,
        `the standalone takeover refuses far less than the old order (${refusedStandalone} vs ${oldOrder.cip.bad.length + oldOrder.np.bad.length})`);
      for (const c of standalone.open) assert.deepEqual(c.failures, []);
      // The metrics port too was taken over (retried every 20 ms).
      let code = 0;
      for (let i = 0; i < 50 && code !== 200; i++) { code = await httpGet('http://127.0.0.1:10249/healthz'); if (code !== 200) await new Promise((r) => setTimeout(r, 20)); }
      assert.equal(code, 200, 'the standalone proxy serves /healthz on the port it took over');
      cli.kill('SIGTERM');
      await new Promise<void>((r) => { if (cli.exitCode !== null) r(); else cli.once('exit', () => r()); });
    });
  },
});

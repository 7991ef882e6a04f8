// `kubectl exec` against `svcnet up`, with the real kubectl (1.32: WebSocket,
// v5.channel.k8s.io, SPDY fallback on a failed upgrade), in a private sandbox:
// stdout and stderr apart, the exit code passed through, stdin with its EOF,
// the command in the pod's network namespace with the container's env (the
// pod IP on its eth0, a Service's ClusterIP reachable), a tty through
// `script`, the default container from the annotation, and the errors a real
// cluster prints. One cluster for all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { rootlessUnsupported, sandboxedScenario, UpSession } from './lib/harness.js';

interface WsExec { stdout: string; status: string; closeCode: number }

/** The protocol by hand (what client-go sends), frame by frame. */
function wsExec(kubeconfig: string, query: string, send: (ws: WebSocket) => void): Promise<WsExec> {
  const kc = loadKubeconfig(kubeconfig);
  const url = `${kc.server.replace(/^http/, 'ws')}/api/v1/namespaces/default/pods/box/exec?${query}`;
  const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { Authorization: `Bearer ${kc.token}` }, rejectUnauthorized: false });
  const r: WsExec = { stdout: '', status: '', closeCode: 0 };
  return new Promise((resolve, reject) => {
    ws.on('open', () => send(ws));
    ws.on('message', (d: Buffer) => {
      if (d[0] === 1) r.stdout += d.subarray(1).toString();
      if (d[0] === 3) r.status += d.subarray(1).toString();
    });
    ws.on('error', reject);
    ws.on('close', (code) => { r.closeCode = code; resolve(r); });
  });
}

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: box
  labels: {app: box}
  annotations: {kubectl.kubernetes.io/default-container: app}
spec:
  restartPolicy: Never
  containers:
  - name: web
    image: nginx
  - name: app
    image: busybox
    command: [sleep, "3600"]
    env: [{name: FOO, value: bar}]
  - name: done
    image: busybox
    command: ["true"]
---
apiVersion: v1
kind: Service
metadata: {name: box}
spec:
  selector: {app: box}
  ports: [{port: 80}]
  # box is never Ready (its \`done\` container finished): its address is served all the same.
  publishNotReadyAddresses: true
`;


sandboxedScenario({
  title: 'kubectl exec against svcnet up (root; rootless with the userspace relay), in a private sandbox', self: import.meta.url, timeoutMs: 150_000,
  scenario: () => { scenario(); rootlessScenario(); },
});

function scenario(): void {
  test('kubectl exec: streams, exit codes, stdin, the pod\'s namespace, tty, errors', { timeout: 90_000 }, async (t) => {
    const c = UpSession.inTempDir('svcnet-exec-');
    const { k, until, kubectl } = c;
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1']);
      await c.waitUp(up, 1);
      await k(['apply', '-f', '-'], POD);
      const pod = await until(async () => JSON.parse(await k(['get', 'pod', 'box', '-o', 'json'])),
        (p) => p.status?.containerStatuses?.find((s: { name: string; ready: boolean }) => s.name === 'web')?.ready === true
          && p.status?.containerStatuses?.find((s: { name: string; state: { terminated?: unknown } }) => s.name === 'done')?.state?.terminated !== undefined,
        'pod box running, its `done` container finished');
      const podIP = pod.status.podIP as string;

      await t.test('stdout and stderr apart, exit 0', async () => {
        const r = await kubectl(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'echo out; echo err >&2']);
        assert.deepEqual(r, { code: 0, stdout: 'out\n', stderr: 'err\n' });
      });
      await t.test('the exit code passes through', async () => {
        const r = await kubectl(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'echo before; exit 3']);
        assert.equal(r.code, 3, r.stderr);
        assert.equal(r.stdout, 'before\n');
        assert.match(r.stderr, /command terminated with exit code 3/);
      });
      await t.test('stdin, up to its EOF', async () => {
        assert.deepEqual(await kubectl(['exec', '-i', 'box', '-c', 'app', '--', 'cat'], 'hi\n'), { code: 0, stdout: 'hi\n', stderr: '' });
        const big = 'x'.repeat(300_000);
        const r = await kubectl(['exec', '-i', 'box', '-c', 'app', '--', 'sh', '-c', 'wc -c; echo after-eof'], big);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.replace(/ +/g, ''), '300000\nafter-eof\n');
        // Large output arrives whole and in order, before the exit status.
        const out = await kubectl(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'seq 1 100000; exit 5']);
        assert.equal(out.code, 5);
        assert.equal(out.stdout.split('\n').length, 100001);
        assert.ok(out.stdout.endsWith('99999\n100000\n'));
      });
      await t.test('the pod\'s network namespace, hostname and the container\'s env; a ClusterIP reached', async () => {
        const addr = await kubectl(['exec', 'box', '-c', 'app', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        assert.equal(addr.code, 0, addr.stderr);
        assert.ok(addr.stdout.includes(` ${podIP}/32 `), addr.stdout);
        // No -c: kubectl takes the default-container annotation (app has FOO).
        const r = await kubectl(['exec', 'box', '--', 'sh', '-c', 'echo "$FOO $(hostname)"']);
        assert.deepEqual(r, { code: 0, stdout: 'bar box\n', stderr: '' });
        const clusterIP = JSON.parse(await k(['get', 'svc', 'box', '-o', 'json'])).spec.clusterIP as string;
        await until(async () => JSON.stringify(await kubectl(['exec', 'box', '-c', 'app', '--', 'curl', '-s', '-m', '2', `http://${clusterIP}/`])),
          (x) => x === JSON.stringify({ code: 0, stdout: 'box\n', stderr: '' }), 'curl to the ClusterIP from inside the pod (to itself, hairpin)', 10_000);
      });
      await t.test('a tty (kubectl -it under a terminal): the terminal size, the exit code', async (tt) => {
        if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) { tt.skip('util-linux `script` is not installed'); return; }
        const inner = `stty cols 123 rows 45; /usr/bin/kubectl exec -it box -c app -- sh -c 'tty; stty size; exit 7'`;
        const r = await c.cmd('script', ['-q', '-e', '-c', inner, '/dev/null'], { timeoutMs: 20_000, input: '' });
        assert.equal(r.code, 7, r.stdout + r.stderr);
        assert.match(r.stdout, /\/dev\/pts\/\d+\r?\n45 123\r?\n/);
        // A new window size mid-session: kubectl sends it on SIGWINCH; the command's terminal follows.
        const resize = `stty cols 100 rows 30; /usr/bin/kubectl exec -it box -c app -- sh -c 'stty size; sleep 1.5; stty size' </dev/tty & sleep 0.8; stty cols 77 rows 22; kill -WINCH $!; wait $!`;
        const r2 = await c.cmd('script', ['-q', '-e', '-c', resize, '/dev/null'], { timeoutMs: 20_000, input: '' });
        assert.equal(r2.code, 0, r2.stdout + r2.stderr);
        assert.match(r2.stdout, /30 100\r?\n22 77\r?\n/);
      });
      await t.test('the protocol by hand: bad resize and unknown streams are ignored, CLOSE ends stdin, a client leaving kills the command', async () => {
        const frame = (n: number, s: string) => Buffer.concat([Buffer.from([n]), Buffer.from(s)]);
        const r = await wsExec(c.env['KUBECONFIG']!, 'command=cat&container=app&stdin=true&stdout=true', (ws) => {
          ws.send(frame(4, 'not json'));
          ws.send(frame(9, 'nobody reads stream 9'));
          ws.send(frame(0, 'abc'));
          ws.send(Buffer.from([255, 0]));
        });
        assert.deepEqual(r, { stdout: 'abc', status: '{"metadata":{},"status":"Success"}', closeCode: 1000 });
        const pgrep = () => spawnSync('pgrep', ['-f', '^sleep 31$']).status === 0;
        await wsExec(c.env['KUBECONFIG']!, 'command=sleep&command=31&container=app&stdout=true', (ws) => {
          setTimeout(() => { assert.ok(pgrep(), 'the command runs'); ws.terminate(); }, 500);
        });
        await until(async () => pgrep(), (running) => !running, 'the command killed once its client left', 5_000);
      });
      await t.test('errors as a real cluster prints them', async () => {
        const noPod = await kubectl(['exec', 'nope', '--', 'true']);
        assert.equal(noPod.code, 1);
        assert.equal(noPod.stderr.trim(), 'Error from server (NotFound): pods "nope" not found');
        const noContainer = await kubectl(['exec', 'box', '-c', 'nope', '--', 'true']);
        assert.equal(noContainer.code, 1);
        assert.equal(noContainer.stderr.trim(), 'Error from server (BadRequest): container nope is not valid for pod box');
        const notRunning = await kubectl(['exec', 'box', '-c', 'done', '--', 'true']);
        assert.equal(notRunning.code, 1);
        assert.equal(notRunning.stderr.trim(), 'error: Internal error occurred: unable to upgrade connection: container not found ("done")');
        const noCmd = await kubectl(['exec', 'box', '-c', 'app', '--', 'no-such-command']);
        assert.equal(noCmd.code, 1);
        assert.match(noCmd.stderr.trim(), /^error: Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown$/);
      });
      await t.test('a plain request (no upgrade) is refused as Kubernetes refuses it', async () => {
        const r = await kubectl(['create', '--raw', '/api/v1/namespaces/default/pods/box/exec?command=true&container=app&stdout=true', '-f', '-'], '{}');
        assert.equal(r.code, 1);
        assert.match(r.stderr, /Upgrade request required/);
      });
    } finally {
      await c.stop(up);
    }
  });
}

/** Without root: the cluster in a user namespace (cluster/rootless.ts), the userspace relay, kubectl as nobody. */
function rootlessScenario(): void {
  test('kubectl exec, rootless (userspace relay): streams, exit code, stdin, the pod\'s namespace, a tty', { timeout: 90_000 }, async (t) => {
    const why = rootlessUnsupported();
    if (why) { t.skip(why); return; }
    const c = UpSession.inTempDir('svcnet-exec-rootless-', 'nobody');
    const { k, until, kubectl } = c;
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1', '--dataplane', 'userspace']);
      await c.waitUp(up, 1);
      assert.match(c.log, /data plane\s+userspace/, c.log);
      await k(['apply', '-f', '-'], POD);
      const pod = await until(async () => JSON.parse(await k(['get', 'pod', 'box', '-o', 'json'])),
        (p) => p.status?.containerStatuses?.find((s: { name: string; ready: boolean }) => s.name === 'web')?.ready === true, 'pod box running');
      assert.deepEqual(await kubectl(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'echo out; echo err >&2; exit 4']),
        { code: 4, stdout: 'out\n', stderr: 'err\ncommand terminated with exit code 4\n' });
      assert.deepEqual(await kubectl(['exec', '-i', 'box', '--', 'cat'], 'hi\n'), { code: 0, stdout: 'hi\n', stderr: '' });
      const addr = await kubectl(['exec', 'box', '-c', 'app', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.ok(addr.stdout.includes(` ${pod.status.podIP}/32 `), addr.stdout + addr.stderr);
      const clusterIP = JSON.parse(await k(['get', 'svc', 'box', '-o', 'json'])).spec.clusterIP as string;
      await until(async () => JSON.stringify(await kubectl(['exec', 'box', '-c', 'app', '--', 'curl', '-s', '-m', '2', `http://${clusterIP}/`])),
        (x) => x === JSON.stringify({ code: 0, stdout: 'box\n', stderr: '' }), 'curl to the ClusterIP through the userspace relay', 15_000);
      if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0) {
        const inner = `stty cols 90 rows 33; /usr/bin/kubectl exec -it box -c app -- sh -c 'tty; stty size'`;
        const r = await c.cmd('script', ['-q', '-e', '-c', inner, '/dev/null'], { timeoutMs: 20_000, input: '' });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /\/dev\/pts\/\d+\r?\n33 90\r?\n/);
      }
    } finally {
      await c.stop(up);
    }
  });
}

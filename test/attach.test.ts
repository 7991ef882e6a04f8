// `kubectl attach` and the Kubernetes docs' way to test a Service from inside
// the cluster, `kubectl run -i --rm --restart=Never tmp --image=busybox --
// wget -qO- http://web`, against `svcnet up` with the real kubectl (1.32:
// pods/attach over WebSocket, v5.channel.k8s.io), in a private sandbox: the
// Service reached by name through cluster DNS, the output printed, the exit
// code passed through, the pod deleted; stdin piped to a shell; -it under a
// terminal; stdin / stdinOnce as kubelet keeps them; kubelet's refusal. One
// cluster for all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rootlessUnsupported, sandboxedScenario, UpSession } from './lib/harness.js';

const PODS = `apiVersion: v1
kind: Pod
metadata: {name: io}
spec:
  restartPolicy: Never
  containers:
  # Ends before anyone attaches: its first stdin attach still gets what it wrote.
  - {name: once, image: busybox, stdin: true, command: [sh, -c, 'echo early']}
  # stdin without stdinOnce: open across attaches.
  - {name: cat, image: busybox, stdin: true, command: [cat]}
  - {name: sleep, image: busybox, command: [sleep, '3600']}
`;

/** kubectl's own line before it attaches (stderr). */
const PROMPT_HINT = "If you don't see a command prompt, try pressing enter.";


sandboxedScenario({
  title: 'kubectl attach and kubectl run -i/-it against svcnet up (root; rootless with the userspace relay), in a private sandbox',
  self: import.meta.url, timeoutMs: 150_000,
  scenario: () => { scenario(); rootlessScenario(); },
});

function scenario(): void {
  test('kubectl run -i --rm, kubectl attach: a Service by name from a throwaway pod, exit codes, stdin, a tty, errors', { timeout: 90_000 }, async (t) => {
    const c = UpSession.inTempDir('svcnet-attach-');
    const { k, until, kubectl } = c;
    const gone = async (pod: string): Promise<void> => {
      const r = await kubectl(['get', 'pod', pod]);
      assert.equal(r.stderr.trim(), `Error from server (NotFound): pods "${pod}" not found`, '--rm deleted the pod');
    };
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1']);
      await c.waitUp(up, 1);
      await k(['create', 'deployment', 'web', '--image=nginx']);
      await k(['expose', 'deployment', 'web', '--port=80']);
      await k(['apply', '-f', '-'], PODS);
      const web = await until(() => k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name} {.items[*].status.containerStatuses[0].ready}']),
        (o) => / true$/.test(o), 'web ready');
      const webPod = web.split(' ')[0]!;

      await t.test('kubectl run -i --rm --restart=Never … -- wget -qO- http://web: the Service by name, through cluster DNS', async () => {
        const r = await kubectl(['run', '-i', '--rm', '--restart=Never', 'tmp', '--image=busybox', '--', 'wget', '-qO-', 'http://web']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${webPod}\npod "tmp" deleted\n`);
        // Attached (the hint) or, when the pod had already ended, its logs: never a fallback warning.
        assert.ok(r.stderr === '' || r.stderr === `${PROMPT_HINT}\n`, r.stderr);
        await gone('tmp');
      });
      await t.test('the command\'s exit code, its stdout and stderr', async () => {
        const r = await kubectl(['run', '-i', '--rm', '--restart=Never', 'e3', '--image=busybox', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
        assert.equal(r.code, 3, r.stderr);
        // The log file holds both streams: both arrive on stdout.
        assert.equal(r.stdout, 'out\nerr\npod "e3" deleted\n');
        assert.match(r.stderr, /pod default\/e3 terminated \(Error\)/);
        await gone('e3');
      });
      await t.test('stdin piped to sh (stdinOnce: closed at its EOF, sh ends)', async () => {
        const r = await kubectl(['run', '-i', '--rm', '--restart=Never', 'sh1', '--image=busybox', '--', 'sh'],
          'echo "hello from $(hostname)"\nwget -qO- http://web.default.svc.cluster.local\nexit 4\n');
        assert.equal(r.code, 4, r.stderr);
        assert.equal(r.stdout, `hello from sh1\n${webPod}\npod "sh1" deleted\n`);
      });
      await t.test('kubectl run -it under a terminal: the pod\'s terminal, its size, the exit code', async (tt) => {
        if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) { tt.skip('util-linux `script` is not installed'); return; }
        const inner = 'stty cols 101 rows 33; /usr/bin/kubectl run -it --rm --restart=Never it1 --image=busybox -- sh';
        // The sleep lets kubectl's two first sizes (one larger, then the real one: a redraw) land.
        const r = await c.cmd('script', ['-q', '-e', '-c', inner, '/dev/null'], { timeoutMs: 30_000, input: 'sleep 1; tty; stty size; exit 5\n' });
        assert.equal(r.code, 5, r.stdout + r.stderr);
        assert.match(r.stdout, /\/dev\/pts\/\d+\r?\n33 101\r?\n/);
        await gone('it1');
      });
      await until(() => k(['get', 'pod', 'io', '-o', 'jsonpath={range .status.containerStatuses[*]}{.name}={.state.running.startedAt}{.state.terminated.reason} {end}']),
        (o) => /once=Completed/.test(o) && /cat=\d/.test(o) && /sleep=\d/.test(o), 'pod io: once ended, cat and sleep running');
      await t.test('kubectl attach -i: the first attach of a stdin container that already ended gets its output; then kubelet\'s refusal', async () => {
        assert.deepEqual(await kubectl(['attach', '-i', 'io', '-c', 'once'], ''), { code: 0, stdout: 'early\n', stderr: `${PROMPT_HINT}\n` });
        const again = await kubectl(['attach', '-i', 'io', '-c', 'once'], '');
        assert.equal(again.code, 1);
        assert.equal(again.stderr, `${PROMPT_HINT}\nerror: Internal error occurred: unable to upgrade connection: container once not found in pod io_default\n`);
      });
      await t.test('kubectl attach -i without stdinOnce: each attach ends at its EOF, stdin stays open for the next', async () => {
        assert.deepEqual(await kubectl(['attach', '-i', 'io', '-c', 'cat'], 'one\n'), { code: 0, stdout: 'one\n', stderr: `${PROMPT_HINT}\n` });
        assert.deepEqual(await kubectl(['attach', '-i', 'io', '-c', 'cat'], 'two\n'), { code: 0, stdout: 'two\n', stderr: `${PROMPT_HINT}\n` });
        const pod = JSON.parse(await k(['get', 'pod', 'io', '-o', 'json']));
        assert.ok(pod.status.containerStatuses.find((s: { name: string }) => s.name === 'cat').state.running, 'cat still runs');
      });
      await t.test('a plain request (no upgrade) is refused as Kubernetes refuses it', async () => {
        const r = await kubectl(['create', '--raw', '/api/v1/namespaces/default/pods/io/attach?container=cat&stdout=true', '-f', '-'], '{}');
        assert.equal(r.code, 1);
        assert.match(r.stderr, /Upgrade request required/);
      });
    } finally {
      await c.stop(up);
    }
  });
}

/** Without root: the cluster in a user namespace, the userspace relay, kubectl as nobody. */
function rootlessScenario(): void {
  test('kubectl run -i --rm, rootless (userspace relay): a Service by name, stdin, the exit code', { timeout: 60_000 }, async (t) => {
    const why = rootlessUnsupported();
    if (why) { t.skip(why); return; }
    const c = UpSession.inTempDir('svcnet-attach-rootless-', 'nobody');
    const { k, until, kubectl } = c;
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1', '--dataplane', 'userspace']);
      await c.waitUp(up, 1);
      await k(['create', 'deployment', 'web', '--image=nginx']);
      await k(['expose', 'deployment', 'web', '--port=80']);
      const web = await until(() => k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name} {.items[*].status.containerStatuses[0].ready}']),
        (o) => / true$/.test(o), 'web ready');
      const webPod = web.split(' ')[0]!;
      // The userspace relay may take a moment to bind the new ClusterIP.
      await until(() => kubectl(['run', '-i', '--rm', '--restart=Never', `tmp${Date.now() % 100000}`, '--image=busybox', '--', 'wget', '-qO-', '-T', '2', 'http://web']),
        (r) => r.code === 0 && r.stdout.startsWith(`${webPod}\n`), 'kubectl run -i … wget http://web, rootless', 20_000);
      const r = await kubectl(['run', '-i', '--rm', '--restart=Never', 'sh1', '--image=busybox', '--', 'sh'], 'echo "hello from $(hostname)"\nexit 6\n');
      assert.equal(r.code, 6, r.stderr);
      assert.equal(r.stdout, 'hello from sh1\npod "sh1" deleted\n');
    } finally {
      await c.stop(up);
    }
  });
}

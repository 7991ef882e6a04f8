// The Kubernetes docs' DNS checks (Debug Services, Debugging DNS Resolution)
// against `svcnet up` with the real kubectl, in a private sandbox:
// `kubectl exec POD -- nslookup NAME` and `kubectl run -i --rm --restart=Never
// … --image=busybox -- nslookup kubernetes.default`. The host has no nslookup:
// the built-in one (src/node/builtin/nslookup.ts) reads the pod's resolv.conf
// and asks cluster DNS, printing what busybox prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { sandboxedScenario, UpSession } from './lib/harness.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  containers:
  - {name: app, image: busybox, command: [sleep, '3600']}
`;

const HEADER = 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n';

sandboxedScenario({
  title: 'nslookup in pods (kubectl exec, kubectl run -i --rm) against svcnet up, in a private sandbox', self: import.meta.url, timeoutMs: 60_000,
  scenario,
});

function scenario(): void {
  test('nslookup: kubernetes.default, a Service by name, a missing name', { timeout: 45_000 }, async (t) => {
    const c = UpSession.inTempDir('svcnet-nslookup-');
    const { k, until, kubectl } = c;
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1']);
      await c.waitUp(up, 1);
      await k(['create', 'service', 'clusterip', 'web', '--tcp=80:80']);
      await k(['apply', '-f', '-'], POD);
      await until(() => k(['get', 'pod', 'box', '-o', 'jsonpath={.status.phase}']), (p) => p === 'Running', 'pod box running');
      const clusterIP = (await k(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();

      await t.test('kubectl exec box -- nslookup kubernetes.default: through the search list, busybox\'s output', async () => {
        // Cluster DNS serves as soon as its informers synced: retried until then.
        const r = await until(() => kubectl(['exec', 'box', '--', 'nslookup', 'kubernetes.default']), (x) => x.code === 0, 'nslookup kubernetes.default', 10_000);
        assert.deepEqual(r, {
          code: 0, stderr: '',
          stdout: `${HEADER}Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n*** Can't find kubernetes.default.svc.cluster.local: No answer\n\n`,
        });
      });
      await t.test('kubectl exec box -- nslookup web: the Service\'s ClusterIP', async () => {
        const r = await kubectl(['exec', 'box', '--', 'nslookup', 'web']);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.startsWith(`${HEADER}Name:\tweb.default.svc.cluster.local\nAddress: ${clusterIP}\n\n`), r.stdout);
        // `nslookup NAME SERVER`.
        const fq = await kubectl(['exec', 'box', '--', 'nslookup', 'web.default.svc.cluster.local', '10.96.0.10']);
        assert.equal(fq.code, 0, fq.stderr);
        assert.ok(fq.stdout.startsWith(`${HEADER}Name:\tweb.default.svc.cluster.local\nAddress: ${clusterIP}\n\n`), fq.stdout);
      });
      await t.test('a missing name: NXDOMAIN, exit 1', async () => {
        const r = await kubectl(['exec', 'box', '--', 'nslookup', 'nosuch']);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, `${HEADER}** server can't find nosuch: NXDOMAIN\n\n** server can't find nosuch: NXDOMAIN\n\n`);
        assert.match(r.stderr, /command terminated with exit code 1/);
      });
      await t.test('kubectl run -i --rm --restart=Never dnsutils --image=busybox -- nslookup kubernetes.default', async () => {
        const r = await kubectl(['run', '-i', '--rm', '--restart=Never', 'dnsutils', '--image=busybox', '--', 'nslookup', 'kubernetes.default']);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.startsWith(`${HEADER}Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n`), r.stdout);
        assert.ok(r.stdout.endsWith('pod "dnsutils" deleted\n'), r.stdout);
      });
      await t.test('the docs\' command as typed, -it under a terminal', async (tt) => {
        if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) { tt.skip('util-linux `script` is not installed'); return; }
        const inner = '/usr/bin/kubectl run -it --rm --restart=Never dnsutils --image=busybox -- nslookup kubernetes.default';
        const r = await c.cmd('script', ['-q', '-e', '-c', inner, '/dev/null'], { timeoutMs: 20_000, input: '' });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /Name:\tkubernetes\.default\.svc\.cluster\.local\r?\nAddress: 10\.96\.0\.1\r?\n/);
      });
    } finally {
      await c.stop(up);
    }
  });
}

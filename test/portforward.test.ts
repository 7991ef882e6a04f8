// `kubectl port-forward` against `svcnet up`, in a private sandbox: the real
// kubectl (1.32) forwards local ports to a pod's port through the API server
// and the node agent, which dials localhost:PORT inside the pod's network
// namespace as kubelet's runtime does. pod/NAME over SPDY/3.1 tunnelled in a
// WebSocket (kubectl's first choice), svc/NAME (kubectl resolves it to a pod)
// over the plain SPDY/3.1 upgrade, several connections at once, and a port
// nothing listens on: kubelet's message on the error stream, which kubectl
// prints before it gives up that forward (kubectl >= 1.23 does), the others
// untouched; a cluster stopping under running forwards. As root and rootless.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { asNobody, getLocal, rootlessUnsupported, sandboxedScenario, UpSession, waitForOutput } from './lib/harness.js';

sandboxedScenario({
  title: 'kubectl port-forward to pods and services of svcnet up (root and rootless), in a private sandbox', self: import.meta.url, timeoutMs: 120_000,
  scenario: () => { scenario('root'); scenario('rootless'); },
});

const outputs = new WeakMap<ChildProcess, string>();
function outputOf(c: ChildProcess): string { return outputs.get(c) ?? ''; }

function scenario(mode: 'root' | 'rootless'): void {
  test(`${mode}: port-forward pod/NAME and svc/NAME, concurrent connections; a closed port is reported, the other forwards go on`, { timeout: 60_000 }, async (t) => {
    const why = mode === 'rootless' ? rootlessUnsupported() : undefined;
    if (why) { t.skip(why); return; }
    // Rootless as rootless.test.ts runs it: every command as `nobody`, the cluster in a user namespace.
    const as = mode === 'rootless' ? asNobody : [];
    const c = UpSession.inTempDir(`svcnet-portforward-${mode}-`, mode === 'rootless' ? 'nobody' : 'root');
    const { k, until, kubectl } = c;
    const forwards: ChildProcess[] = [];
    const portForward = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; ports: number[]; output: () => string }> => {
      const [bin, ...pre] = [...as, '/usr/bin/kubectl'];
      const child = spawn(bin!, [...pre, 'port-forward', ...args], { env: { ...c.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
      forwards.push(child);
      outputs.set(child, '');
      const keep = (d: Buffer) => outputs.set(child, outputOf(child) + d.toString());
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const want = args.filter((a) => /^:?\d*:\d+$/.test(a)).length;
      const out = await waitForOutput(child, (o) => (o.match(/Forwarding from 127\.0\.0\.1:\d+/g) ?? []).length === want || child.exitCode !== null, 15_000);
      const ports = [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      assert.equal(ports.length, want, out);
      return { child, ports, output: () => outputOf(child) };
    };
    const up = c.start(['--nodes', '1']);
    try {
      await c.waitUp(up, 1);
      await k(['create', 'deployment', 'web', '--image=nginx']);
      await k(['expose', 'deployment', 'web', '--port=80']);
      await until(() => k(['get', 'pods', '-l', 'app=web', '--no-headers']), (o) => /1\/1\s+Running/.test(o), 'a ready web pod');
      const pod = (await k(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();

      // pod/NAME over kubectl's first choice, SPDY tunnelled in a WebSocket: one connection, then 8 at once.
      const pf = await portForward([`pod/${pod}`, ':80']);
      const p80 = pf.ports[0]!;
      assert.equal(await getLocal(p80), pod, pf.output());
      const many = await Promise.all(Array.from({ length: 8 }, () => getLocal(p80)));
      assert.deepEqual(many, Array(8).fill(pod), pf.output());
      assert.equal((pf.output().match(/Handling connection for \d+/g) ?? []).length, 9, pf.output());
      assert.equal(pf.child.exitCode, null, pf.output());

      // svc/NAME over the plain SPDY/3.1 upgrade (what kubectl falls back to): kubectl picks a
      // pod behind the Service and maps the service port to its target port.
      const svc = await portForward(['svc/web', ':80'], { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' });
      const viaSvc = await Promise.all(Array.from({ length: 4 }, () => getLocal(svc.ports[0]!)));
      assert.deepEqual(viaSvc, Array(4).fill(pod), svc.output());
      // The first forward is still up beside it.
      assert.equal(await getLocal(p80), pod, pf.output());

      // Nothing listens on 81: the local connection ends, kubelet's message (containerd's dial
      // error inside) comes on the error stream and kubectl prints it; kubectl (1.23+) then
      // closes the whole forward itself ("lost connection to pod"), as against a real cluster.
      const closed = await portForward([`pod/${pod}`, ':81']);
      await assert.rejects(getLocal(closed.ports[0]!));
      await waitForOutput(closed.child, (o) => /an error occurred forwarding \d+ -> 81: error forwarding port 81 to pod \S+, uid : failed to execute portforward in network namespace \\?"[^"\\]+\\?": failed to connect to localhost:81 inside namespace \\?"[^"\\]+\\?", IPv4: dial tcp4 127\.0\.0\.1:81: connect: connection refused/.test(o), 5000)
        .catch(() => assert.fail(`no error for port 81 from kubectl:\n${closed.output()}`));
      await waitForOutput(closed.child, (o) => /lost connection to pod/.test(o), 5000);
      // The other forwards are untouched.
      assert.equal(await getLocal(p80), pod, pf.output());
      assert.equal(await getLocal(svc.ports[0]!), pod, svc.output());

      // A pod that does not run: kubectl refuses before any upgrade.
      await k(['run', 'nowhere', '--image=nginx', '--overrides', JSON.stringify({ spec: { nodeSelector: { nowhere: 'true' } } })]);
      const r = await kubectl(['port-forward', 'pod/nowhere', ':80']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unable to forward port because pod is not running\. Current status=Pending/);

      // Plain requests without an upgrade get kube-apiserver's answer.
      const raw = await kubectl(['get', '--raw', `/api/v1/namespaces/default/pods/${pod}/portforward`]);
      assert.notEqual(raw.code, 0);
      assert.match(raw.stderr, /Upgrade request required/);

      // The cluster stops under running forwards: `up` still exits, and kubectl says so and ends.
      up.kill('SIGINT');
      await until(async () => up.exitCode, (code) => code !== null, 'svcnet up exits', 15_000);
      await waitForOutput(pf.child, (o) => /lost connection to pod/.test(o), 10_000);
      await waitForOutput(svc.child, (o) => /lost connection to pod/.test(o), 10_000);
    } catch (e) {
      // Everything kubectl and the cluster said, for the failure message.
      throw new Error(`${(e as Error).stack}\n--- svcnet up:\n${c.log}\n--- port-forwards:\n${forwards.map((f) => outputOf(f)).join('\n---\n')}`);
    } finally {
      for (const f of forwards) f.kill('SIGKILL');
      await c.stop(up);
    }
  });
}

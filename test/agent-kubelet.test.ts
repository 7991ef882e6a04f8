// kubectl logs, exec, attach and port-forward for a pod run by a STANDALONE
// `svcnet agent` (its own process, against `svcnet apiserver`'s kubeconfig):
// the API server checks the pod, then proxies to the kubelet endpoint the
// agent recorded in its Node (cluster/kubelet-proxy.ts → kubelet-server.ts).
// Real processes, real kubectl, real namespaces, in a private sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpNetns } from '../src/node/netns.js';
import { createTopology, destroyTopology } from '../src/node/topology.js';
import { getLocal, run, type RunResult, sandboxedScenario, svcnetMain, waitForOutput } from './lib/harness.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  nodeName: n1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo hello from $HOSTNAME; exec sleep 3600']
  - name: web
    image: nginx
    ports: [{containerPort: 80}]
  - name: cat
    image: busybox
    command: [cat]
    stdin: true
`;

/** The kubelet endpoint's status code for a log request with this Authorization (none: no header). */
function kubeletStatus(port: number, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = httpsRequest({ host: '127.0.0.1', port, path: '/containerLogs/default/box/app', rejectUnauthorized: false, agent: false,
      headers: authorization ? { authorization } : {} }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    r.on('error', reject);
    r.end();
  });
}

/**
 * GET / on the pod's port 80 over kubelet's WebSocket port-forward protocol (what client-node's
 * and python's PortForward speak: v4.channel.k8s.io, `ports` in the query): channel 0's bytes after its port prefix.
 */
function wsPortForwardGet(kubeconfig: string): Promise<string> {
  const kc = loadKubeconfig(kubeconfig);
  const ws = new WebSocket(`${kc.server.replace(/^http/, 'ws')}/api/v1/namespaces/default/pods/box/portforward?ports=80`, ['v4.channel.k8s.io'],
    { headers: { Authorization: `Bearer ${kc.token}` }, rejectUnauthorized: false });
  const data: Buffer[] = [];
  return new Promise((resolve, reject) => {
    ws.on('open', () => ws.send(Buffer.from('\0GET / HTTP/1.0\r\n\r\n', 'latin1')));
    ws.on('message', (d: Buffer) => { if (d[0] === 0) data.push(d.subarray(1)); });
    ws.on('error', reject);
    ws.on('close', () => resolve(Buffer.concat(data).subarray(2).toString()));
  });
}

sandboxedScenario({
  title: 'kubectl logs/exec/attach/port-forward through a standalone svcnet agent\'s kubelet endpoint, in a private sandbox',
  self: import.meta.url, timeoutMs: 60_000, scenario,
});

function scenario(): void {
  test('svcnet apiserver + svcnet agent: logs, exec (exit code, stdin), attach, port-forward', { timeout: 45_000 }, async () => {
    const prefix = 'svak';
    const dir = mkdtempSync(join(tmpdir(), 'svcnet-agent-kubelet-'));
    const netns = new IpNetns();
    const children: ChildProcess[] = [];
    const start = (args: string[]): ChildProcess => {
      const c = spawn(process.execPath, [svcnetMain, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(c);
      return c;
    };
    const kubeconfig = join(dir, 'api', 'kubeconfig');
    const env = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: kubeconfig, LANG: 'C.UTF-8' };
    const kubectl = (args: string[], input?: string): Promise<RunResult> => run('/usr/bin/kubectl', args, { env, input, timeoutMs: 20_000 });
    const k = async (args: string[], input?: string): Promise<string> => {
      const r = await kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    let agent: ChildProcess | undefined;
    try {
      const topo = await createTopology({ prefix, nodes: ['n1'], netns });
      const n1 = topo.nodes[0]!;
      const api = start(['apiserver', '--listen', '127.0.0.1:0', '--storage', 'memory', '--data-dir', join(dir, 'api'), '--log-level', 'error']);
      await waitForOutput(api, (o) => o.includes('serving on'));
      assert.ok(existsSync(kubeconfig));
      agent = start(['agent', '--kubeconfig', kubeconfig, '--node-name', n1.name, '--netns', n1.netns, '--lan-ip', n1.lanIP,
        '--pod-cidr', n1.podCIDR, '--prefix', prefix, '--data-dir', join(dir, 'agent'), '--log-level', 'error']);
      await waitForOutput(agent, (o) => o.includes('svcnet agent running node n1'));

      // The Node says where its kubelet endpoint is.
      const node = JSON.parse(await k(['get', 'node', 'n1', '-o', 'json']));
      assert.equal(node.metadata.annotations['svcnet.io/kubelet-address'], '127.0.0.1');
      assert.ok(node.status.daemonEndpoints.kubeletEndpoint.Port > 0);
      // Only the API server gets in: not anonymous callers, not the admin token itself (a kubelet that learns the
      // derived token it is shown cannot use it against the API server).
      const kubeletPort = node.status.daemonEndpoints.kubeletEndpoint.Port as number;
      assert.equal(await kubeletStatus(kubeletPort), 401);
      assert.equal(await kubeletStatus(kubeletPort, `Bearer ${loadKubeconfig(kubeconfig).token}`), 401);

      await k(['apply', '-f', '-'], POD);
      for (let i = 0; ; i++) {
        const p = JSON.parse(await k(['get', 'pod', 'box', '-o', 'json']));
        if ((p.status?.containerStatuses ?? []).filter((s: { ready: boolean }) => s.ready).length === 3) break;
        if (i > 150) throw new Error(`pod box not ready: ${JSON.stringify(p.status)}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      // logs
      assert.equal(await k(['logs', 'box', '-c', 'app']), 'hello from box\n');
      const badContainer = await kubectl(['logs', 'box', '-c', 'nope']);
      assert.notEqual(badContainer.code, 0);
      assert.match(badContainer.stderr, /container nope is not valid for pod box/);

      // exec: output, exit code, stdin with its EOF
      assert.equal(await k(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'echo out; echo err >&2']), 'out\n');
      const failed = await kubectl(['exec', 'box', '-c', 'app', '--', 'sh', '-c', 'exit 7']);
      assert.equal(failed.code, 7, failed.stderr);
      assert.equal(await k(['exec', '-i', 'box', '-c', 'app', '--', 'sh', '-c', 'tr a-z A-Z'], 'through the kubelet\n'), 'THROUGH THE KUBELET\n');
      // kubelet's own refusal comes back on the error channel, as from an agent in the API server's process.
      const noCmd = await kubectl(['exec', 'box', '-c', 'app', '--', 'no-such-command']);
      assert.match(noCmd.stderr, /error executing command in container: .*exec: "no-such-command": executable file not found in \$PATH/);

      // attach: stdin to the container's own process (cat), its output back
      const attached = await kubectl(['attach', '-i', 'box', '-c', 'cat'], 'attached line\n');
      assert.match(attached.stdout, /attached line/, attached.stderr);

      // port-forward: one HTTP request to the pod's port 80
      // (kubectl 1.31+ tunnels SPDY through a WebSocket; without it, SPDY on the upgraded connection itself.)
      for (const websockets of ['true', 'false']) {
        const pf = spawn('/usr/bin/kubectl', ['port-forward', 'pod/box', ':80'], { env: { ...env, KUBECTL_PORT_FORWARD_WEBSOCKETS: websockets }, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(pf);
        const out = await waitForOutput(pf, (o) => /Forwarding from 127\.0\.0\.1:\d+/.test(o) || pf.exitCode !== null);
        const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
        assert.ok(port > 0, out);
        assert.match(await getLocal(port), /box/, `websockets=${websockets}`);
        pf.kill();
      }
      // The client libraries' WebSocket port-forward: the API server turns `ports` into kubelet's `port`.
      assert.match(await wsPortForwardGet(kubeconfig), /^HTTP\/1\.[01] 200 [^]*\r\n\r\nbox/);
    } finally {
      for (const c of children.reverse()) if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await new Promise((r) => { const t = setTimeout(() => { c.kill('SIGKILL'); r(undefined); }, 5000); c.once('exit', () => { clearTimeout(t); r(undefined); }); });
      }
      await destroyTopology(prefix, { netns }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

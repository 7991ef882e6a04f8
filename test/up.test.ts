// The README's first command, end to end, in a private sandbox (its own
// network, mount and PID namespaces: nothing can leak to the host): `svcnet
// up` with 2 nodes, then a Deployment exposed as a LoadBalancer is reached
// from the outside world (the client namespace) through the LB IP and every
// node's NodePort, from a node through the ClusterIP, from a pod by DNS name,
// and through `kubectl proxy`; the LB IP fails over when its announcing node
// goes NotReady — for nftables, iptables and the userspace relay. Ctrl-C
// leaves no namespace behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sandboxedScenario, UpSession } from './lib/harness.js';


sandboxedScenario({
  title: 'svcnet up end to end, nftables, iptables and userspace, in a private sandbox', self: import.meta.url, timeoutMs: 300_000,
  scenario: () => { for (const dataplane of ['nftables', 'iptables', 'userspace']) scenario(dataplane); },
});

function scenario(dataplane: string): void {
  test(`svcnet up (${dataplane}): LB IP, NodePorts, ClusterIP, DNS, kubectl proxy`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `svcnet-up-${dataplane}-`));
    const env = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: join(dir, 'kubeconfig'), LANG: 'C.UTF-8' };
    const c = new UpSession(dir, env);
    const { k, inNs, until } = c;
    let up: ChildProcess | undefined;
    /**
     * The LB IP's announcing node goes NotReady (its Ready condition set to Unknown, as the
     * node lifecycle controller does when a kubelet stops posting status): the IP moves to
     * the other node, and the client, whose ARP entry still names the old node, reaches it
     * there. The agent, still alive, posts Ready again at its next heartbeat, and the IP
     * moves back.
     */
    const lbFailover = async (lb: string, fromPod: (o: string) => boolean) => {
      const holder = async () => {
        const held: string[] = [];
        for (const n of ['node-1', 'node-2']) if ((await inNs(`node/${n}`, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).includes(` ${lb}/32`)) held.push(n);
        return held.join(',');
      };
      const mac = async (target: string) => /link\/ether (\S+)/.exec(await inNs(target, ['ip', '-o', 'link', 'show', 'dev', 'eth0']))?.[1] ?? '?';
      const clientSees = async () => /lladdr (\S+)/.exec(await inNs('client', ['ip', 'neigh', 'show', lb]))?.[1] ?? 'none';
      const old = await until(holder, (h) => h === 'node-1' || h === 'node-2', 'one node announces the LB IP');
      const other = old === 'node-1' ? 'node-2' : 'node-1';
      const [oldMac, otherMac] = [await mac(`node/${old}`), await mac(`node/${other}`)];
      assert.ok(fromPod(await inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`])));
      assert.equal(await clientSees(), oldMac, 'the client reached the LB IP through its announcer');
      // Right after a heartbeat, so that the agent's next one (10 s later) does not undo it before we look.
      const beat = async () => JSON.parse(await k(['get', 'node', old, '-o', 'json'])).status.conditions.find((c: { type: string }) => c.type === 'Ready').lastHeartbeatTime as string;
      const last = await beat();
      await until(beat, (b) => b !== last, `a heartbeat of ${old}`, 20_000);
      await k(['patch', 'node', old, '--subresource=status', '-p',
        JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }] } })]);
      await until(holder, (h) => h === other, `the LB IP moves to ${other}`, 8_000);
      assert.ok(fromPod(await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`]), fromPod, 'curl to the LB IP after failover', 8_000)));
      assert.equal(await clientSees(), otherMac, `the client's ARP entry for the LB IP names ${other} now`);
      // The agent is alive: its next heartbeat says Ready again, and the IP goes back.
      await until(holder, (h) => h === old, `the LB IP back on ${old}`, 20_000);
      assert.ok(fromPod(await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`]), fromPod, 'curl to the LB IP after fail-back')));
      assert.equal(await clientSees(), oldMac);
    };
    try {
      const t0 = Date.now();
      up = c.start(['--dataplane', dataplane, '--nodes', '2']);
      await c.waitUp(up, 2);
      assert.match(c.log, new RegExp(`data plane\\s+${dataplane}`));
      const prefix = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')).prefix as string;

      const { lb, nodePort: np, clusterIP, pods, fromPod } = await c.exposeWeb(3);
      const seen = new Set<string>();
      // First successful curl through the cluster: the startup figure.
      const first = await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`]), fromPod, 'curl to the LB IP');
      const startupMs = Date.now() - t0;
      seen.add(first);
      for (let i = 0; i < 12; i++) seen.add(await inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`]));
      for (const nodeIP of ['172.30.0.10', '172.30.0.11']) {
        const o = await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://${nodeIP}:${np}/`]), fromPod, `NodePort on ${nodeIP}`);
        seen.add(o);
      }
      assert.ok(seen.size >= 2, `traffic spread over the pods: ${[...seen].join(',')}`);
      assert.ok(fromPod(await inNs('node/node-2', ['curl', '-s', '-m', '2', `http://${clusterIP}/`])));
      assert.ok(fromPod(await until(() => inNs(`pod/${pods[0]}`, ['curl', '-s', '-m', '3', 'http://web.default.svc.cluster.local/']), fromPod, 'DNS name from a pod')));
      assert.ok(fromPod(await inNs(`pod/${pods[0]}`, ['curl', '-s', '-m', '3', 'http://web/'])));
      // svcnet trace --measure: the expected split from the rules (userspace: from the
      // relay's listener table), beside the observed one. Userspace without --mode: the
      // trace takes the cluster's data plane from its data dir.
      {
        const mode = dataplane === 'userspace' ? [] : ['--mode', dataplane];
        const tr = await c.svcnet(['trace', 'web', '--from', 'client', '--data-dir', dir, ...mode, '--measure', '30'], 60_000);
        assert.equal(tr.code, 0, tr.stderr);
        const measured = [...tr.stdout.matchAll(/^ {2}(web-\S+)\s+33\.3% →\s+[\d.]+%\s+\((\d+)\)$/gm)];
        assert.ok(measured.length >= 3, tr.stdout);
        if (dataplane === 'userspace') assert.match(tr.stdout, /userspace relay/, tr.stdout);
      }
      // A readiness probe failing takes the pod out of the Service's EndpointSlice; passing brings it back.
      const flag = join(dir, 'ready-flag');
      const probePod = `apiVersion: v1
kind: Pod
metadata: {name: probed, labels: {app: web}}
spec:
  containers:
  - name: c
    image: nginx
    readinessProbe:
      exec: {command: [cat, ${flag}]}
      periodSeconds: 1
      failureThreshold: 1
`;
      await k(['apply', '-f', '-'], probePod);
      const readyInSlice = async () => {
        const slices = JSON.parse(await k(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])).items;
        const ep = slices.flatMap((x: { endpoints?: { targetRef?: { name: string }; conditions: { ready: boolean } }[] }) => x.endpoints ?? []).find((e: { targetRef?: { name: string } }) => e.targetRef?.name === 'probed');
        return ep ? String(ep.conditions.ready) : 'absent';
      };
      await until(readyInSlice, (v) => v === 'false', 'probed pod listed but not ready');
      writeFileSync(flag, 'ok');
      await until(readyInSlice, (v) => v === 'true', 'probed pod ready once its probe passes');
      rmSync(flag);
      await until(readyInSlice, (v) => v === 'false', 'probed pod leaves the ready endpoints when its probe fails');
      await k(['delete', 'pod', 'probed', '--wait=false']);
      // kubectl logs goes API server → node agent's container log.
      await k(['logs', pods[0]!, '--tail=5']);
      const rules = (await c.svcnet(['rules', 'node-1', '--data-dir', dir])).stdout;
      assert.match(rules, { nftables: /service-ips/, iptables: /KUBE-SERVICES/, userspace: /userspace mode: no kernel rules/ }[dataplane]!);
      assert.ok(rules.includes(clusterIP), 'the ClusterIP is programmed (userspace: listened on)');
      const proxy = spawn('/usr/bin/kubectl', ['proxy', '--port=0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let out = '';
        proxy.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
        const port = (await until(async () => out, (o) => /127\.0\.0\.1:\d+/.test(o), 'kubectl proxy')).match(/127\.0\.0\.1:(\d+)/)![1];
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/services/web:80/proxy/`);
        assert.ok(fromPod((await r.text()).trim()));
      } finally {
        proxy.kill();
      }
      await lbFailover(lb, fromPod);
      process.stdout.write(`# startup to first curl through the LB IP: ${startupMs} ms\n`);
      const exited = new Promise<number | null>((r) => up!.once('exit', (c) => r(c)));
      up.kill('SIGINT');
      assert.equal(await exited, 0, c.log);
      up = undefined;
      const left = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(prefix));
      assert.deepEqual(left, [], 'no namespace of the cluster is left');
      assert.ok(!existsSync(join(dir, 'cluster.json')));
    } finally {
      if (up) { up.kill('SIGKILL'); await c.svcnet(['down', '--data-dir', dir]); }
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

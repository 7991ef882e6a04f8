// The node agent for real: three nodes as network namespaces on a LAN
// bridge, pods as namespaces with veths and processes, probes, graceful
// deletion, agent restart, logs, cleanup. Everything runs inside a private
// sandbox (new network, mount and PID namespaces): this file re-runs itself
// there, so the host's network namespace is never touched and nothing can
// outlive the test. Skips (with the reason) when not root or tools are missing.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { findByKind } from '../src/api/resources.js';
import type { KObject } from '../src/client/types.js';
import { cidrContains, parseCidr4 } from '../src/node/ipv4.js';
import { getContainerLogs } from '../src/node/logs.js';
import { runCommand } from '../src/node/netns.js';
import { sandboxedScenario } from './lib/harness.js';
import { isReady, podsResource, startNodeCluster, waitFor, type NodeCluster } from '../src/node/testdata/cluster.js';


sandboxedScenario({
  title: 'node agent scenario in a private sandbox (real namespaces, veths, processes)', self: import.meta.url, timeoutMs: 150_000, scenario,
});

async function text(it: AsyncIterable<Buffer>): Promise<string> {
  let s = '';
  for await (const b of it) s += b.toString();
  return s;
}

function scenario(): void {
  const prefix = 'nsc';
  let c: NodeCluster;
  const scratch = mkdtempSync(join(tmpdir(), 'svcnet-node-scenario-'));
  const pids = new Set<number>();
  const exec = async (podName: string, argv: string[], input?: string): Promise<string> => {
    const node = (await c.getPod(podName)).spec!.nodeName!;
    const ns = c.agents.get(node)!.podNetns('default', podName)!;
    const r = await runCommand('ip', ['netns', 'exec', ns, ...argv], { timeoutMs: 5000, input });
    if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${podName}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const curl = (from: string, url: string) => exec(from, ['curl', '-sS', '-m', '3', url]);
  const ip = async (name: string) => (await c.getPod(name)).status!.podIP!;
  const agnhost = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

  // Whatever happens, leave nothing behind (the sandbox's PID namespace kills processes anyway).
  after(async () => {
    await c?.close().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  });

  test('setup: API server, 3 nodes, agents', async () => {
    c = await startNodeCluster({ prefix, nodes: ['n1', 'n2', 'n3'], agent: { restartBackoff: { initialMs: 1000, maxMs: 4000 } } });
  });

  test('nodes register Ready with their podCIDRs', async () => {
    const nodes = await c.client.list<Node & KObject>(findByKind('v1', 'Node')!, undefined);
    assert.deepEqual(nodes.items.map((n) => [n.metadata!.name, n.spec!.podCIDR, n.status!.addresses![0]!.address,
      n.status!.conditions!.find((x) => x.type === 'Ready')!.status]).sort(),
    [['n1', '10.244.0.0/24', '172.30.0.10', 'True'], ['n2', '10.244.1.0/24', '172.30.0.11', 'True'], ['n3', '10.244.2.0/24', '172.30.0.12', 'True']]);
  });

  test('pods start Running+Ready with IPs from their node\'s podCIDR', async () => {
    const readyFile = join(scratch, 'flaky-ready');
    await Promise.all([
      c.createPod('web-0', 'n1', { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }, { containerPort: 5353, protocol: 'UDP' }] }] }),
      c.createPod('porter', 'n2', { containers: [{ name: 'porter', image: agnhost, args: ['porter'], env: [{ name: 'SERVE_PORT_9000', value: 'foo' }] }] }),
      c.createPod('py', 'n1', {
        terminationGracePeriodSeconds: 3,
        containers: [{ name: 'py', image: 'python:3.12', command: ['python3', '-m', 'http.server', '8000'], workingDir: scratch,
          readinessProbe: { tcpSocket: { port: 8000 }, periodSeconds: 1 } }],
      }),
      c.createPod('web-1', 'n2', {
        containers: [{ name: 'netexec', image: agnhost, args: ['netexec', '--http-port=8080', '--udp-port=8081'],
          readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 } }],
      }),
      c.createPod('flaky', 'n2', {
        containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10',
          readinessProbe: { exec: { command: ['test', '-f', readyFile] }, periodSeconds: 1, failureThreshold: 1 } }],
      }),
      c.createPod('web-2', 'n3', { containers: [{ name: 'sh', image: agnhost, args: ['serve-hostname', '--udp', '--http'], ports: [{ containerPort: 9376 }] }] }),
      c.createPod('live', 'n3', {
        containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', livenessProbe: { tcpSocket: { port: 1234 }, periodSeconds: 1, failureThreshold: 1 } }],
      }),
      c.createPod('logger', 'n3', { containers: [{ name: 'bb', image: 'busybox', args: ['sh', '-c', 'for i in 1 2 3; do echo line $i; done; exec sleep 1000'] }] }),
    ]);
    const cidr: Record<string, string> = { n1: '10.244.0.0/24', n2: '10.244.1.0/24', n3: '10.244.2.0/24' };
    for (const name of ['web-0', 'py', 'web-1', 'web-2', 'logger', 'porter']) {
      const p = await waitFor(`${name} ready`, async () => { const p = await c.getPod(name); return isReady(p) ? p : undefined; });
      assert.equal(p.status!.phase, 'Running');
      assert.ok(cidrContains(parseCidr4(cidr[p.spec!.nodeName!]!), p.status!.podIP!), `${name} ${p.status!.podIP}`);
      assert.equal(p.status!.hostIP, c.topology.nodes.find((n) => n.name === p.spec!.nodeName)!.lanIP);
    }
  });

  test('pod to pod, across nodes, by IP: HTTP, UDP, client IP kept, DNS settings, no route from outside', async () => {
    assert.equal(await curl('web-1', `http://${await ip('web-0')}/`), 'web-0\n');
    assert.equal(await curl('web-0', `http://${await ip('web-1')}:8080/hostname`), 'web-1');
    assert.equal(await curl('web-0', `http://${await ip('web-2')}:9376/`), 'web-2');
    assert.equal(await curl('web-0', `http://${await ip('web-1')}:8080/clientip`).then((s) => s.split(':')[0]), await ip('web-0'));
    assert.match(await curl('web-2', `http://${await ip('py')}:8000/`), /Directory listing/);
    // Same node, through the node.
    assert.equal(await curl('py', `http://${await ip('web-0')}/`), 'web-0\n');
    assert.equal(await exec('web-0', ['socat', '-T2', '-', `UDP:${await ip('web-1')}:8081`], 'hostname'), 'web-1');
    assert.equal(await exec('web-0', ['socat', '-T2', '-', `UDP:${await ip('web-2')}:9376`], 'x'), 'web-2');
    assert.equal(await exec('web-2', ['socat', '-T2', '-', `UDP:${await ip('web-0')}:5353`], 'ping'), 'ping');
    assert.equal(await curl('web-2', `http://${await ip('porter')}:9000/`), 'foo');
    const resolv = await exec('web-1', ['cat', '/etc/resolv.conf']);
    assert.match(resolv, /^nameserver 10\.96\.0\.10$/m);
    assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local$/m);
    const fromClient = await runCommand('ip', ['netns', 'exec', c.topology.client.netns, 'curl', '-s', '-m', '1', `http://${await ip('web-0')}/`]);
    assert.notEqual(fromClient.code, 0);
    // The nodes reach each other on the LAN, the client reaches the nodes.
    const viaLan = await runCommand('ip', ['netns', 'exec', c.topology.client.netns, 'socat', '-T1', '-', 'TCP:172.30.0.11:1']);
    assert.match(viaLan.stderr, /Connection refused/);
  });

  test('Ready follows the readiness probe', async () => {
    const readyFile = join(scratch, 'flaky-ready');
    const p = await waitFor('flaky running', async () => { const p = await c.getPod('flaky'); return p.status?.phase === 'Running' ? p : undefined; });
    assert.equal(isReady(p), false);
    writeFileSync(readyFile, '');
    await waitFor('flaky ready', async () => (isReady(await c.getPod('flaky')) ? true : undefined));
    rmSync(readyFile);
    const p2 = await waitFor('flaky unready', async () => { const p = await c.getPod('flaky'); return isReady(p) ? undefined : p; });
    assert.equal(p2.status!.conditions!.find((x) => x.type === 'Ready')!.reason, 'ContainersNotReady');
  });

  test('a failing liveness probe restarts the container', async () => {
    const p = await waitFor('live restarted', async () => {
      const p = await c.getPod('live');
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    });
    assert.ok(p.status!.containerStatuses![0]!.lastState?.terminated, JSON.stringify(p.status!.containerStatuses![0]));
  });

  test('container logs: all, tail, previous', async () => {
    assert.equal(await text(await getContainerLogs('default', 'logger', undefined)), 'line 1\nline 2\nline 3\n');
    assert.equal(await text(await getContainerLogs('default', 'logger', 'bb', { tailLines: 1 })), 'line 3\n');
    assert.match(await text(await getContainerLogs('default', 'web-1', 'netexec')), /Started HTTP server on port 8080/);
    assert.match(await text(await getContainerLogs('default', 'live', 'pause', { previous: true })), /received SIGTERM/);
  });

  test('graceful deletion: serving during preStop, then SIGTERM, then the object is deleted', async () => {
    const trail = join(scratch, 'trail');
    writeFileSync(trail, '');
    await c.createPod('graceful', 'n1', {
      terminationGracePeriodSeconds: 10,
      containers: [{
        name: 'app', image: 'python:3.12', workingDir: scratch,
        command: ['sh', '-c', `trap 'echo TERM >> ${trail}; exit 0' TERM; python3 -m http.server 8001 & wait`],
        readinessProbe: { tcpSocket: { port: 8001 }, periodSeconds: 1 },
        lifecycle: { preStop: { exec: { command: ['sh', '-c', `echo PRESTOP >> ${trail}; sleep 2`] } } },
      }],
    });
    await waitFor('graceful ready', async () => (isReady(await c.getPod('graceful')) ? true : undefined));
    const gip = await ip('graceful');
    const ns = c.agents.get('n1')!.podNetns('default', 'graceful')!;
    for (const p of (await c.netns.pids(ns))) pids.add(p);
    await c.client.delete(podsResource, 'default', 'graceful', {});
    const p = await c.getPod('graceful');
    assert.ok(p.metadata?.deletionTimestamp);
    await waitFor('preStop ran', async () => (readFileSync(trail, 'utf8').includes('PRESTOP') ? true : undefined), 5000, 20);
    // Terminating, still serving.
    assert.match(await curl('web-0', `http://${gip}:8001/`), /Directory listing/);
    await waitFor('graceful deleted', async () => { try { await c.getPod('graceful'); return undefined; } catch { return true; } });
    assert.equal(readFileSync(trail, 'utf8'), 'PRESTOP\nTERM\n');
    assert.equal(await c.netns.exists(ns), false);
  });

  test('agent restart keeps running pods and their IPs; a pod deleted meanwhile is cleaned up', async () => {
    const before = await c.getPod('web-0');
    const pyNs = c.agents.get('n1')!.podNetns('default', 'py')!;
    await c.agents.get('n1')!.close();
    await c.client.delete(podsResource, 'default', 'py', {});
    const a = await c.startAgent('n1');
    await waitFor('py deleted', async () => { try { await c.getPod('py'); return undefined; } catch { return true; } });
    assert.equal(await c.netns.exists(pyNs), false);
    const after = await c.getPod('web-0');
    assert.equal(after.status!.podIP, before.status!.podIP);
    assert.equal(after.status!.containerStatuses![0]!.containerID, before.status!.containerStatuses![0]!.containerID);
    assert.equal(after.status!.containerStatuses![0]!.restartCount, 0);
    assert.ok(isReady(after));
    assert.equal(await curl('web-1', `http://${after.status!.podIP}/`), 'web-0\n');
    await c.createPod('late', 'n1', { containers: [{ name: 'nginx', image: 'nginx' }] });
    const late = await waitFor('late ready', async () => { const p = await c.getPod('late'); return isReady(p) ? p : undefined; });
    assert.notEqual(late.status!.podIP, after.status!.podIP);
    assert.equal(a.podIP('default', 'late'), late.status!.podIP);
  });

  test('cleanup leaves no namespace, no veth, no process', async () => {
    for (const ns of await c.netns.listNamespaces(`${prefix}-pod-`)) for (const p of await c.netns.pids(ns)) pids.add(p);
    assert.ok(pids.size > 0);
    await c.close();
    assert.deepEqual(await c.netns.listNamespaces(prefix), []);
    assert.deepEqual(readdirSync('/etc/netns').filter((d) => d.startsWith(prefix)), []);
    for (const p of pids) assert.throws(() => process.kill(p, 0), `pid ${p} still alive`);
    // Nothing else runs in the sandbox but its init and this test.
    const left = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => p !== 1 && p !== process.pid);
    const described = left.map((p) => { try { return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')}`; } catch { return `${p}`; } });
    assert.deepEqual(described, []);
    // The sandbox's own namespace (the stand-in for the host's) was never changed.
    const links = await runCommand('ip', ['-o', 'link', 'show']);
    assert.deepEqual(links.stdout.trim().split('\n').map((l) => l.split(':')[1]!.trim()), ['lo']);
    rmSync(scratch, { recursive: true, force: true });
  });
}

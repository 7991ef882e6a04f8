// The agent's lifecycle against a real API server (in this process, memory
// storage) with the kernel and processes faked: registration, pod start and
// status, crash-loop restarts, readiness, graceful deletion order, terminal
// pods, and adoption by a restarted agent. Needs no root.
import assert from 'node:assert/strict';
import { systemClock, type Clock } from '../client/clock.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { startApiServer, type RunningApiServer } from '../apiserver/index.js';
import { findByKind } from '../api/resources.js';
import { HttpClient } from '../client/http.js';
import type { KObject } from '../client/types.js';
import { setLogLevel } from '../log.js';
import { startNodeAgent, type NodeAgent, type NodeAgentOptions } from './agent.js';
import { goDuration } from './podworker.js';
import { cidrContains, parseCidr4 } from './ipv4.js';
import { FakeNetns } from './netns.js';
import { createTopology } from './topology.js';
import { FakeProber, FakeProcessRunner } from './testdata/fakes.js';
import type { HostFacts } from './nodestatus.js';

const podsR = findByKind('v1', 'Pod')!;
const nodesR = findByKind('v1', 'Node')!;
const leasesR = findByKind('coordination.k8s.io/v1', 'Lease')!;

let dir: string;
let server: RunningApiServer;
let client: HttpClient;
const netns = new FakeNetns();
const runner = new FakeProcessRunner();
const prober = new FakeProber();
const trail: string[] = [];
const facts: HostFacts = {
  cpus: 4, memoryBytes: 8 * 1024 ** 3, kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64',
  machineID: 'm', bootID: 'b', systemUUID: 'u',
};
let agentOpts: NodeAgentOptions;
let agent: NodeAgent;

before(async () => {
  setLogLevel('silent');
  dir = mkdtempSync(join(tmpdir(), 'svcnet-agent-'));
  server = await startApiServer({
    listenHost: '127.0.0.1', listenPort: 0, storage: 'memory', dataDir: dir,
    serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767',
  });
  client = HttpClient.fromKubeconfig(server.kubeconfigPath!);
  const t = await createTopology({ prefix: 'ut', nodes: ['n1'], netns });
  const n = t.nodes[0]!;
  prober.answer = (a) => {
    if (a.kind === 'exec' && a.command[0] === 'prestop') trail.push('preStop');
    if (a.kind === 'exec' && a.command[0] === 'ready') return { ok: readyAnswer, output: '' };
    return { ok: true, output: '' };
  };
  runner.onSignal = (p, s) => { trail.push(`${s}:${p.spec.env['HOSTNAME']}`); p.exit(s === 'SIGKILL' ? { exitCode: 137, signal: 9 } : { exitCode: 0 }); };
  agentOpts = {
    client, nodeName: 'n1', prefix: 'ut', dataDir: join(dir, 'n1'), nodeNetns: n.netns, lanIP: n.lanIP, podCIDR: n.podCIDR,
    netns, runner, prober, hostFacts: facts, restartBackoff: { initialMs: 300, maxMs: 1200 }, heartbeatMs: 200,
    // Timers that fire up to 20 ms before their time by the wall clock, as libuv's can under
    // load (it times them from the loop's cached start): a wait for a deadline must not be
    // lost when its timer fires just short of it.
    clock: earlyClock,
  };
  agent = await startNodeAgent(agentOpts);
});

after(async () => {
  await agent?.close({ stopPods: true });
  client?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The system clock, except that timers fire 20 ms early. */
const earlyClock: Clock = { ...systemClock, setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms - 20) };

let readyAnswer = true;

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const getPod = (name: string) => client.get<Pod & KObject>(podsR, 'default', name);
const ready = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

async function createPod(name: string, spec: Partial<NonNullable<Pod['spec']>>): Promise<Pod> {
  return client.create<Pod & KObject>(podsR, 'default', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }], ...spec },
  });
}

test('the node registers with its podCIDR, Ready condition and a lease that is renewed', async () => {
  const node = await client.get<Node & KObject>(nodesR, undefined, 'n1');
  assert.equal(node.spec?.podCIDR, '10.244.0.0/24');
  assert.deepEqual(node.status?.addresses, [{ type: 'InternalIP', address: '172.30.0.10' }, { type: 'Hostname', address: 'n1' }]);
  assert.equal(node.status?.nodeInfo?.kubeletVersion, 'v1.32.4-svcnet');
  assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], 'n1');
  const l1 = await client.get<Lease & KObject>(leasesR, 'kube-node-lease', 'n1');
  assert.equal(l1.spec?.holderIdentity, 'n1');
  await waitFor('lease renewal', async () => {
    const l2 = await client.get<Lease & KObject>(leasesR, 'kube-node-lease', 'n1');
    return l2.spec?.renewTime !== l1.spec?.renewTime ? true : undefined;
  });
  // Gateway on the node's lo.
  assert.ok(netns.localAddrs('ut-node-n1').includes('10.244.0.1'));
});

test('a pod gets a sandbox, an IP from the podCIDR, a process in its namespace, and Running+Ready', async () => {
  await createPod('web', { containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'x$(HOSTNAME)' }] }] });
  const p = await waitFor('web ready', async () => { const p = await getPod('web'); return ready(p) ? p : undefined; });
  assert.equal(p.status?.phase, 'Running');
  assert.ok(cidrContains(parseCidr4('10.244.0.0/24'), p.status!.podIP!));
  assert.equal(p.status?.hostIP, '172.30.0.10');
  const proc = runner.procs.find((x) => x.spec.env['HOSTNAME'] === 'web')!;
  assert.equal(proc.spec.netns, agent.podNetns('default', 'web'));
  assert.deepEqual(proc.spec.argv.slice(-2), ['serve', '--port=80/TCP']);
  assert.equal(proc.spec.env['A'], 'xweb');
  assert.equal(proc.spec.env['KUBERNETES_SERVICE_HOST'], '10.96.0.1');
  assert.equal(netns.trace('ut-node-n1', p.status!.podIP!).delivered, true);
  const cs = p.status!.containerStatuses![0]!;
  assert.deepEqual([cs.ready, cs.started, cs.restartCount, cs.image], [true, true, 0, 'docker.io/library/nginx:latest']);
});

test('Go duration strings', () => {
  assert.deepEqual([300, 10_000, 1500, 80_000, 300_000, 3_600_000].map(goDuration), ['300ms', '10s', '1.5s', '1m20s', '5m0s', '1h0m0s']);
});

test('an exiting container restarts at once, then backs off (CrashLoopBackOff)', async () => {
  await createPod('crash', {});
  await waitFor('crash running', async () => (ready(await getPod('crash')) ? true : undefined));
  const procOf = () => runner.running().find((x) => x.spec.env['HOSTNAME'] === 'crash');
  procOf()!.exit({ exitCode: 1 });
  const p1 = await waitFor('first restart', async () => {
    const p = await getPod('crash');
    return p.status?.containerStatuses?.[0]?.restartCount === 1 && procOf() ? p : undefined;
  });
  assert.equal(p1.status!.containerStatuses![0]!.lastState?.terminated?.exitCode, 1);
  procOf()!.exit({ exitCode: 2 });
  const p2 = await waitFor('crash loop', async () => {
    const p = await getPod('crash');
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
  });
  assert.match(p2.status!.containerStatuses![0]!.state!.waiting!.message!, /^back-off 300ms restarting failed container=app pod=crash_default\(/);
  await waitFor('restart after backoff', async () => ((await getPod('crash')).status?.containerStatuses?.[0]?.restartCount === 2 ? true : undefined));
});

test('Ready follows the readiness probe', async () => {
  readyAnswer = false;
  await createPod('probed', { containers: [{ name: 'app', image: 'nginx', readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1, failureThreshold: 1 } }] });
  const p = await waitFor('running', async () => { const p = await getPod('probed'); return p.status?.phase === 'Running' ? p : undefined; });
  assert.equal(ready(p), false);
  readyAnswer = true;
  await waitFor('ready', async () => (ready(await getPod('probed')) ? true : undefined));
  readyAnswer = false;
  const p3 = await waitFor('unready', async () => { const p = await getPod('probed'); return ready(p) ? undefined : p; });
  assert.equal(p3.status?.conditions?.find((c) => c.type === 'ContainersReady')?.reason, 'ContainersNotReady');
  readyAnswer = true;
});

test('graceful deletion: preStop, then SIGTERM, then the object is deleted with the sandbox and IP released', async () => {
  const created = await createPod('bye', {
    terminationGracePeriodSeconds: 5,
    containers: [{ name: 'app', image: 'nginx', lifecycle: { preStop: { exec: { command: ['prestop'] } } } }],
  });
  const p = await waitFor('bye ready', async () => { const p = await getPod('bye'); return ready(p) ? p : undefined; });
  const ns = agent.podNetns('default', 'bye')!;
  assert.ok(await netns.exists(ns));
  trail.length = 0;
  await client.delete(podsR, 'default', 'bye', {});
  await waitFor('bye gone', async () => { try { await getPod('bye'); return undefined; } catch { return true; } });
  assert.deepEqual(trail, ['preStop', 'SIGTERM:bye']);
  assert.equal(await netns.exists(ns), false);
  const ipam = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'n1', 'ipam.json'), 'utf8')) as { allocations: Record<string, { podUid: string }> };
  assert.equal(ipam.allocations[p.status!.podIP!], undefined);
  assert.ok(created.metadata?.uid);
});

test('restartPolicy Never: exit 0 → Succeeded, sandbox torn down, podIP kept in status', async () => {
  await createPod('job', { restartPolicy: 'Never' });
  await waitFor('job running', async () => ((await getPod('job')).status?.phase === 'Running' ? true : undefined));
  const ns = agent.podNetns('default', 'job')!;
  runner.running().find((x) => x.spec.env['HOSTNAME'] === 'job')!.exit({ exitCode: 0 });
  const p = await waitFor('succeeded', async () => { const p = await getPod('job'); return p.status?.phase === 'Succeeded' ? p : undefined; });
  assert.equal(p.status!.containerStatuses![0]!.state?.terminated?.reason, 'Completed');
  assert.ok(p.status?.podIP);
  await waitFor('sandbox gone', async () => (!(await netns.exists(ns)) ? true : undefined));
});

test('init containers run first, in order; a missing ConfigMap holds a container in CreateContainerConfigError', async () => {
  await createPod('inits', {
    initContainers: [{ name: 'i1', image: 'busybox', command: ['true'] }, { name: 'i2', image: 'busybox', command: ['true'] }],
    containers: [{ name: 'app', image: 'nginx', envFrom: [{ configMapRef: { name: 'settings' } }] }],
  });
  const i1 = await waitFor('i1 started', async () => runner.procs.find((x) => x.spec.env['HOSTNAME'] === 'inits'));
  assert.deepEqual(i1.spec.argv, ['true']);
  const p0 = await getPod('inits');
  assert.equal(p0.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'False');
  assert.equal(p0.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');
  i1.exit({ exitCode: 0 });
  const i2 = await waitFor('i2 started', async () => runner.procs.filter((x) => x.spec.env['HOSTNAME'] === 'inits')[1]);
  i2.exit({ exitCode: 0 });
  const p1 = await waitFor('config error', async () => {
    const p = await getPod('inits');
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
  });
  assert.equal(p1.status!.containerStatuses![0]!.state!.waiting!.message, 'configmap "settings" not found');
  assert.equal(p1.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
  assert.deepEqual(p1.status!.initContainerStatuses!.map((x) => [x.name, x.state?.terminated?.reason, x.ready]), [['i1', 'Completed', true], ['i2', 'Completed', true]]);
  await client.create(findByKind('v1', 'ConfigMap')!, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { MODE: 'fast' } });
  await waitFor('app ready', async () => (ready(await getPod('inits')) ? true : undefined));
  assert.equal(runner.running().find((x) => x.spec.env['HOSTNAME'] === 'inits')!.spec.env['MODE'], 'fast');
});

test('a restarted agent adopts running pods: same processes, same IPs, no restarts; new pods get free IPs', async () => {
  const before = await getPod('web');
  const procsBefore = runner.running().length;
  await agent.close();
  agent = await startNodeAgent(agentOpts);
  await agent.idle();
  const afterP = await getPod('web');
  assert.equal(afterP.status?.podIP, before.status?.podIP);
  assert.equal(afterP.status?.containerStatuses?.[0]?.restartCount, 0);
  assert.equal(afterP.status?.containerStatuses?.[0]?.containerID, before.status?.containerStatuses?.[0]?.containerID);
  assert.ok(ready(afterP));
  assert.equal(runner.running().length, procsBefore);
  await createPod('late', {});
  const late = await waitFor('late ready', async () => { const p = await getPod('late'); return ready(p) ? p : undefined; });
  const ips = (await client.list<Pod & KObject>(podsR, 'default')).items.filter((x) => x.metadata?.name !== 'job').map((x) => x.status?.podIP);
  assert.equal(new Set(ips).size, ips.length, `duplicate pod IPs: ${ips.join(' ')}`);
  assert.ok(late.status?.podIP);
  // A process that died while no agent watched is reported and restarted.
  await agent.close();
  runner.running().find((x) => x.spec.env['HOSTNAME'] === 'late')!.exit({ exitCode: 0 });
  agent = await startNodeAgent(agentOpts);
  const l2 = await waitFor('late restarted', async () => {
    const p = await getPod('late');
    return p.status?.containerStatuses?.[0]?.restartCount === 1 ? p : undefined;
  });
  assert.equal(l2.status!.containerStatuses![0]!.lastState?.terminated?.reason, 'ContainerStatusUnknown');
});

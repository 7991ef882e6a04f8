// Why etcd: more than one API server on the same data. Two real `svcnet
// apiserver` processes on one real etcd, driven by the real kubectl: Services
// created on both at once never share a ClusterIP or NodePort (the allocation
// state is one key updated by compare-and-swap; tiny ranges make a lost update
// or a double allocation show), a watch on one sees what the other writes, and
// a restarted API server finds everything. Then the startup repair racing a
// create on the other server, made to happen at the worst moment.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdMissing, startEtcd, type EtcdCluster } from './lib/etcd.js';
import { run, svcnetMain, type RunResult } from './lib/harness.js';
import { startApiServer } from '../src/apiserver/index.js';
import { ApiServer } from '../src/apiserver/server.js';
import { repairAllocations } from '../src/apiserver/bootstrap.js';
import { ensureServingCerts } from '../src/apiserver/tls.js';
import { EtcdStore } from '../src/storage/etcd.js';
import { StatusError } from '../src/api/errors.js';
import { setLogLevel } from '../src/log.js';

const missing = etcdMissing();
const IP_RANGE = '10.0.0.0/27'; // 30 addresses: 14 in the upper band random picks start from
const PORT_RANGE = '30000-30039';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Server {
  url: string;
  k(args: string[], input?: string): Promise<string>;
  kubectl(args: string[], input?: string): Promise<RunResult>;
  spawnKubectl(args: string[]): { out(): string; kill(): void };
  stop(): Promise<void>;
}

/** `svcnet apiserver --storage etcd:...` as its own process, serving once it prints its kubeconfig. */
async function startServer(endpoints: string, dir: string): Promise<Server> {
  const child = spawn(process.execPath, [
    svcnetMain, 'apiserver', '--storage', `etcd:${endpoints}`, '--listen', '127.0.0.1:0', '--data-dir', dir,
    '--service-cluster-ip-range', IP_RANGE, '--service-node-port-range', PORT_RANGE, '--log-level', 'error',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { children.delete(child); resolve(); }));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const { url, kubeconfig } = await new Promise<{ url: string; kubeconfig: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`apiserver did not start in 30 s: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const u = /serving on (\S+)/.exec(out);
      const k = /kubeconfig: (\S+)/.exec(out);
      if (u && k) {
        clearTimeout(timer);
        resolve({ url: u[1]!, kubeconfig: k[1]! });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`apiserver exited (${code}): ${out}${err}`)); });
  });
  const env = { PATH: process.env['PATH'], HOME: dir, KUBECONFIG: kubeconfig, LANG: 'C.UTF-8' };
  const kubectl = (args: string[], input?: string): Promise<RunResult> => run('/usr/bin/kubectl', args, { env, input });
  return {
    url,
    kubectl,
    async k(args, input) {
      const r = await kubectl(args, input);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} on ${url} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    spawnKubectl(args) {
      const c = spawn('/usr/bin/kubectl', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(c);
      c.once('exit', () => children.delete(c));
      let text = '';
      c.stdout!.on('data', (d: Buffer) => { text += d; });
      return { out: () => text, kill: () => c.kill('SIGKILL') };
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface Svc { metadata: { name: string; uid: string; resourceVersion: string }; spec: { clusterIP: string; ports?: { nodePort?: number }[] } }

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('two API servers on one etcd: no shared ClusterIP or NodePort, watches across servers, restart keeps everything', { skip: missing, timeout: 180_000 }, async () => {
  const etcd = await startEtcd();
  const root = mkdtempSync(join(tmpdir(), 'svcnet-etcd-apiservers-'));
  dirs.add(root);
  const servers: Server[] = [];
  try {
    // Started together: both bootstrap (namespaces, repair, `kubernetes` Service) at once.
    const [a, b] = await Promise.all([startServer(etcd.endpoints, join(root, 'a')), startServer(etcd.endpoints, join(root, 'b'))]);
    servers.push(a!, b!);
    const A = a!;
    const B = b!;
    const kubernetesIP = (JSON.parse(await A.k(['get', 'svc', 'kubernetes', '-o', 'json'])) as Svc).spec.clusterIP;
    assert.equal((JSON.parse(await B.k(['get', 'svc', 'kubernetes', '-o', 'json'])) as Svc).spec.clusterIP, kubernetesIP);

    const rv = (JSON.parse(await A.k(['get', '--raw', '/api/v1/namespaces/default/services'])) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const watchA = A.spawnKubectl(['get', '--raw', `/api/v1/namespaces/default/services?watch=1&resourceVersion=${rv}&timeoutSeconds=120`]);

    // Alternately on A and B, each pair at the same time: both compete for the same allocation key.
    const rounds = 12;
    for (let i = 0; i < rounds; i++) {
      await Promise.all([
        A.k(['create', 'service', 'nodeport', `a${i}`, '--tcp=80:8080']),
        B.k(['create', 'service', 'nodeport', `b${i}`, '--tcp=80:8080']),
      ]);
    }
    const list = (JSON.parse(await A.k(['get', 'svc', '-o', 'json'])) as { items: Svc[] }).items;
    assert.equal(list.length, 2 * rounds + 1);
    const ips = list.map((s) => s.spec.clusterIP);
    assert.equal(new Set(ips).size, ips.length, `duplicate ClusterIP: ${ips.sort().join(' ')}`);
    const ports = list.flatMap((s) => (s.spec.ports ?? []).map((p) => p.nodePort).filter((p) => p !== undefined));
    assert.equal(ports.length, 2 * rounds);
    assert.equal(new Set(ports).size, ports.length, `duplicate NodePort: ${ports.sort().join(' ')}`);
    // B serves the same objects at the same resourceVersions.
    const listB = (JSON.parse(await B.k(['get', 'svc', '-o', 'json'])) as { items: Svc[] }).items;
    assert.deepEqual(listB.map((s) => [s.metadata.name, s.metadata.resourceVersion, s.spec.clusterIP]),
      list.map((s) => [s.metadata.name, s.metadata.resourceVersion, s.spec.clusterIP]));

    // The watch on A, opened before, saw every Service created through B.
    const seen = (): Set<string> => new Set(watchA.out().trim().split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; object: Svc }).filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name));
    await until(() => Array.from({ length: rounds }, (_, i) => `b${i}`).every((n) => seen().has(n)), 'A\'s watch to see B\'s Services');
    watchA.kill();

    // A goes away; B writes; A comes back on the same etcd and has it all.
    await A.stop();
    servers.splice(servers.indexOf(A), 1);
    await B.k(['create', 'service', 'nodeport', 'while-a-was-down', '--tcp=80:8080']);
    const A2 = await startServer(etcd.endpoints, join(root, 'a'));
    servers.push(A2);
    const after = (JSON.parse(await A2.k(['get', 'svc', '-o', 'json'])) as { items: Svc[] }).items;
    const before = [...list, (JSON.parse(await B.k(['get', 'svc', 'while-a-was-down', '-o', 'json'])) as Svc)];
    const key = (s: Svc) => [s.metadata.name, s.metadata.uid, s.spec.clusterIP, s.spec.ports?.[0]?.nodePort];
    // (`kubernetes` may have moved its port to A2's: compare the others.)
    const others = (l: Svc[]) => l.filter((s) => s.metadata.name !== 'kubernetes').map(key).sort();
    assert.deepEqual(others(after), others(before));
    // The allocations are shared: A2 refuses an IP that B handed out.
    const taken = before.find((s) => s.metadata.name === 'while-a-was-down')!.spec.clusterIP;
    const dup = await A2.kubectl(['create', '-f', '-'], `apiVersion: v1
kind: Service
metadata: { name: dup }
spec: { clusterIP: ${taken}, ports: [{ port: 80 }] }
`);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /provided IP is already allocated/);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await etcd.destroy();
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
  }
});

test('the startup repair of one API server does not free what the other allocates meanwhile', { skip: missing, timeout: 60_000 }, async () => {
  setLogLevel('error');
  const etcd: EtcdCluster = await startEtcd();
  const running = await startApiServer({
    listenHost: '127.0.0.1', listenPort: 0, storage: `etcd:${etcd.endpoints}`,
    serviceClusterIPRange: IP_RANGE, serviceNodePortRange: PORT_RANGE,
  });
  const inner = new EtcdStore(etcd.endpoints.split(','));
  try {
    // The second API server's store: right after its repair has listed the
    // Services, the first one creates a Service (the worst moment).
    let armed = true;
    let created: Svc | undefined;
    const store = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'range') {
          return async (prefix: string, opts?: Parameters<EtcdStore['range']>[1]) => {
            const r = await target.range(prefix, opts);
            if (armed && prefix === '/registry/core/services/') {
              armed = false;
              created = await running.api.registry('', 'services').create({
                apiVersion: 'v1', kind: 'Service', metadata: { name: 'meanwhile', namespace: 'default' },
                spec: { type: 'NodePort', ports: [{ port: 80 }] },
              }) as unknown as Svc;
            }
            return r;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const second = new ApiServer({ store, token: 'x', tls: ensureServingCerts(undefined), config: { serviceClusterIPRange: IP_RANGE, serviceNodePortRange: PORT_RANGE } });
    await repairAllocations(second);
    assert.equal(armed, false, 'the race happened');
    // Still allocated: the first server refuses the same IP and NodePort to a newcomer.
    const services = running.api.registry('', 'services');
    for (const spec of [
      { clusterIP: created!.spec.clusterIP, ports: [{ port: 80 }] },
      { type: 'NodePort', ports: [{ port: 80, nodePort: created!.spec.ports![0]!.nodePort }] },
    ]) {
      await assert.rejects(services.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dup', namespace: 'default' }, spec }),
        (e: unknown) => e instanceof StatusError && /already allocated/.test(e.message));
    }
    await second.close();
  } finally {
    await inner.close();
    await running.close();
    await etcd.destroy();
  }
});

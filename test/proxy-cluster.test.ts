// Real-traffic scenarios on a 3-node embedded cluster, for each data plane (nftables,
// iptables-nft, iptables-legacy, and userspace): the API server, the controllers and
// startNetnsCluster (src/cluster/netns.ts: LAN, client and node namespaces, a node
// agent and a proxy per node) run in this process, inside a private sandbox (its own
// network, mount and PID namespaces: nothing touches the host's network, and every
// process dies with the sandbox even after a crash). Pods are real processes in their
// own namespaces (agnhost netexec, built in), and traffic comes from a pod, from node
// namespaces and from the `client` namespace (the LAN's outside world):
//
//   ClusterIP          reaches the pods of every node (spread), from a pod and from nodes
//   NodePort           on every node reaches pods on the other nodes (client, pod, node)
//   LoadBalancer IP    answers from the client, spread; from a pod and a node too
//   sessionAffinity    ClientIP sticks (pod, node, client through a NodePort)
//   Local policy       the pod sees the client's own address; nodes without a local
//                      endpoint drop (time out) instead of forwarding; healthCheckNodePort
//                      answers 200/503 from each node's namespace; Cluster policy
//                      masquerades (contrast)
//   no endpoints       connection refused at once (ClusterIP and NodePort)
//   UDP + conntrack    a flow pinned to a pod by conntrack moves when that pod leaves the
//                      service (stale entries deleted), from a pod, a node and the client
//   proxy restart      open TCP connections (pod → ClusterIP, node → ClusterIP, client →
//                      NodePort) keep exchanging data across a restart of their node's
//                      proxy and after the new proxy's first (full) sync (nftables: the
//                      table is deleted and recreated under them); healthCheckNodePort is
//                      served again by the new proxy
//
// userspace (as `svcnet up --dataplane userspace` runs it): each node's proxy is a process
// in the node's namespace that binds the service addresses itself (ip_nonlocal_bind, the
// service CIDR routed `local` on lo) and relays. Every check above holds, except where a
// relay cannot do what a DNAT rule does:
//   Local policy       the relay connects from the node, so the pod sees the node's address,
//                      never the client's (Cluster policy too); only local endpoints serve
//                      (node-1 NodePort → web-1 only); a node without a local endpoint has
//                      no listener on the NodePort, so the kernel REFUSES (RST) instead of
//                      dropping: a socket cannot leave a SYN unanswered (the kernel answers
//                      the handshake for any listener, and resets without one), and the mode
//                      has no firewall rules; healthCheckNodePort answers 200/503 as above
//   no endpoints       no listener: the kernel refuses at once (RST), as the REJECT rule does
//   UDP                the relay's per-client sessions play conntrack's part: the session to
//                      a pod that left the service ends and the flow moves
//   proxy restart      HAProxy's seamless reload (cluster/proxy-handover.ts): the new process
//                      starts with the old one's listening sockets and serves them; then the
//                      old one gets SIGTERM, lets go of its copies, stops watching and keeps
//                      relaying the connections already open; the open connections keep
//                      exchanging data with the same pod across the restart and the new
//                      proxy's syncs, and the old process exits by itself once the last of
//                      them is closed (test/proxy-userspace-restart.test.ts checks that no
//                      new connection is refused meanwhile)
//
// Run as root only; skipped with the reason otherwise. The outer test re-executes this
// file inside the sandbox and reports its outcome. PXDEBUG=1 shows the cluster's logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runInSandbox, sandboxUnsupported, SANDBOX_ENV } from '../src/node/sandbox.js';
import type { Probe } from './lib/netprobe.js';
import type { ProxySnapshot } from '../src/proxy/snapshot.js';

const self = fileURLToPath(import.meta.url);
const tmpEnv = 'SVCNET_PXC_TMPDIR';

function onPath(bin: string): boolean {
  return ['/usr/sbin', '/sbin', ...(process.env['PATH'] ?? '').split(delimiter)].some((d) => d && existsSync(join(d, bin)));
}

/** Whether a node namespace sends ICMP redirects on its LAN leg (conf/all OR conf/eth0). */
function sendsRedirects(netns: string): boolean {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'sysctl', '-n', 'net.ipv4.conf.all.send_redirects', 'net.ipv4.conf.eth0.send_redirects']).toString();
  return out.split('\n').some((l) => l.trim() === '1');
}

interface Backend { label: string; mode: 'nftables' | 'iptables' | 'userspace'; variant?: 'nft' | 'legacy'; prefix: string; tools: string[] }
const backends: Backend[] = [
  { label: 'nftables', mode: 'nftables', prefix: 'pxcnft', tools: ['nft'] },
  { label: 'iptables-nft', mode: 'iptables', variant: 'nft', prefix: 'pxcipt', tools: ['iptables-nft-restore'] },
  { label: 'iptables-legacy', mode: 'iptables', variant: 'legacy', prefix: 'pxcleg', tools: ['iptables-legacy-restore'] },
  { label: 'userspace', mode: 'userspace', prefix: 'pxcusr', tools: [] },
];

if (process.env[SANDBOX_ENV] !== '1') {
  const why = sandboxUnsupported() ?? (onPath('conntrack') ? undefined : '`conntrack` is not installed (Debian package conntrack)');
  test('3-node cluster, real traffic: nftables, iptables-nft, iptables-legacy, userspace, in a private sandbox', { skip: why, timeout: 300_000 }, async (t) => {
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    // The temp dir is made and removed out here, so that even a sandbox killed at its timeout leaves nothing.
    const tmp = mkdtempSync(join(tmpdir(), 'svcnet-pxc-'));
    env[tmpEnv] = tmp;
    let r;
    try {
      r = await runInSandbox([process.execPath, '--test-reporter=spec', '--test-concurrency=1', self], { timeoutMs: 280_000, capture: true, env });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    if (r.code !== 0) assert.fail(`scenario failed in the sandbox (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.output}`);
    for (const line of r.output.split('\n').filter((l) => /^\s*[✔✖﹣]|^# [\w-]+: /.test(l))) t.diagnostic(line.replace(/^# /, ''));
  });
} else {
  for (const b of backends) {
    const missing = b.tools.filter((x) => !onPath(x));
    test(`${b.label}: 3 nodes — ClusterIP, NodePort, LB IP, affinity, Local policy, REJECT, UDP ${b.mode === 'userspace' ? 'sessions' : 'conntrack'}, proxy restart`,
      { skip: missing.length ? `missing ${missing.join(', ')}` : undefined, timeout: 150_000 }, () => scenario(b));
  }
}

async function scenario(b: Backend): Promise<void> {
  const { startApiServer } = await import('../src/apiserver/index.js');
  const { HttpClient } = await import('../src/client/http.js');
  const { findResource } = await import('../src/api/resources.js');
  const { setLogLevel } = await import('../src/log.js');
  const { startControllerManager } = await import('../src/controllers/manager.js');
  const { defaultReconcilers } = await import('../src/controllers/all.js');
  const { startNetnsCluster } = await import('../src/cluster/netns.js');
  const { progress } = await import('../src/cluster/progress.js');
  const { startProbe } = await import('./lib/netprobe.js');
  const { createServer } = await import('node:http');
  setLogLevel(process.env['PXDEBUG'] ? 'debug' : 'error');
  const userspace = b.mode === 'userspace';

  const R = (group: string, plural: string) => findResource(group, 'v1', plural)!;
  const podsR = R('', 'pods');
  const servicesR = R('', 'services');
  const t0 = Date.now();
  const phase = (what: string) => process.stdout.write(`# ${b.label}: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

  const dir = mkdtempSync(join(process.env[tmpEnv] ?? tmpdir(), `svcnet-pxc-${b.label}-`));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const probes: Probe[] = [];
  try {
    const api = await startApiServer({
      listenHost: '127.0.0.1', listenPort: 0, storage: 'memory', dataDir: dir,
      serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767',
    });
    cleanups.push(() => api.close());
    const kc = new HttpClient({ server: api.url, ca: api.caPem, token: api.token });
    cleanups.push(() => kc.close());
    const cm = startControllerManager(kc, defaultReconcilers());
    cleanups.push(() => cm.close());
    await cm.waitForSync();
    // userspace: the node proxies are processes in the node namespaces that reach the API
    // server over a unix socket (plain HTTP, the kubeconfig's token), as `svcnet up` runs them.
    let apiSocket: string | undefined;
    if (userspace) {
      apiSocket = join(dir, 'api.sock');
      const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 });
      api.api.serve(server);
      await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(apiSocket, () => res()); });
      cleanups.push(() => new Promise<void>((res) => { server.close(() => res()); server.closeAllConnections(); }));
    }
    const cluster = await startNetnsCluster({
      api: api.api, client: kc, dataDir: dir, prefix: b.prefix, nodes: ['node-1', 'node-2', 'node-3'],
      mode: b.mode, ...(b.variant ? { iptablesVariant: b.variant } : {}),
      ...(apiSocket ? { apiSocket, kubeconfigPath: api.kubeconfigPath! } : {}),
      serviceClusterIPRange: '10.96.0.0/16', clusterCIDR: '10.244.0.0/16', lbPool: '172.30.0.200-172.30.0.250',
      progress: progress(() => undefined, false),
    });
    let clusterClosed = false;
    cleanups.push(() => (clusterClosed ? undefined : cluster.close()));
    const nodes = cluster.topology.nodes;
    const nodeIP = (name: string) => nodes.find((n) => n.name === name)!.lanIP;
    const clientIP = cluster.topology.client.ip;
    phase('cluster up');

    // ------------------------------------------------------------ workload
    const agnhost = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
    const webPod = (i: number) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `web-${i}`, namespace: 'default', labels: { app: 'web', idx: String(i), ...(i !== 2 ? { udp: 'on' } : {}) } },
      spec: {
        nodeName: `node-${i}`,
        containers: [{ name: 'netexec', image: agnhost, args: ['netexec', '--http-port=8080', '--udp-port=8081'],
          ports: [{ containerPort: 8080 }, { containerPort: 8081, protocol: 'UDP' }] }],
      },
    });
    const podNode: Record<string, string> = { 'web-1': 'node-1', 'web-2': 'node-2', 'web-3': 'node-3' };
    const allWeb = ['web-1', 'web-2', 'web-3'];
    for (const i of [1, 2, 3]) await kc.create(podsR, 'default', webPod(i));
    await kc.create(podsR, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'tester', namespace: 'default' },
      spec: { nodeName: 'node-2', containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10' }] },
    });
    const svc = (name: string, spec: Record<string, unknown>) => kc.create<{ spec: { clusterIP: string; ports: { nodePort?: number }[] } }>(
      servicesR, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
    const http80 = [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }];
    const web = await svc('web', { type: 'LoadBalancer', selector: { app: 'web' }, ports: http80 });
    const sticky = await svc('sticky', { type: 'NodePort', selector: { app: 'web' }, ports: http80, sessionAffinity: 'ClientIP' });
    const local = await kc.create<{ spec: { ports: { nodePort?: number }[]; healthCheckNodePort: number } }>(servicesR, 'default', {
      // Its own address, asked for: see the LB IP wait below (one that the Cluster-policy hash would put on node-3).
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'local', namespace: 'default', annotations: { 'svcnet.io/loadBalancerIPs': '172.30.0.249' } },
      spec: { type: 'LoadBalancer', selector: { app: 'web', idx: '1' }, ports: http80, externalTrafficPolicy: 'Local' },
    });
    const empty = await svc('empty', { type: 'NodePort', selector: { app: 'nothing' }, ports: http80 });
    const udp = await svc('udp', { type: 'NodePort', selector: { udp: 'on' }, ports: [{ name: 'dns', port: 53, targetPort: 8081, protocol: 'UDP' }] });
    const np = (s: { spec: { ports: { nodePort?: number }[] } }) => s.spec.ports[0]!.nodePort!;

    const waitFor = async <T>(what: string, f: () => Promise<T> | T, ok: (v: T) => boolean, ms = 30_000): Promise<T> => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await f();
        if (ok(v)) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)?.slice(0, 400)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    /** Each node's proxy's snapshot in force (userspace: asked from the proxy processes). */
    const snapshots = async (): Promise<{ node: string; snap: ProxySnapshot | undefined }[]> => (userspace
      ? Promise.all(cluster.proxyProcesses.map(async (p) => ({ node: p.nodeName, snap: (await p.state()).snapshot })))
      : cluster.proxies.map((p) => ({ node: p.nodeName, snap: p.snapshot() })));
    /** Every node's proxy has applied a state where `pred` holds for the service port `default/<name>`. */
    const synced = async (name: string, pred: (sp: { endpoints: unknown[]; loadBalancerIPs: string[] }) => boolean, ms?: number) => {
      const state = async () => (await snapshots()).map(({ node, snap }) => {
        const sp = snap?.servicePorts.find((x) => x.name.startsWith(`default/${name}:`));
        return { ok: sp ? pred(sp) : false, node, endpoints: sp?.endpoints.map((e) => `${e.ip}${e.ready ? '' : '(not ready)'}`), lb: sp?.loadBalancerIPs };
      });
      await waitFor(`${name} programmed on every node`, state, (v) => v.every((x) => x.ok), ms).catch(async (e: Error) => {
        const slices = await kc.list<{ metadata: { name: string }; endpoints?: { addresses: string[]; conditions?: { ready?: boolean }; targetRef?: { name?: string } }[] }>(
          R('discovery.k8s.io', 'endpointslices'), 'default', { labelSelector: `kubernetes.io/service-name=${name}` }).catch((x: unknown) => ({ items: [], error: String(x) }));
        e.message += `\nEndpointSlices in the API: ${JSON.stringify(slices.items.map((x) => ({ name: x.metadata.name, endpoints: x.endpoints?.map((ep) => `${ep.targetRef?.name}=${ep.addresses.join(',')}${ep.conditions?.ready ? '' : '(not ready)'}`) })))}`;
        throw e;
      });
    };

    await waitFor('pods running', async () => {
      const items = (await kc.list<{ metadata: { name: string }; status?: { podIP?: string; conditions?: { type: string; status: string }[] } }>(podsR, 'default')).items;
      return items.filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    }, (n) => n === 4, 60_000);
    // web's LB IP, once the two LoadBalancer Services hold different addresses in the API
    // and every proxy programs them so. (`local` asks for its address, so that the test
    // knows it in advance; the LB controller never hands two services one address:
    // src/controllers/loadbalancer/loadbalancer.race.test.ts.)
    await synced('web', (sp) => sp.endpoints.length === 3 && sp.loadBalancerIPs.length === 1);
    const lbIP = await waitFor('distinct LB IPs programmed on every node', async () => {
      const ipOf = async (name: string) =>
        (await kc.get<{ status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(servicesR, 'default', name)).status?.loadBalancer?.ingress?.[0]?.ip ?? '';
      const [w, l] = [await ipOf('web'), await ipOf('local')];
      const snaps = await snapshots();
      const programmed = (name: string) => snaps.map((p) => p.snap?.servicePorts.find((x) => x.name === `default/${name}:http`)?.loadBalancerIPs.join() ?? '');
      const [pw, pl] = [programmed('web'), programmed('local')];
      return { ok: !!w && !!l && w !== l && pw.every((x) => x === w) && pl.every((x) => x === l), w, l, pw, pl };
    }, (v) => v.ok).then((v) => v.w);
    await synced('sticky', (sp) => sp.endpoints.length === 3);
    await synced('local', (sp) => sp.endpoints.length === 1);
    await synced('empty', (sp) => sp.endpoints.length === 0);
    await synced('udp', (sp) => sp.endpoints.length === 2);
    phase('pods ready, services programmed');

    // ------------------------------------------------------------ probes
    const agentOf = (node: string) => cluster.agents.find((a) => a.nodeName === node)!;
    const testerNs = agentOf('node-2').podNetns('default', 'tester');
    assert.ok(testerNs, 'the tester pod has a network namespace');
    const start = async (ns: string) => { const p = await startProbe(ns); probes.push(p); return p; };
    const [pod, n1, n2, n3, client] = await Promise.all([
      start(testerNs), ...nodes.map((n) => start(n.netns)), start(cluster.topology.client.netns),
    ]);
    const from: [string, Probe][] = [['pod tester@node-2', pod!], ['node-1', n1!], ['node-3', n3!]];

    /** Requests /hostname until every pod in `want` answered (or `max` requests); every answer must be a web pod. */
    const spread = async (p: Probe, host: string, port: number, want = allWeb, max = 60) => {
      const seen = new Set<string>();
      const answers: string[] = [];
      while (answers.length < max && want.some((w) => !seen.has(w))) {
        for (const a of await p.http(host, port, '/hostname', 6)) { answers.push(a); seen.add(a); }
      }
      for (const a of answers) assert.ok(allWeb.includes(a), `${p.netns} → ${host}:${port}: unexpected answer ${a} (all: ${answers.join(',')})`);
      return seen;
    };

    /** What answered at host:port when nothing should have (for the failure message). */
    const explain = async (p: Probe, host: string, port: number): Promise<string> => {
      const node = nodes.find((n) => n.lanIP === host) ?? nodes[1]!;
      const sh = (cmd: string) => { try { return execFileSync('ip', ['netns', 'exec', node.netns, 'sh', '-c', cmd]).toString().trim(); } catch (e) { return String(e); } };
      const svcs = (await kc.list<{ metadata: { name: string }; spec: { ports: { nodePort?: number }[]; healthCheckNodePort?: number } }>(servicesR, 'default')).items
        .map((x) => `${x.metadata.name} ${x.spec.ports.map((pp) => pp.nodePort).join(',')} hc=${x.spec.healthCheckNodePort ?? '-'}`).join('; ');
      const sps = (await snapshots())[nodes.indexOf(node)]?.snap?.servicePorts.filter((x) => x.nodePort === port || x.healthCheckNodePort === port)
        .map((x) => `${x.name} [${x.endpoints.map((e) => e.ip).join(' ')}]`);
      const inNs = (ns: string, cmd: string) => { try { return execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd]).toString().trim(); } catch (e) { return String(e); } };
      const from = p.netns;
      return [`again: ${await p.httpStatus(host, port, '/hostname', 3000)}`, `services: ${svcs}`, `${node.name} proxy's service ports on ${port}: ${sps?.join('; ')}`,
        `${node.name} listening: ${sh('ss -ltnp')}`,
        ...nodes.map((n) => `${n.name} conntrack: ${inNs(n.netns, `conntrack -L 2>/dev/null | grep -w ${port} || true`)}`),
        `route from ${from}: ${inNs(from, `ip route get ${host}; ip neigh`)}`].join('\n');
    };

    /** healthCheckNodePort from the client: 200 with localEndpoints 1 on node-1, 503 with 0 elsewhere. */
    const checkHealth = async () => {
      for (const n of nodes) {
        const want = n.name === 'node-1' ? 1 : 0;
        const r = await waitFor(`healthCheckNodePort on ${n.name}`, () => client!.httpStatus(n.lanIP, local.spec.healthCheckNodePort, '/', 2000),
          (v) => !v.startsWith('ERR:'), 10_000);
        const [code, ...body] = r.split(' ');
        assert.equal(code, want ? '200' : '503', `${n.name} healthCheckNodePort: ${r}`);
        assert.deepEqual(JSON.parse(body.join(' ')), { service: { namespace: 'default', name: 'local' }, localEndpoints: want, serviceProxyHealthy: true }, r);
      }
    };

    // ------------------------------------------------------------ ClusterIP
    await t('ClusterIP reaches the pods of every node (pod, nodes)', async () => {
      for (const [who, p] of from) {
        const seen = await spread(p, web.spec.clusterIP, 80);
        assert.deepEqual([...seen].sort(), allWeb, `${who} → ClusterIP`);
      }
    });

    // ------------------------------------------------------------ NodePort
    await t('NodePort on every node reaches pods on other nodes (client, pod, node)', async () => {
      for (const n of nodes) {
        for (const [who, p] of [['client', client!], ['pod tester@node-2', pod!], ['node-1', n1!]] as [string, Probe][]) {
          const seen = await spread(p, n.lanIP, np(web));
          assert.deepEqual([...seen].sort(), allWeb, `${who} → ${n.name} NodePort`);
          assert.ok([...seen].some((s) => podNode[s] !== n.name), `${who} → ${n.name}: a pod on another node answered`);
        }
      }
    });

    // ------------------------------------------------------------ LoadBalancer IP
    await t('LoadBalancer IP answers from the client (spread), a pod and a node', async () => {
      await waitFor('LB IP announced', () => client!.http(lbIP, 80, '/hostname', 1, 1000), (r) => allWeb.includes(r[0]!), 15_000).catch(async (e: Error) => {
        // Who holds which address, and what the client's ARP cache says.
        const sh = (ns: string, cmd: string) => execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd]).toString().trim();
        e.message += `\nweb's LB IP ${lbIP}\n${nodes.map((n) => `${n.name}: ${sh(n.netns, 'ip -br addr show dev eth0')}`).join('\n')}\nclient neigh: ${sh(cluster.topology.client.netns, 'ip neigh')}`;
        const lbs = await kc.list<{ metadata: { name: string }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(servicesR, 'default');
        e.message += `\nLB IPs in the API now: ${lbs.items.map((x) => `${x.metadata.name}=${x.status?.loadBalancer?.ingress?.map((i) => i.ip).join(',') ?? ''}`).join(' ')}`;
        e.message += `\nproxies: ${(await snapshots()).map((p) => `${p.node}: ${p.snap?.servicePorts.filter((x) => x.loadBalancerIPs.length).map((x) => `${x.name}=${x.loadBalancerIPs.join(',')}`).join(' ')}`).join('; ')}`;
        try {
          const events = await kc.list<{ involvedObject?: { name?: string }; reason?: string; message?: string }>(R('', 'events'), 'default');
          e.message += `\nLB events: ${events.items.filter((x) => /^IP/.test(x.reason ?? '')).map((x) => `${x.involvedObject?.name}: ${x.reason} ${x.message}`).join(' | ')}`;
        } catch { /* events are best effort */ }
        throw e;
      });
      assert.deepEqual([...await spread(client!, lbIP, 80)].sort(), allWeb, 'client → LB IP');
      assert.ok(allWeb.includes((await pod!.http(lbIP, 80, '/hostname'))[0]!), 'pod → LB IP');
      assert.ok(allWeb.includes((await n3!.http(lbIP, 80, '/hostname'))[0]!), 'node-3 → LB IP');
    });

    // ------------------------------------------------------------ session affinity
    await t('sessionAffinity ClientIP sticks (pod, node, client through a NodePort)', async () => {
      for (const [who, p, host, port] of [
        ['pod', pod!, sticky.spec.clusterIP, 80], ['node-3', n3!, sticky.spec.clusterIP, 80], ['client', client!, nodeIP('node-1'), np(sticky)],
      ] as [string, Probe, string, number][]) {
        const answers = await p.http(host, port, '/hostname', 15);
        assert.ok(answers.every((a) => allWeb.includes(a)), `${who}: ${answers.join(',')}`);
        assert.equal(new Set(answers).size, 1, `${who} sticks to one pod: ${answers.join(',')}`);
      }
    });

    // ------------------------------------------------------------ externalTrafficPolicy
    if (userspace) await t('externalTrafficPolicy Local (relay): only local endpoints, the node\'s address, nodes without one refuse; health checks', async () => {
      // The relay connects to the pod itself: the pod sees an address of node-1, not the client's.
      const node1Addrs = execFileSync('ip', ['netns', 'exec', nodes[0]!.netns, 'ip', '-o', '-4', 'addr', 'show']).toString()
        .split('\n').map((l) => /inet (\S+)\//.exec(l)?.[1]).filter((x): x is string => !!x);
      const seen = await client!.http(nodeIP('node-1'), np(local), '/clientip', 5);
      for (const s of seen) {
        const src = s.split(':')[0]!;
        assert.notEqual(src, clientIP, `a relay cannot keep the client's address: ${seen.join(',')}`);
        assert.ok(node1Addrs.includes(src), `web-1 sees an address of node-1 (${node1Addrs.join(' ')}): ${seen.join(',')}`);
      }
      assert.deepEqual([...new Set(await client!.http(nodeIP('node-1'), np(local), '/hostname', 6))], ['web-1'], 'only the local endpoint serves');
      // Its LB IP is announced by node-1, the only node with a local endpoint (MetalLB's rule).
      assert.deepEqual([...new Set(await client!.http('172.30.0.249', 80, '/hostname', 6))], ['web-1'], 'the Local LB IP lands on the node with the endpoint');
      await Promise.all(['node-2', 'node-3'].map(async (n) => {
        const r = await client!.tcp(nodeIP(n), np(local), 1500);
        assert.equal(r.result, 'ECONNREFUSED', `${n} has no local endpoint: no listener, refused (a relay cannot drop a SYN) (${JSON.stringify(r)})`);
      }));
      await checkHealth();
      // Cluster policy: relayed too, so the pods never see the client's address either.
      const masq = await client!.http(nodeIP('node-2'), np(web), '/clientip', 6);
      for (const s of masq) assert.notEqual(s.split(':')[0], clientIP, `Cluster policy: the node's address: ${masq.join(',')}`);
    });
    else await t('externalTrafficPolicy Local keeps the client IP; nodes without a local endpoint drop', async () => {
      const seen = await client!.http(nodeIP('node-1'), np(local), '/clientip', 5);
      for (const s of seen) assert.equal(s.split(':')[0], clientIP, `web-1 sees the client's own address: ${seen.join(',')}`);
      // Its LB IP is announced by node-1, the only node with a local endpoint (MetalLB's rule),
      // so the client reaches web-1 through it, with its own address kept.
      const viaLB = await client!.http('172.30.0.249', 80, '/clientip', 5);
      for (const s of viaLB) assert.equal(s.split(':')[0], clientIP, `through the Local LB IP web-1 sees the client: ${viaLB.join(',')}`);
      await Promise.all(['node-2', 'node-3'].map(async (n) => {
        const r = await client!.tcp(nodeIP(n), np(local), 1500);
        assert.equal(r.result, 'TIMEOUT', `${n} has no local endpoint: dropped, not forwarded nor refused (${JSON.stringify(r)})`);
      }));
      // healthCheckNodePort, as a load balancer probes it from outside: 200 where there is a local endpoint.
      await checkHealth();
      // Contrast: with the Cluster policy the source is masqueraded to the node.
      const masq = await client!.http(nodeIP('node-2'), np(web), '/clientip', 6);
      for (const s of masq) assert.notEqual(s.split(':')[0], clientIP, `Cluster policy masquerades: ${masq.join(',')}`);
    });

    // ------------------------------------------------------------ no endpoints
    await t('a service without endpoints is rejected at once (ClusterIP, NodePort)', async () => {
      for (const [who, p, host, port] of [
        ['pod', pod!, empty.spec.clusterIP, 80], ['node-1', n1!, empty.spec.clusterIP, 80],
        ['client', client!, nodeIP('node-2'), np(empty)], ['pod', pod!, nodeIP('node-3'), np(empty)],
      ] as [string, Probe, string, number][]) {
        const r = await p.tcp(host, port, 3000);
        if (r.result !== 'ECONNREFUSED') assert.fail(`${who} → ${host}:${port}: rejected, not dropped: ${JSON.stringify(r)}\n${await explain(p, host, port)}`);
        assert.ok(r.ms < 1000, `${who} → ${host}:${port}: refused at once, not after a timeout (${r.ms} ms)`);
      }
      // Why at once: a node that forwarded the client's packets back out of the LAN leg they
      // came in on (its NodePort → a pod on another node) would send the client ICMP
      // redirects, which Linux charges to the per-host token bucket of the ICMP rate limit
      // (net.ipv4.icmp_ratelimit, 1 s): the port-unreachable answering the first SYN would be
      // suppressed and the client would see the REJECT only on the SYN retransmitted 1 s later.
      // createTopology turns send_redirects off in every node namespace.
      for (const n of nodes) assert.equal(sendsRedirects(n.netns), false, `${n.name} sends no ICMP redirects`);
    });

    // ------------------------------------------------------------ UDP and conntrack
    await t(`UDP service after an endpoint change: ${userspace ? 'the relay\'s sessions to the removed pod end' : 'stale conntrack entries are deleted'} (pod, node, client)`, async () => {
      // Find, for each origin, a source port whose flow conntrack pinned to web-1.
      const flows: { who: string; p: Probe; host: string; port: number; src: number }[] = [];
      for (const [who, p, host, port, base] of [
        ['pod', pod!, udp.spec.clusterIP, 53, 41000], ['node-3', n3!, udp.spec.clusterIP, 53, 42000], ['client', client!, nodeIP('node-1'), np(udp), 43000],
      ] as [string, Probe, string, number, number][]) {
        let found: number | undefined;
        for (let src = base; src < base + 40 && found === undefined; src++) {
          if (await p.udp(host, port, 'hostname', src, 2000) === 'web-1') found = src;
        }
        assert.ok(found !== undefined, `${who}: some UDP flow goes to web-1`);
        for (let i = 0; i < 3; i++) assert.equal(await p.udp(host, port, 'hostname', found, 2000), 'web-1', `${who}: ${userspace ? 'the relay\'s session' : 'conntrack'} keeps the flow on web-1`);
        flows.push({ who, p, host, port, src: found });
      }
      // web-1 leaves the service (it keeps running and answering: a stale entry would still reach it).
      await kc.patch(podsR, 'default', 'web-1', 'merge', { metadata: { labels: { udp: 'off' } } });
      await synced('udp', (sp) => sp.endpoints.length === 1);
      for (const f of flows) {
        await waitFor(`${f.who}: the UDP flow moves to web-3`, () => f.p.udp(f.host, f.port, 'hostname', f.src, 1000), (a) => a === 'web-3', 10_000);
      }
    });

    // ------------------------------------------------------------ proxy restart
    await t('open TCP connections survive a restart of their node\'s proxy', async () => {
      const conns: { who: string; p: Probe; name: string; first: string; answers: string[] }[] = [];
      let oldProxy: { exited: Promise<number | string> } | undefined;
      for (const [who, p, host, port] of [
        ['pod tester@node-2 → ClusterIP', pod!, web.spec.clusterIP, 80], ['node-2 → ClusterIP', n2!, web.spec.clusterIP, 80],
        ['client → node-2 NodePort', client!, nodeIP('node-2'), np(web)],
      ] as [string, Probe, string, number][]) {
        const name = `c${conns.length}`;
        assert.equal(await p.open(name, host, port), 'connected', who);
        const first = await p.req(name, '/hostname');
        assert.ok(allWeb.includes(first), `${who}: ${first}`);
        conns.push({ who, p, name, first, answers: [] });
      }
      // Keep every connection busy while the proxy goes away and comes back
      // (netexec closes idle keep-alive connections after 5 s).
      let pinging = true;
      const pinger = (async () => {
        while (pinging) {
          await Promise.all(conns.map(async (c) => { c.answers.push(await c.p.req(c.name, '/hostname', 3000)); }));
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      try {
        if (userspace) {
          const before = cluster.proxyProcesses[1]!;
          const t1 = Date.now();
          const restarted = await cluster.restartProxy('node-2');
          phase(`node-2 proxy restarted (the new process took over the sockets; ${Date.now() - t1} ms from its start to the old one draining)`);
          assert.ok('pid' in restarted && restarted.pid !== before.pid, 'a new proxy process');
          assert.equal(cluster.proxyProcesses[1], restarted);
          const st = await restarted.state();
          assert.ok(st.snapshot && st.syncs >= 1, 'the new proxy made its first sync');
          assert.match(st.rules, new RegExp(`^TCP ${web.spec.clusterIP.replaceAll('.', '\\.')}:80 \\(clusterIP\\)`, 'm'), 'the new proxy listens on the ClusterIP');
          // The old process still relays the open connections (it exits once they end).
          const oldExit = await Promise.race([before.exited, new Promise((r) => setTimeout(() => r('running'), 300))]);
          assert.equal(oldExit, 'running', 'the old proxy process drains the open connections');
          oldProxy = before;
        } else {
          const before = cluster.proxies[1]!;
          const tableHandle = () => /table ip kube-proxy .*# handle (\d+)/
            .exec(execFileSync('ip', ['netns', 'exec', nodes[1]!.netns, 'nft', '-a', 'list', 'table', 'ip', 'kube-proxy']).toString())?.[1];
          const handleBefore = b.mode === 'nftables' ? tableHandle() : undefined;
          const restarted = await cluster.restartProxy('node-2');
          phase('node-2 proxy restarted');
          assert.ok(!('pid' in restarted));
          assert.notEqual(restarted, before);
          assert.equal(cluster.proxies[1], restarted);
          assert.ok(restarted.snapshot(), 'the new proxy made its first sync');
          assert.ok(restarted.metrics.syncFullProxyRulesLatency.count() >= 1, 'the new proxy\'s first sync rewrote every rule (full sync)');
          if (b.mode === 'nftables') {
            // A full nftables sync deletes and recreates the table: the connections outlive their rules.
            const handleAfter = tableHandle();
            assert.ok(handleBefore && handleAfter && handleAfter !== handleBefore, `table ip kube-proxy recreated (handle ${handleBefore} → ${handleAfter})`);
          }
        }
        // The new proxy's state is in force: a new service is programmed on node-2, and
        // the connections still exchange data after that (second) sync.
        const after = await svc('after', { type: 'ClusterIP', selector: { app: 'web' }, ports: http80 });
        await synced('after', (sp) => sp.endpoints.length === 3);
        assert.ok(allWeb.includes((await pod!.http(after.spec.clusterIP, 80, '/hostname'))[0]!), 'the restarted proxy programs new services');
        const mark = conns.map((c) => c.answers.length);
        await waitFor('requests on every connection after the restart', () => conns.map((c, i) => c.answers.length - mark[i]!), (v) => v.every((n) => n >= 3), 15_000);
      } finally {
        pinging = false;
        await pinger.catch(() => undefined);
      }
      for (const c of conns) {
        assert.ok(c.answers.length >= 3, `${c.who}: ${c.answers.length} requests during the restart`);
        assert.deepEqual(c.answers.filter((a) => a !== c.first), [], `${c.who}: every request on the open connection answered by ${c.first}`);
        await c.p.closeConn(c.name);
      }
      if (oldProxy) {
        // Its last connection closed, the old proxy process has nothing left to relay: it exits.
        const code = await Promise.race([oldProxy.exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
        assert.equal(code, 0, 'the old proxy process exits once drained');
        phase('old node-2 proxy drained and exited');
      }
      assert.deepEqual([...await spread(pod!, web.spec.clusterIP, 80)].sort(), allWeb, 'new connections are spread after the restart');
      await checkHealth();
    });

    // ------------------------------------------------------------ teardown
    for (const p of probes.splice(0)) await p.close();
    clusterClosed = true;
    await cluster.close();
    const left = execFileSync('ip', ['netns', 'list']).toString().split('\n').filter((l) => l.startsWith(`${b.prefix}-`));
    assert.deepEqual(left, [], 'no namespace of the cluster is left');
    phase('cluster down');
  } finally {
    for (const p of probes) await p.close().catch(() => undefined);
    for (const c of cleanups.reverse()) {
      try { await c(); } catch (e) { process.stdout.write(`# cleanup step failed: ${String(e)}\n`); }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  /** A named step: its failure names the step (subtests would run after the cluster is gone). */
  async function t(name: string, f: () => Promise<void>): Promise<void> {
    const s = Date.now();
    try {
      await f();
    } catch (e) {
      if (e instanceof Error) e.message = `[${b.label}] ${name}: ${e.message}`;
      throw e;
    }
    process.stdout.write(`# ${b.label}: ✓ ${name} (${Date.now() - s} ms)\n`);
  }
}

// The proxy against the real kernel: nftables, iptables (nft) and iptables-legacy rules
// programmed by startProxy in a node network namespace, with real packets from real
// processes. Everything happens inside a private sandbox (`unshare --net --mount`), so
// nothing touches the host's network namespace and every namespace disappears with it:
//
//   sandbox root ns: API server (127.0.0.1), the proxy process (this one)
//   pxnode: the node (lo + 192.168.0.10, veth-p1 10.244.1.1, veth-p2 10.244.2.1)
//   pxpod1 / pxpod2: pods 10.244.1.2 / 10.244.2.2 with a TCP :8080 and UDP :5353 server
//
// Run as root only; skipped with the reason otherwise. The outer test re-executes this
// file inside the sandbox and reports its outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sandboxEnv = 'SVCNET_PROXY_KERNEL_SANDBOX';
const inSandbox = process.env[sandboxEnv] === '1';

function onPath(bin: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => d && existsSync(join(d, bin)));
}

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) for network namespaces';
  const missing = ['ip', 'unshare', 'nsenter', 'nft', 'iptables-restore', 'iptables-legacy-restore', 'conntrack'].filter((b) => !onPath(b));
  if (missing.length) return `missing tools: ${missing.join(', ')} (Debian packages iproute2, util-linux, nftables, iptables, conntrack)`;
  if (spawnSync('unshare', ['--net', '--mount', 'true'], { stdio: 'ignore' }).status !== 0) return 'unshare --net --mount is not permitted here';
  return undefined;
}

if (!inSandbox) {
  const reason = skipReason();
  test('real kernel: nftables, iptables-nft and iptables-legacy data planes in a private network sandbox', { skip: reason, timeout: 300_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, [sandboxEnv]: '1' };
    // The inner run is a plain script run of this file, not a child of this test runner.
    delete env['NODE_TEST_CONTEXT'];
    const script = 'mkdir -p /run/netns && mount -t tmpfs svcnet-test /run/netns && ip link set lo up && exec "$0" "$1"';
    const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, fileURLToPath(import.meta.url)],
      { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 280_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    const summary = out.split('\n').filter((l) => /^(not )?ok |^# (tests|pass|fail)/.test(l)).join('\n');
    if (code !== 0) console.log(out);
    else console.log(summary);
    assert.equal(code, 0, 'the sandboxed kernel tests failed (output above)');
  });
} else {
  await sandboxTests();
}

async function sandboxTests(): Promise<void> {
  const { startApiServer } = await import('../src/apiserver/index.js');
  const { HttpClient } = await import('../src/client/http.js');
  const { findResource } = await import('../src/api/resources.js');
  const { setLogLevel } = await import('../src/log.js');
  const { startProxy } = await import('../src/proxy/runtime/proxy.js');
  const { listRules, createApplier } = await import('../src/proxy/runtime/apply.js');
  const { NetnsListenerFactory } = await import('../src/proxy/runtime/netns.js');
  setLogLevel(process.env['PXDEBUG'] ? 'debug' : 'error');

  const services = findResource('', 'v1', 'services')!;
  const slices = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
  const nodes = findResource('', 'v1', 'nodes')!;
  const children = new Set<ChildProcess>();
  process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

  // ---------------------------------------------------------------- topology
  ip('netns', 'add', 'pxnode');
  ip('-n', 'pxnode', 'link', 'set', 'lo', 'up');
  ip('-n', 'pxnode', 'addr', 'add', '192.168.0.10/32', 'dev', 'lo');
  for (const i of [1, 2]) {
    ip('netns', 'add', `pxpod${i}`);
    ip('link', 'add', `veth-p${i}`, 'netns', 'pxnode', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', `pxpod${i}`);
    ip('-n', 'pxnode', 'addr', 'add', `10.244.${i}.1/24`, 'dev', `veth-p${i}`);
    ip('-n', 'pxnode', 'link', 'set', `veth-p${i}`, 'up');
    ip('-n', `pxpod${i}`, 'link', 'set', 'lo', 'up');
    ip('-n', `pxpod${i}`, 'addr', 'add', `10.244.${i}.2/24`, 'dev', 'eth0');
    ip('-n', `pxpod${i}`, 'link', 'set', 'eth0', 'up');
    ip('-n', `pxpod${i}`, 'route', 'add', 'default', 'via', `10.244.${i}.1`);
  }
  // The node needs a route towards the service range even though DNAT rewrites the destination.
  ip('-n', 'pxnode', 'route', 'add', '10.96.0.0/16', 'dev', 'veth-p1');
  execFileSync('ip', ['netns', 'exec', 'pxnode', 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);

  // ---------------------------------------------------------------- pods
  const podSource = `
    const net = require('net'), dgram = require('dgram');
    const name = process.argv[1];
    net.createServer((s) => { s.on('error', () => {}); s.end(name + ' ' + s.remoteAddress + '\\n'); }).listen(8080, '0.0.0.0', () => {
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send(name, r.port, r.address));
      u.bind(5353, '0.0.0.0', () => console.log('ready'));
    });`;
  async function startPod(i: number): Promise<void> {
    const c = spawn('ip', ['netns', 'exec', `pxpod${i}`, process.execPath, '-e', podSource, `pod${i}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(c);
    await new Promise<void>((resolve, reject) => {
      c.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve(); });
      c.on('exit', (code) => reject(new Error(`pod${i} server exited ${code}`)));
    });
  }
  await Promise.all([startPod(1), startPod(2)]);

  // A client run inside a namespace: N TCP connections / UDP exchanges / one HTTP GET, results as JSON.
  const clientSource = `
    const net = require('net'), dgram = require('dgram'), http = require('http');
    const [mode, host, port, n, srcPort] = process.argv.slice(1);
    const one = () => new Promise((resolve) => {
      if (mode === 'tcp') {
        const s = net.connect({ host, port: +port });
        let data = '';
        const t = setTimeout(() => { s.destroy(); resolve('TIMEOUT'); }, 3000);
        s.on('data', (d) => data += d);
        s.on('end', () => { clearTimeout(t); resolve(data.trim()); });
        s.on('error', (e) => { clearTimeout(t); resolve(e.code); });
      } else if (mode === 'udp') {
        const u = dgram.createSocket('udp4');
        const t = setTimeout(() => { u.close(); resolve('TIMEOUT'); }, 2000);
        u.on('message', (m) => { clearTimeout(t); u.close(); resolve(m.toString()); });
        u.on('error', (e) => { clearTimeout(t); u.close(); resolve(e.code); });
        u.bind(srcPort ? +srcPort : 0, () => u.send('hi', +port, host));
      } else {
        http.get({ host, port: +port, path: '/' }, (res) => { let b = ''; res.on('data', (d) => b += d);
          res.on('end', () => resolve(JSON.stringify({ status: res.statusCode, body: JSON.parse(b) }))); })
          .on('error', (e) => resolve(e.code));
      }
    });
    (async () => { const out = []; for (let i = 0; i < +n; i++) out.push(await one()); console.log(JSON.stringify(out)); })();`;
  function client(ns: string, mode: 'tcp' | 'udp' | 'http', host: string, port: number, n: number, srcPort?: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', clientSource, mode, host, String(port), String(n), ...(srcPort ? [String(srcPort)] : [])],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      children.add(c);
      let out = '';
      c.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
      c.on('close', (code) => {
        children.delete(c);
        if (code !== 0) reject(new Error(`client exited ${code}`));
        else resolve(JSON.parse(out) as string[]);
      });
    });
  }
  const podsOf = (replies: string[]) => new Set(replies.map((r) => r.split(' ')[0]));

  // ---------------------------------------------------------------- API server
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-proxy-kernel-'));
  const api = await startApiServer({
    listenHost: '127.0.0.1', listenPort: 0, storage: 'memory', dataDir: dir,
    serviceClusterIPRange: '10.96.0.0/16', serviceNodePortRange: '30000-32767',
  });
  const kc = new HttpClient({ server: api.url, ca: api.caPem, token: api.token });
  await kc.create(nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] } });

  const webService = {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' },
    spec: {
      type: 'NodePort', clusterIP: '10.96.5.5',
      ports: [
        { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      ],
    },
  };
  const endpoint = (i: number) => ({ addresses: [`10.244.${i}.2`], conditions: { ready: true }, nodeName: 'node-a' });
  const webSlice = (pods: number[]) => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }],
    endpoints: pods.map(endpoint),
  });
  const lbService = {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'lbl', namespace: 'default' },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', clusterIP: '10.96.5.6', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
  const lbSlice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'lbl-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'lbl' } },
    addressType: 'IPv4', ports: [{ port: 8080, protocol: 'TCP' }], endpoints: [endpoint(1)],
  };
  const created = await kc.create<{ spec: { healthCheckNodePort: number } }>(services, 'default', lbService);
  const hcPort = created.spec.healthCheckNodePort;
  await kc.create(slices, 'default', lbSlice);

  const waitFor = async (what: string, pred: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  await test('NftSession: transactions through one long-lived nft -i, all or nothing, errors reported, restarted after a kill', { timeout: 30_000 }, async () => {
    const { NftSession } = await import('../src/proxy/runtime/apply.js');
    const nft = (...args: string[]) => execFileSync('ip', ['netns', 'exec', 'pxnode', 'nft', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    const session = new NftSession('pxnode', 5000);
    try {
      await session.apply('add table ip sess\nadd set ip sess s { type ipv4_addr ; }\nadd element ip sess s { 10.0.0.1 }\n');
      assert.match(nft('list', 'set', 'ip', 'sess', 's'), /10\.0\.0\.1/);
      // The second command fails: the first is not applied either, and the message says why.
      await assert.rejects(session.apply('add element ip sess s { 10.0.0.2 }\nadd element ip sess nope { 10.0.0.3 }\n'),
        (e: Error) => /COMMAND_FAILED|refused/.test(`${(e as { code?: string }).code} ${e.message}`) && /nope|No such file/.test(e.message));
      assert.doesNotMatch(nft('list', 'set', 'ip', 'sess', 's'), /10\.0\.0\.2/);
      // Changes made by another process meanwhile are seen (nft checks the generation).
      nft('add', 'element', 'ip', 'sess', 's', '{ 10.0.0.4 }');
      await session.apply('delete element ip sess s { 10.0.0.4 }\n');
      // Killed: the next transaction starts a new nft.
      await session.close();
      await session.apply('add element ip sess s { 10.0.0.5 }\n');
      const set = nft('list', 'set', 'ip', 'sess', 's');
      assert.match(set, /10\.0\.0\.5/);
      assert.doesNotMatch(set, /10\.0\.0\.4/);
    } finally {
      await session.close();
      nft('delete', 'table', 'ip', 'sess');
    }
  });

  const rounds: { mode: 'nftables' | 'iptables'; variant?: 'nft' | 'legacy'; label: string }[] = [
    { mode: 'nftables', label: 'nftables' },
    { mode: 'iptables', variant: 'nft', label: 'iptables-nft' },
    { mode: 'iptables', variant: 'legacy', label: 'iptables-legacy' },
  ];

  try {
    for (const round of rounds) {
      await test(`${round.label}: ClusterIP, NodePort, hairpin, UDP conntrack cleanup, affinity, REJECT`, { timeout: 90_000 }, async () => {
        await kc.create(services, 'default', webService);
        await kc.create(slices, 'default', webSlice([1, 2]));
        const proxy = await startProxy({
          client: kc, nodeName: 'node-a', mode: round.mode, netns: 'pxnode', iptablesVariant: round.variant,
          minSyncPeriodMs: 0, metricsAddress: '127.0.0.1:0', clusterCIDR: '10.244.0.0/16', serviceCIDRs: ['10.96.0.0/16'],
          healthCheckListeners: new NetnsListenerFactory({ netns: 'pxnode' }), nodeIPs: ['192.168.0.10'],
        });
        const webPort = (name: string) => proxy.snapshot()?.servicePorts.find((sp) => sp.name === `default/web:${name}`);
        try {
          await waitFor('both web endpoints', () => webPort('http')?.endpoints.length === 2);
          await proxy.syncNow();

          // ClusterIP from the node itself (nat OUTPUT): both pods get traffic.
          const fromNode = await client('pxnode', 'tcp', '10.96.5.5', 80, 24);
          assert.deepEqual(podsOf(fromNode), new Set(['pod1', 'pod2']), JSON.stringify(fromNode));

          // NodePort on the node's own IP.
          const viaNodePort = await client('pxnode', 'tcp', '192.168.0.10', 30080, 16);
          assert.deepEqual(podsOf(viaNodePort), new Set(['pod1', 'pod2']), JSON.stringify(viaNodePort));

          // From a pod (nat PREROUTING + forwarding), including hairpin back to itself, which must be masqueraded.
          const fromPod = await client('pxpod1', 'tcp', '10.96.5.5', 80, 24);
          assert.deepEqual(podsOf(fromPod), new Set(['pod1', 'pod2']), JSON.stringify(fromPod));
          const hairpin = fromPod.find((r) => r.startsWith('pod1 '))!;
          assert.equal(hairpin.split(' ')[1], '10.244.1.1', 'hairpin traffic is SNATed to the node');

          // UDP from fresh source ports spreads too.
          const udp = await client('pxnode', 'udp', '10.96.5.5', 53, 24);
          assert.deepEqual(new Set(udp), new Set(['pod1', 'pod2']), JSON.stringify(udp));

          // Conntrack: a client keeping its source port stays on its endpoint until that endpoint
          // goes away; then the stale entry must be deleted, or it keeps talking to the old pod.
          const [first] = await client('pxnode', 'udp', '10.96.5.5', 53, 1, 40000);
          const [again] = await client('pxnode', 'udp', '10.96.5.5', 53, 1, 40000);
          assert.equal(again, first, 'conntrack keeps a UDP flow on its endpoint');
          const keep = first === 'pod1' ? 2 : 1;
          await kc.update(slices, 'default', { ...webSlice([keep]), metadata: { ...webSlice([keep]).metadata,
            resourceVersion: (await kc.get<{ metadata: { resourceVersion: string } }>(slices, 'default', 'web-1')).metadata.resourceVersion } });
          await waitFor('one web endpoint', () => webPort('dns')?.endpoints.length === 1);
          await proxy.syncNow();
          const [moved] = await client('pxnode', 'udp', '10.96.5.5', 53, 1, 40000);
          assert.equal(moved, `pod${keep}`, 'the stale UDP conntrack entry was deleted');
          if (round.mode === 'nftables') {
            // web has no chain of its own: its endpoints are elements of the endpoint maps.
            const rules = await listRules({ mode: 'nftables', netns: 'pxnode' });
            assert.doesNotMatch(rules, /chain service-\w{8}-default\/web\//);
            assert.match(rules, new RegExp(`10\\.96\\.5\\.5 \\. udp \\. 53 \\. 0 : 10\\.244\\.${keep}\\.2 \\. 5353`));
            assert.doesNotMatch(rules, new RegExp(`10\\.244\\.${3 - keep}\\.2 \\. 5353`));
          }
          await kc.update(slices, 'default', { ...webSlice([1, 2]), metadata: { ...webSlice([1, 2]).metadata,
            resourceVersion: (await kc.get<{ metadata: { resourceVersion: string } }>(slices, 'default', 'web-1')).metadata.resourceVersion } });
          await waitFor('both web endpoints again', () => webPort('http')?.endpoints.length === 2);

          // Session affinity: every connection from the node sticks to one pod.
          await kc.patch(services, 'default', 'web', 'merge', { spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } });
          await waitFor('affinity', () => webPort('http')?.sessionAffinity === 'ClientIP');
          await proxy.syncNow();
          const sticky = await client('pxnode', 'tcp', '10.96.5.5', 80, 12);
          assert.equal(podsOf(sticky).size, 1, JSON.stringify(sticky));

          // healthCheckNodePort, served from inside the node namespace: pod1 is local.
          const [hc] = await client('pxnode', 'http', '127.0.0.1', hcPort, 1);
          const hcBody = JSON.parse(hc!) as { status: number; body: Record<string, unknown> };
          assert.equal(hcBody.status, 200, hc);
          assert.deepEqual(hcBody.body, { service: { namespace: 'default', name: 'lbl' }, localEndpoints: 1, serviceProxyHealthy: true });

          // The rules as the kernel reports them (with affinity, web has a service chain).
          const rules = await listRules({ mode: round.mode, netns: 'pxnode', variant: round.variant });
          if (round.mode === 'nftables') {
            assert.match(rules, /table ip kube-proxy/);
            assert.match(rules, /chain service-\w{8}-default\/web\/tcp\/http/);
          } else {
            assert.match(rules, /^-A KUBE-SERVICES .*10\.96\.5\.5\/32 .*-j KUBE-SVC-/m);
            assert.match(rules, /^-A OUTPUT .*-j KUBE-SERVICES/m);
          }
          const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
          assert.match(metrics, /^kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/m);
          assert.match(metrics, /^kubeproxy_network_programming_duration_seconds_count [1-9]/m);

          // No endpoints: connections are refused (REJECT), on the ClusterIP and the NodePort.
          await kc.delete(slices, 'default', 'web-1');
          await waitFor('no web endpoints', () => webPort('http')?.endpoints.length === 0);
          await proxy.syncNow();
          assert.deepEqual(await client('pxnode', 'tcp', '10.96.5.5', 80, 2), ['ECONNREFUSED', 'ECONNREFUSED']);
          assert.deepEqual(await client('pxnode', 'tcp', '192.168.0.10', 30080, 1), ['ECONNREFUSED']);
          if (round.mode === 'nftables') {
            // web's chains, unused now, were flushed by the partial sync and are deleted ≥ 1 s later.
            const end = Date.now() + 5000;
            let left = await listRules({ mode: 'nftables', netns: 'pxnode' });
            while (left.includes('default/web/') && Date.now() < end) {
              await new Promise((r) => setTimeout(r, 200));
              left = await listRules({ mode: 'nftables', netns: 'pxnode' });
            }
            assert.ok(!left.includes('default/web/'), 'stale chains deleted from the kernel');
            assert.equal(proxy.metrics.nftablesCleanupFailuresTotal.value(), 0);
          }
          await proxy.close();
          // The rules outlive the proxy (as kube-proxy's); `cleanup` (kube-proxy --cleanup) removes them,
          // so the next round is served by its own backend alone.
          await createApplier(round.mode, { netns: 'pxnode', variant: round.variant }).cleanup();
          assert.equal(await listRules({ mode: round.mode, netns: 'pxnode', variant: round.variant }), '', 'nothing of ours is left');
        } finally {
          await proxy.close();
          await kc.delete(services, 'default', 'web').catch(() => undefined);
          await kc.delete(slices, 'default', 'web-1').catch(() => undefined);
        }
      });
    }
  } finally {
    await api.close();
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

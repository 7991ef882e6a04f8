// Observability: Prometheus text with kube-proxy's names and buckets, kube-proxy's
// /healthz and /livez semantics, the HTTP server, and the healthCheckNodePort servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { FakeClock } from '../src/client/clock.js';
import { Counter, Histogram, ProxyHealth, ProxyMetrics, parseHostPort, startProxyServer } from '../src/proxy/metrics.js';
import { ServiceHealthServers, healthCheckTargets } from '../src/proxy/runtime/healthcheck.js';
import { buildSnapshot } from '../src/proxy/snapshot.js';
import { service, slice, ep } from '../src/proxy/testdata/scenario.js';

test('exposition format: counters with labels, histograms with cumulative buckets', () => {
  const c = new Counter('x_total', 'Things.', ['code']);
  c.inc({ code: '200' });
  c.inc({ code: '200' });
  c.inc({ code: 'a"b' });
  assert.equal(c.render(), '# HELP x_total Things.\n# TYPE x_total counter\nx_total{code="200"} 2\nx_total{code="a\\"b"} 1\n');
  const h = new Histogram('d_seconds', 'Durations.', [0.1, 1]);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  assert.equal(h.render(), [
    '# HELP d_seconds Durations.', '# TYPE d_seconds histogram',
    'd_seconds_bucket{le="0.1"} 1', 'd_seconds_bucket{le="1"} 2', 'd_seconds_bucket{le="+Inf"} 3',
    'd_seconds_sum 5.55', 'd_seconds_count 3', '',
  ].join('\n'));
});

test('kube-proxy metric names and buckets, per mode', () => {
  const nft = new ProxyMetrics('nftables').render();
  for (const name of ['kubeproxy_sync_proxy_rules_duration_seconds', 'kubeproxy_sync_full_proxy_rules_duration_seconds',
    'kubeproxy_sync_partial_proxy_rules_duration_seconds', 'kubeproxy_network_programming_duration_seconds',
    'kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
    'kubeproxy_sync_proxy_rules_service_changes_pending', 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total']) {
    assert.match(nft, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.doesNotMatch(nft, /iptables_restore_failures/);
  assert.match(nft, /^kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="16.384"\} 0$/m, 'ExponentialBuckets(0.001, 2, 15)');
  assert.match(nft, /^kubeproxy_network_programming_duration_seconds_bucket\{le="0"\} 0$/m);
  assert.match(nft, /^kubeproxy_network_programming_duration_seconds_bucket\{le="300"\} 0$/m);
  const ipt = new ProxyMetrics('iptables').render();
  assert.match(ipt, /^kubeproxy_sync_proxy_rules_iptables_restore_failures_total 0$/m);
  assert.match(new ProxyMetrics('userspace').render(), /^# TYPE svcnet_proxy_userspace_connections_total counter$/m);
});

test('health: healthy at start and when synced; 503 when an update waits past the timeout; node eligibility', () => {
  const clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
  let node: { seen: boolean; node?: { metadata?: { deletionTimestamp?: string }; spec?: { taints?: { key: string; effect: string }[] } } } = { seen: false };
  const h = new ProxyHealth({ clock, healthTimeoutMs: 60_000, node: () => node });
  assert.equal(h.respond(true).code, 200);
  h.queuedUpdate('IPv4');
  clock.advance(1000);
  h.updated('IPv4');
  const ok = h.respond(true);
  assert.equal(ok.code, 200);
  assert.deepEqual(ok.body, {
    lastUpdated: '2026-03-01T10:00:01.000Z', currentTime: '2026-03-01T10:00:01.000Z', nodeEligible: true, healthy: true,
    status: { IPv4: { lastUpdated: '2026-03-01T10:00:01.000Z', healthy: true } },
  });
  h.queuedUpdate('IPv4');
  clock.advance(59_000);
  assert.equal(h.respond(false).code, 200, 'queued but not late');
  clock.advance(1000);
  const bad = h.respond(false);
  assert.equal(bad.code, 503);
  assert.equal(bad.body.lastUpdated, '2026-03-01T10:00:01.000Z', 'an unhealthy answer reports the real last update');
  assert.equal(bad.body.nodeEligible, undefined, '/livez does not report node eligibility');
  h.updated('IPv4');
  node = { seen: true, node: { spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } } };
  assert.equal(h.respond(true).code, 503);
  assert.equal(h.respond(false).code, 200, '/livez ignores the node');
  node = { seen: true };
  assert.equal(h.respond(true).body.nodeEligible, false, 'a node that was seen and is gone');
});

test('the metrics server: /metrics, /healthz, /livez, /proxyMode, 404', async () => {
  const metrics = new ProxyMetrics('iptables');
  const health = new ProxyHealth();
  const s = await startProxyServer({ host: '127.0.0.1', port: 0, metrics, health });
  try {
    const m = await fetch(`${s.url}/metrics`);
    assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await m.text(), /kubeproxy_sync_proxy_rules_iptables_total/);
    const hz = await fetch(`${s.url}/healthz`);
    assert.equal(hz.status, 200);
    assert.equal(hz.headers.get('x-content-type-options'), 'nosniff');
    await hz.json();
    assert.equal((await fetch(`${s.url}/livez`)).status, 200);
    assert.equal(await (await fetch(`${s.url}/proxyMode`)).text(), 'iptables');
    assert.equal((await fetch(`${s.url}/nope`)).status, 404);
    assert.equal(metrics.proxyHealthzTotal.value({ code: '200' }), 1);
    assert.match(metrics.render(), /^kubeproxy_proxy_livez_total\{code="200"\} 1$/m);
  } finally {
    await s.close();
  }
});

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:10249'), { host: '127.0.0.1', port: 10249 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort(':10249'), { host: '0.0.0.0', port: 10249 });
  assert.equal(parseHostPort('nope'), undefined);
  assert.equal(parseHostPort('1.2.3.4:70000'), undefined);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('healthCheckNodePort servers: 200 with local endpoints, 503 without; opened and closed with the snapshot', async () => {
  const port = await freePort();
  const lb = service('lb', { type: 'LoadBalancer', clusterIPs: ['10.96.0.13'], ports: [{ port: 80, nodePort: 30080 }], etp: 'Local', healthCheckNodePort: port });
  const sl = (...e: ReturnType<typeof ep>[]) => slice('lb', 'lb-1', [{ port: 8080, protocol: 'TCP' }], e);
  const snap = (...e: ReturnType<typeof ep>[]) => buildSnapshot({ services: [lb], slices: [sl(...e)], nodeName: 'node-a', nodeIPs: ['192.168.0.10'] });
  let healthy = true;
  const servers = new ServiceHealthServers({ bindAddress: '127.0.0.1', proxyHealthy: () => healthy });
  try {
    await servers.sync(snap(ep('10.244.1.5', { node: 'node-a' }), ep('10.244.2.5', { node: 'node-b' })));
    assert.deepEqual(healthCheckTargets(snap()).get('default/lb'), { namespace: 'default', name: 'lb', port, localEndpoints: 0 });
    let r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '1');
    assert.deepEqual(await r.json(), { service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
    await servers.sync(snap(ep('10.244.2.5', { node: 'node-b' })));
    r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 503);
    assert.equal((await r.json() as { localEndpoints: number }).localEndpoints, 0);
    await servers.sync(snap(ep('10.244.1.5', { node: 'node-a' })));
    healthy = false;
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 503, 'an unhealthy proxy fails the check');
    await servers.sync(buildSnapshot({ services: [], slices: [], nodeName: 'node-a', nodeIPs: [] }));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'the server is closed with its service');
    assert.deepEqual(servers.info(), []);
  } finally {
    await servers.close();
  }
});

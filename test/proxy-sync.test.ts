// The proxy's sync loop with a fake clock and the fake kernel (FakeRuleApplier): syncs
// are coalesced within minSyncPeriod, a failed apply forces a full resync after an
// exponential backoff, a bad object is skipped without stopping the loop, partial syncs
// write only what changed, and the kube-proxy metrics and health follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { FakeClock } from '../src/client/clock.js';
import { FakeClient } from '../src/client/fake.js';
import { InformerFactory } from '../src/client/informer.js';
import { findResource } from '../src/api/resources.js';
import { FakeRuleApplier, type NftTransaction } from '../src/proxy/runtime/apply.js';
import { NftablesDataplane, IptablesDataplane, type Dataplane } from '../src/proxy/runtime/dataplane.js';
import { SyncLoop, lastChangeTriggerTimeAnnotation } from '../src/proxy/runtime/sync.js';
import { startProxy } from '../src/proxy/runtime/proxy.js';
import { ProxyHealth, ProxyMetrics } from '../src/proxy/metrics.js';
import { service, slice, ep } from '../src/proxy/testdata/scenario.js';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advances the fake clock in small steps, letting async syncs finish between them. */
async function advance(clock: FakeClock, ms: number, step = 50): Promise<void> {
  for (let t = 0; t < ms || t === 0; t += step) {
    clock.advance(Math.min(step, ms - t));
    await settle();
  }
}

const web = (ip = '10.96.0.10'): Service => service('web', { clusterIPs: [ip], ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
const webSlice = (...ips: string[]): EndpointSlice => slice('web', 'web-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], ips.map((ip) => ep(ip, { ready: true })));

function setup(opts: { minSyncPeriodMs?: number; mode?: 'nftables' | 'iptables' } = {}) {
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const applier = new FakeRuleApplier(opts.mode ?? 'nftables');
  const metrics = new ProxyMetrics(opts.mode ?? 'nftables');
  const health = new ProxyHealth({ clock, healthTimeoutMs: 10_000 });
  const dpOpts = { applier, clock, metrics, families: ['IPv4' as const] };
  const dataplane: Dataplane = (opts.mode ?? 'nftables') === 'nftables' ? new NftablesDataplane(dpOpts) : new IptablesDataplane(dpOpts);
  const loop = new SyncLoop({
    nodeName: 'node-a', dataplane, clock, metrics, health,
    minSyncPeriodMs: opts.minSyncPeriodMs ?? 1000,
    backoff: { initialMs: 1000, maxMs: 8000, jitter: 0 },
  });
  return { clock, applier, metrics, health, loop };
}

test('changes are coalesced: at most one sync per minSyncPeriod', async () => {
  const { clock, applier, loop } = setup({ minSyncPeriodMs: 1000 });
  loop.onServiceChange(undefined, web());
  loop.start();
  await advance(clock, 0);
  assert.equal(applier.applied.length, 1, 'first sync runs at once');
  for (let i = 0; i < 20; i++) {
    loop.onSliceChange(undefined, webSlice(`10.244.1.${i + 1}`));
    await advance(clock, 20, 20);
  }
  // 400 ms in: still inside the min period, nothing more applied.
  assert.equal(applier.applied.length, 1);
  await advance(clock, 700);
  assert.equal(applier.applied.length, 2, 'one sync for all 20 changes');
  const snap = loop.snapshot()!;
  assert.deepEqual(snap.servicePorts[0]!.endpoints.map((e) => e.ip), ['10.244.1.20']);
  await loop.close();
});

test('the second sync is partial: only the changed service port is written', async () => {
  const { clock, applier, loop, metrics } = setup({ minSyncPeriodMs: 0 });
  loop.onServiceChange(undefined, web());
  loop.onServiceChange(undefined, service('other', { clusterIPs: ['10.96.0.11'], ports: [{ port: 53, protocol: 'UDP' }] }));
  loop.start();
  await advance(clock, 0);
  const first = (applier.applied[0] as NftTransaction).script;
  assert.match(first, /^add table ip kube-proxy .*\ndelete table ip kube-proxy\n/);
  loop.onSliceChange(undefined, webSlice('10.244.1.5'));
  await advance(clock, 10);
  assert.equal(applier.applied.length, 2);
  const second = (applier.applied[1] as NftTransaction).script;
  assert.doesNotMatch(second, /delete table/);
  // The web service port's endpoints are elements of @service-endpoints (no chain of its own).
  assert.match(second, /^add element ip kube-proxy service-endpoints \{ 10\.96\.0\.10 \. tcp \. 80 \. 0 : 10\.244\.1\.5 \. 8080 \}$/m);
  assert.doesNotMatch(second, /other/);
  assert.equal(metrics.syncFullProxyRulesLatency.count(), 1);
  assert.equal(metrics.syncPartialProxyRulesLatency.count(), 1);
  assert.equal(metrics.syncProxyRulesLatency.count(), 2);
  // The fake kernel holds the same table a full render would make.
  const table = applier.nftTable('IPv4')!;
  assert.equal(table.sets.get('service-endpoints')?.elements.get('10.96.0.10 . tcp . 80 . 0')?.value, '10.244.1.5 . 8080');
  await loop.close();
});

test('a failed apply forces a full resync, retried with exponential backoff', async () => {
  const { clock, applier, loop, metrics, health } = setup({ minSyncPeriodMs: 0 });
  loop.onServiceChange(undefined, web());
  loop.start();
  await advance(clock, 0);
  assert.equal(applier.applied.length, 1);
  applier.failNext(3);
  loop.onSliceChange(undefined, webSlice('10.244.1.5'));
  await advance(clock, 0);
  assert.equal(applier.attempted.length, 2, 'the partial sync was attempted and failed');
  assert.equal(metrics.nftablesSyncFailuresTotal.value(), 1);
  // Backoff 1 s, then 2 s, then 4 s: attempts at +1 s, +3 s, +7 s.
  await advance(clock, 900);
  assert.equal(applier.attempted.length, 2, 'no retry before the backoff');
  await advance(clock, 200);
  assert.equal(applier.attempted.length, 3);
  // New changes do not bypass the backoff.
  loop.onSliceChange(webSlice('10.244.1.5'), webSlice('10.244.1.5', '10.244.1.6'));
  await advance(clock, 1800);
  assert.equal(applier.attempted.length, 3);
  await advance(clock, 300);
  assert.equal(applier.attempted.length, 4);
  await advance(clock, 4100);
  assert.equal(applier.attempted.length, 5);
  assert.equal(applier.applied.length, 2, 'the fourth attempt went through');
  const last = (applier.applied[1] as NftTransaction).script;
  assert.match(last, /delete table ip kube-proxy/, 'after a failure the sync is full');
  assert.match(last, /10\.244\.1\.6/);
  assert.equal(metrics.syncFailuresTotal.value(), 3);
  assert.equal(loop.status().failures, 3);
  assert.equal(health.health().healthy, true);
  await loop.close();
});

test('health turns bad when a queued change waits longer than the health timeout', async () => {
  const { clock, applier, loop, health } = setup({ minSyncPeriodMs: 0 });
  loop.onServiceChange(undefined, web());
  loop.start();
  await advance(clock, 0);
  assert.equal(health.respond(true).code, 200);
  applier.failNext(100);
  loop.onSliceChange(undefined, webSlice('10.244.1.5'));
  await advance(clock, 9000, 500);
  assert.equal(health.respond(false).code, 200, 'queued, not late yet');
  await advance(clock, 2000, 500);
  const r = health.respond(true);
  assert.equal(r.code, 503);
  assert.equal(r.body.healthy, false);
  assert.equal(r.body.nodeEligible, true);
  await loop.close();
});

test('a bad object is skipped and logged; the rest is synced and the loop goes on', async () => {
  const { clock, applier, loop } = setup({ minSyncPeriodMs: 0 });
  const bad = { metadata: { namespace: 'default', name: 'bad' }, spec: { clusterIP: 123, ports: [{ port: 80 }] } } as unknown as Service;
  loop.onServiceChange(undefined, bad);
  loop.onServiceChange(undefined, web());
  loop.onSliceChange(undefined, webSlice('10.244.1.5'));
  loop.start();
  const r = await loop.syncNow();
  assert.deepEqual(r.skipped, ['Service default/bad']);
  assert.equal(loop.snapshot()!.servicePorts.length, 1);
  assert.equal(loop.snapshot()!.servicePorts[0]!.name, 'default/web:http');
  loop.onSliceChange(webSlice('10.244.1.5'), webSlice('10.244.1.5', '10.244.1.6'));
  await advance(clock, 10);
  assert.equal(loop.snapshot()!.servicePorts[0]!.endpoints.length, 2, 'later changes still sync');
  assert.ok(applier.applied.length >= 2);
  await loop.close();
});

test('network programming latency comes from the slice trigger-time annotation; pending counters reset', async () => {
  const { clock, loop, metrics } = setup({ minSyncPeriodMs: 1000 });
  loop.onServiceChange(undefined, web());
  loop.start();
  await advance(clock, 0);
  await advance(clock, 5000, 1000);
  const s = webSlice('10.244.1.5');
  s.metadata!.annotations = { [lastChangeTriggerTimeAnnotation]: new Date(clock.now() - 2500).toISOString() };
  loop.onSliceChange(undefined, s);
  assert.equal(metrics.endpointChangesPending.value(), 1);
  await advance(clock, 1000);
  assert.equal(metrics.endpointChangesPending.value(), 0);
  assert.equal(metrics.networkProgrammingLatency.count(), 1);
  const observed = metrics.networkProgrammingLatency.sum();
  // The last sync was long ago, so this one runs at once: ≈ the 2.5 s the change is old.
  assert.ok(observed >= 2.5 && observed <= 2.6, `latency ${observed}s`);
  // An annotation from before the proxy started is not counted.
  const old = webSlice('10.244.1.6');
  old.metadata!.annotations = { [lastChangeTriggerTimeAnnotation]: '2001-01-01T00:00:00Z' };
  loop.onSliceChange(s, old);
  await advance(clock, 1100);
  assert.equal(metrics.networkProgrammingLatency.count(), 1);
  assert.match(metrics.render(), /kubeproxy_network_programming_duration_seconds_count 1\n/);
  await loop.close();
});

test('an unchanged update (only metadata moved) does not sync; a periodic sync with nothing new skips the kernel', async () => {
  const { clock, applier, loop } = setup({ minSyncPeriodMs: 0 });
  const a = web();
  loop.onServiceChange(undefined, a);
  loop.start();
  await advance(clock, 0);
  const b = structuredClone(a);
  b.metadata = { ...b.metadata, resourceVersion: '99', managedFields: [{ manager: 'x' }] };
  loop.onServiceChange(a, b);
  await advance(clock, 100);
  assert.equal(applier.applied.length, 1);
  await advance(clock, 31_000, 1000);
  assert.equal(applier.applied.length, 1, 'periodic sync found nothing to do');
  await loop.close();
});

test('iptables mode through the loop: full, then partial with the stale chain deleted', async () => {
  const { clock, applier, loop, metrics } = setup({ minSyncPeriodMs: 0, mode: 'iptables' });
  loop.onServiceChange(undefined, web());
  loop.onSliceChange(undefined, webSlice('10.244.1.5', '10.244.1.6'));
  loop.start();
  await advance(clock, 0);
  const before = applier.iptablesServiceChains('IPv4');
  assert.equal(before.filter((c) => c.startsWith('KUBE-SEP-')).length, 2);
  loop.onSliceChange(webSlice('10.244.1.5', '10.244.1.6'), webSlice('10.244.1.5'));
  await advance(clock, 10);
  const after = applier.iptablesServiceChains('IPv4');
  assert.equal(after.filter((c) => c.startsWith('KUBE-SEP-')).length, 1);
  const rules = await applier.listRules();
  assert.match(rules, /-A PREROUTING .*-j KUBE-SERVICES/, 'jumps from the built-in chains were ensured');
  assert.ok(metrics.iptablesRulesTotal.value({ table: 'nat' }) > 5);
  assert.ok(metrics.iptablesRulesLastSync.value({ table: 'nat' }) < metrics.iptablesRulesTotal.value({ table: 'nat' }), 'partial sync wrote less');
  await loop.close();
});

test('startProxy with a fake client and fake kernel: informers → rules; metrics served', async () => {
  const client = new FakeClient();
  const services = findResource('', 'v1', 'services')!;
  const slices = findResource('discovery.k8s.io', 'v1', 'endpointslices')!;
  const nodes = findResource('', 'v1', 'nodes')!;
  await client.create(nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] } });
  await client.create(services, 'default', web() as never);
  await client.create(slices, 'default', webSlice('10.244.1.5') as never);
  const applier = new FakeRuleApplier('nftables');
  const proxy = await startProxy({ client, nodeName: 'node-a', mode: 'nftables', applier, minSyncPeriodMs: 10, metricsAddress: '127.0.0.1:0' });
  try {
    assert.equal(proxy.snapshot()!.nodeIPs[0], '192.168.0.10');
    assert.match(proxy.lastRules(), /10\.96\.0\.10 \. tcp \. 80 \. 0 : 10\.244\.1\.5 \. 8080/);
    await client.create(slices, 'default', { ...slice('web', 'web-2', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.2.9', { ready: true })]) } as never);
    for (let i = 0; i < 100 && !proxy.lastRules().includes('10.244.2.9'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(proxy.lastRules(), /10\.96\.0\.10 \. tcp \. 80 \. 2 : 10\.244\.2\.9 \. 8080/);
    const metricsText = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metricsText, /^kubeproxy_sync_proxy_rules_duration_seconds_count [1-9]/m);
    assert.match(metricsText, /^kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0$/m);
    const hz = await fetch(`${proxy.metricsUrl}/healthz`);
    assert.equal(hz.status, 200);
    const body = await hz.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).slice(0, 4), ['lastUpdated', 'currentTime', 'nodeEligible', 'healthy']);
    assert.equal(body['nodeEligible'], true);
    assert.equal(await (await fetch(`${proxy.metricsUrl}/proxyMode`)).text(), 'nftables');
  } finally {
    await proxy.close();
  }
  assert.equal(client.openWatches(), 0, 'every watch closed');
});

test('two node proxies share one informer factory; closing one leaves the other and the factory running', async () => {
  const client = new FakeClient();
  await client.create(findResource('', 'v1', 'services')!, 'default', web() as never);
  await client.create(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, 'default', webSlice('10.244.1.5') as never);
  const factory = new InformerFactory(client);
  const common = { client, mode: 'nftables' as const, minSyncPeriodMs: 0, metricsAddress: '', informerFactory: factory };
  const a = await startProxy({ ...common, nodeName: 'node-a', applier: new FakeRuleApplier('nftables') });
  const b = await startProxy({ ...common, nodeName: 'node-b', applier: new FakeRuleApplier('nftables') });
  try {
    assert.equal(a.metricsUrl, undefined, "metricsAddress '' serves nothing");
    // Services and slices are watched once for both; each node has its own Node informer.
    assert.equal(client.openWatches(), 4);
    await a.close();
    assert.equal(client.openWatches(), 4, 'the informers belong to the factory, not to the proxy');
    await client.create(findResource('discovery.k8s.io', 'v1', 'endpointslices')!, 'default',
      slice('web', 'web-2', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.2.9', { ready: true })]) as never);
    for (let i = 0; i < 100 && !b.lastRules().includes('10.244.2.9'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(b.lastRules(), /10\.244\.2\.9/);
    assert.doesNotMatch(a.lastRules(), /10\.244\.2\.9/, 'the closed proxy no longer follows changes');
  } finally {
    await b.close();
    factory.close();
  }
  assert.equal(client.openWatches(), 0);
});

// The appliers without a kernel: the exact commands they run (recorded), iptables-save
// filtering for `svcnet rules`, and the stateful fake kernel that the renderers'
// transactions are replayed onto (atomic, refusing what the kernel refuses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRuleApplier, IptablesApplier, NftApplier, filterKubeRules, iptablesBinaries, listRules, splitEndpointChains, withInserts } from '../src/proxy/runtime/apply.js';
import { applyIptablesText, dumpIptables, parseRuleArgs } from '../src/proxy/iptables/model.js';
import { changedScenarioSnapshot } from '../src/proxy/testdata/scenario.js';
import { NftablesDataplane } from '../src/proxy/runtime/dataplane.js';
import { RecordingRunner } from '../src/proxy/runtime/exec.js';
import { isProxyError } from '../src/proxy/runtime/errors.js';
import { renderIptables } from '../src/proxy/iptables/render.js';
import { renderNftables } from '../src/proxy/nftables/render.js';
import { buildSnapshot } from '../src/proxy/snapshot.js';
import { ProxyMetrics } from '../src/proxy/metrics.js';
import { FakeClock } from '../src/client/clock.js';
import { scenarioSnapshot, services, slices, nodeName, nodeIPs } from '../src/proxy/testdata/scenario.js';

test('NftApplier: one `nft -f -` with the script on stdin, inside the namespace', async () => {
  const runner = new RecordingRunner();
  await new NftApplier({ netns: 'svcnet-node-a', runner }).apply({ kind: 'nftables', script: 'add table ip kube-proxy\n' });
  assert.deepEqual(runner.calls, [{ argv: ['nsenter', '--net=/run/netns/svcnet-node-a', 'nft', '-f', '-'], stdin: 'add table ip kube-proxy\n' }]);
});

test('NftApplier: a rejected script is a COMMAND_FAILED error carrying nft\'s message', async () => {
  const runner = new RecordingRunner(() => ({ code: 1, stdout: '', stderr: '/dev/stdin:3:1-20: Error: No such file or directory\n' }));
  await assert.rejects(new NftApplier({ runner }).apply({ kind: 'nftables', script: 'x' }),
    (e: unknown) => isProxyError(e, 'COMMAND_FAILED') && /No such file or directory/.test((e as Error).message));
});

test('NftApplier.listRules: both families, a missing table is no error', async () => {
  const runner = new RecordingRunner((argv) => argv.includes('ip6')
    ? { code: 1, stdout: '', stderr: 'Error: No such file or directory\nlist table ip6 kube-proxy\n' }
    : { code: 0, stdout: 'table ip kube-proxy {\n}\n', stderr: '' });
  assert.equal(await listRules({ mode: 'nftables', netns: 'n', runner }), 'table ip kube-proxy {\n}\n');
  assert.deepEqual(runner.calls.map((c) => c.argv.join(' ')), [
    'nsenter --net=/run/netns/n nft list table ip kube-proxy',
    'nsenter --net=/run/netns/n nft list table ip6 kube-proxy',
  ]);
});

test('iptables binaries per variant and family', () => {
  assert.deepEqual(iptablesBinaries('IPv4'), { main: 'iptables', restore: 'iptables-restore', save: 'iptables-save' });
  assert.deepEqual(iptablesBinaries('IPv6', 'legacy'), { main: 'ip6tables-legacy', restore: 'ip6tables-legacy-restore', save: 'ip6tables-legacy-save' });
  assert.deepEqual(iptablesBinaries('IPv4', 'nft').restore, 'iptables-nft-restore');
});

test('IptablesApplier: restore --noflush with -w, then only the missing jumps are inserted, in order, by one restore', async () => {
  const rs = renderIptables(scenarioSnapshot(), { family: 'IPv4' });
  const present = rs.jumps.filter((j) => j.table === 'nat' && j.chain === 'PREROUTING').map((j) => j.line);
  const runner = new RecordingRunner((argv) => {
    if (argv.includes('-S')) {
      return { code: 0, stdout: argv.includes('PREROUTING') ? `-P PREROUTING ACCEPT\n${present.join('\n')}\n` : `-P ${argv.at(-1)} ACCEPT\n`, stderr: '' };
    }
    if (argv.includes('-C')) return { code: 1, stdout: '', stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).\n' };
    return { code: 0, stdout: '', stderr: '' };
  });
  await new IptablesApplier({ runner, variant: 'legacy' }).apply({ kind: 'iptables', family: 'IPv4', restore: rs.restore, jumps: rs.jumps });
  // Each built-in chain is listed once, never the whole table.
  assert.ok(!runner.calls.some((c) => c.argv[0] === 'iptables-legacy-save'));
  const listed = runner.calls.filter((c) => c.argv.includes('-S')).map((c) => c.argv.slice(-3).join(' '));
  assert.deepEqual(listed.sort(), ['filter -S FORWARD', 'filter -S INPUT', 'filter -S OUTPUT', 'nat -S OUTPUT', 'nat -S POSTROUTING', 'nat -S PREROUTING']);
  // One restore: the sync's rules, and the missing jumps inserted at the end of their table.
  const restores = runner.calls.filter((c) => c.argv[0] === 'iptables-legacy-restore');
  assert.equal(restores.length, 1);
  assert.deepEqual(restores[0]!.argv, ['iptables-legacy-restore', '-w', '5', '--noflush']);
  const expected = rs.jumps.filter((j) => !present.includes(j.line));
  assert.equal(restores[0]!.stdin, withInserts(rs.restore, expected));
  // Reverse order at position 1 (per table) leaves them in the listed order.
  const inserts = restores[0]!.stdin!.split('\n').filter((l) => l.startsWith('-I '));
  const want = (['filter', 'nat'] as const).flatMap((t) => expected.filter((j) => j.table === t).reverse()
    .map((j) => `-I ${j.chain} 1 ${j.line.slice(`-A ${j.chain} `.length)}`));
  assert.deepEqual(inserts, want);
  // Applied to the model, the jumps end up first in each chain, in the listed order.
  const tables = applyIptablesText(new Map(), restores[0]!.stdin!);
  for (const j of expected) assert.ok(tables.get(j.table)!.get(j.chain)!.rules.some((r) => r.text === parseRuleArgs([...j.args]).text), j.line);
  assert.ok(!runner.calls.some((c) => c.argv.includes('-C') && c.argv.includes('PREROUTING')), 'jumps found by -S are not re-checked');
});

test('filterKubeRules keeps KUBE- chains and the jumps into them', () => {
  const save = `# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
COMMIT
*filter
:INPUT ACCEPT [0:0]
COMMIT
`;
  assert.equal(filterKubeRules(save), `*nat
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
COMMIT
`);
});

test('fake kernel: a full nft script, then an incremental one, give the same table as a fresh full render', async () => {
  const fake = new FakeRuleApplier('nftables');
  const before = scenarioSnapshot();
  const after = buildSnapshot({ services: services.filter((s) => s.metadata!.name !== 'sticky'), slices, nodeName, nodeIPs });
  await fake.apply({ kind: 'nftables', script: renderNftables(before, { family: 'IPv4' }).script });
  const inc = renderNftables(after, { family: 'IPv4', previous: before });
  await fake.apply({ kind: 'nftables', script: inc.script });
  const fresh = new FakeRuleApplier('nftables');
  await fresh.apply({ kind: 'nftables', script: renderNftables(after, { family: 'IPv4' }).script });
  // The incremental path leaves flushed stale chains behind until they are deleted.
  const fromInc = [...fake.nftTable('IPv4')!.chains.keys()].filter((c) => !inc.staleChains.includes(c)).sort();
  assert.deepEqual(fromInc, [...fresh.nftTable('IPv4')!.chains.keys()].sort());
  assert.ok(inc.staleChains.length > 0);
});

test('fake kernel: a refused transaction changes nothing (atomic), and failures can be injected', async () => {
  const fake = new FakeRuleApplier('nftables');
  await fake.apply({ kind: 'nftables', script: renderNftables(scenarioSnapshot(), { family: 'IPv4' }).script });
  const dump = await fake.listRules();
  await assert.rejects(fake.apply({ kind: 'nftables', script: 'add table ip kube-proxy\nflush chain ip kube-proxy services\nadd rule ip kube-proxy nope counter\n' }),
    (e: unknown) => isProxyError(e, 'APPLY_REJECTED'));
  assert.equal(await fake.listRules(), dump, 'the flush before the bad line was not kept');
  fake.failNext(1);
  await assert.rejects(fake.apply({ kind: 'nftables', script: 'add table ip kube-proxy\n' }));
  await fake.apply({ kind: 'nftables', script: 'add table ip kube-proxy\n' });
  assert.equal(fake.applied.length, 2);
  assert.equal(fake.attempted.length, 4);
});

test('nftables data plane: chains flushed by a partial sync are deleted ≥ 1 s later, by a later transaction', async () => {
  const clock = new FakeClock(0);
  const fake = new FakeRuleApplier('nftables');
  const metrics = new ProxyMetrics('nftables');
  const dp = new NftablesDataplane({ applier: fake, clock, metrics, families: ['IPv4'] });
  const before = scenarioSnapshot();
  // sticky (session affinity) has a service chain; most service ports have none (map endpoints).
  const after = buildSnapshot({ services: services.filter((s) => s.metadata!.name !== 'sticky'), slices, nodeName, nodeIPs });
  assert.deepEqual(await dp.sync(before, { full: true }), { partial: false });
  const rulesBefore = metrics.nftablesRulesTotal.value({ family: 'IPv4' });
  const r = await dp.sync(after, { full: false });
  assert.equal(r.partial, true);
  assert.equal(r.retryAfterMs, 1000);
  const stickyChains = () => [...fake.nftTable('IPv4')!.chains.keys()].filter((c) => c.includes('default/sticky/'));
  assert.ok(stickyChains().length > 0, 'flushed, not yet deleted');
  clock.advance(1000);
  assert.deepEqual(await dp.sync(after, { full: false }), { partial: true });
  assert.deepEqual(stickyChains(), []);
  assert.equal(fake.applied.length, 3, 'full, partial, then a partial that also deletes them');
  assert.match((fake.applied[2] as { script: string }).script, /^delete chain ip kube-proxy .*default\/sticky\//m);
  assert.ok(metrics.nftablesRulesTotal.value({ family: 'IPv4' }) < rulesBefore);
  assert.match(dp.lastRules(), /^add table ip kube-proxy/);
  assert.doesNotMatch(dp.lastRules(), /default\/sticky\//);
});

test('splitEndpointChains: endpoint chains first in batches, the rest last; the same tables as one restore', () => {
  const full = renderIptables(scenarioSnapshot(), { family: 'IPv4' });
  const partial = renderIptables(changedScenarioSnapshot(), { family: 'IPv4', previous: scenarioSnapshot() });
  assert.deepEqual(splitEndpointChains(full.restore, 1000), [full.restore]);
  for (const rs of [full, partial]) {
    const batches = splitEndpointChains(rs.restore, 2);
    const whole = applyIptablesText(applyIptablesText(new Map(), full.restore), rs.restore);
    const split = batches.reduce((t, b) => applyIptablesText(t, b), applyIptablesText(new Map(), full.restore));
    assert.equal(dumpIptables(split), dumpIptables(whole));
    if (rs === full) assert.ok(batches.length > 2);
    // Endpoint chains the restore deletes are never flushed ahead of the last batch.
    for (const c of rs.deletedChains) for (const b of batches.slice(0, -1)) assert.ok(!b.includes(`:${c} `), c);
  }
});

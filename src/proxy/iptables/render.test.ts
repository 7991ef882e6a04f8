import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSnapshot, type IPFamily } from '../snapshot.js';
import { formatIptablesRuleset, largeClusterEndpointsThreshold, renderIptables, type IptablesRenderOptions, type IptablesRuleset } from './render.js';
import { dumpIptables, parseIptables } from './model.js';
import { traceIptables } from '../trace.js';
import { ipFamilyOf } from '../../api/validation/ip.js';
import { assertGolden } from '../testdata/golden.js';
import { checkFlow, flows } from '../testdata/flows.js';
import { inPrivateNetns, kernelSkipReason } from '../testdata/kernel.js';
import {
  changedScenarioSnapshot, clusterCIDRs, ep, nodeIPs, nodeName, scenarioSnapshot, service, services, slice, slices,
} from '../testdata/scenario.js';

function opts(family: IPFamily, extra: Partial<IptablesRenderOptions> = {}): IptablesRenderOptions {
  return { family, detectLocal: { mode: 'ClusterCIDR', cidrs: clusterCIDRs }, ...extra };
}

const snapshot = scenarioSnapshot();
const rendered: Record<IPFamily, IptablesRuleset> = {
  IPv4: renderIptables(snapshot, opts('IPv4')),
  IPv6: renderIptables(snapshot, opts('IPv6')),
};

/** Shell-quotes one argument. */
function sq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The applier's way of ensuring the built-in chain jumps: check, else insert at the top (reverse order). */
function jumpScript(rs: IptablesRuleset): string {
  const bin = rs.family === 'IPv6' ? 'ip6tables' : 'iptables';
  return [...rs.jumps].reverse()
    .map((j) => `${bin} -t ${j.table} -C ${j.chain} ${j.args.map(sq).join(' ')} 2>/dev/null || ${bin} -t ${j.table} -I ${j.chain} 1 ${j.args.map(sq).join(' ')}`)
    .join('\n');
}

describe('iptables renderer', () => {
  it('renders the scenario (golden, IPv4)', () => {
    assertGolden('iptables-ipv4', formatIptablesRuleset(rendered.IPv4));
  });

  it('renders the scenario (golden, IPv6)', () => {
    assertGolden('iptables-ipv6', formatIptablesRuleset(rendered.IPv6));
  });

  it('does not depend on the order of its input', () => {
    const shuffled = buildSnapshot({ services: [...services].reverse(), slices: [...slices].reverse(), nodeName, nodeIPs });
    assert.equal(renderIptables(shuffled, opts('IPv4')).restore, rendered.IPv4.restore);
  });

  it('keeps chain names within the iptables limit', () => {
    for (const rs of Object.values(rendered)) {
      for (const c of [...rs.chains.filter, ...rs.chains.nat]) assert.ok(c.length <= 28, c);
    }
  });

  it('writes probabilities as kube-proxy does (1/(n-i), %0.10f)', () => {
    const lines = rendered.IPv4.restore.split('\n').filter((l) => l.includes('default/web:http -> '));
    assert.match(lines[0], /--probability 0\.3333333333 /);
    assert.match(lines[1], /--probability 0\.5000000000 /);
    assert.doesNotMatch(lines[2], /--probability/);
  });

  describe('packet flows', () => {
    for (const flow of flows) {
      it(flow.name, () => {
        const family = ipFamilyOf(flow.dst) === 'IPv6' ? 'IPv6' : 'IPv4';
        checkFlow('iptables', flow, traceIptables(formatIptablesRuleset(rendered[family]), flow, { localAddresses: nodeIPs }));
      });
    }
  });

  it('masquerades every ClusterIP connection with masqueradeAll', () => {
    const rs = renderIptables(snapshot, opts('IPv4', { masqueradeAll: true }));
    const r = traceIptables(formatIptablesRuleset(rs), { src: '10.244.1.100', dst: '10.96.0.10', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
    assert.equal(r.verdict, 'DNAT');
    assert.ok(r.endpoints.every((e) => e.masquerade));
  });

  it('without local-traffic detection, off-cluster ClusterIP traffic is not masqueraded', () => {
    const rs = renderIptables(snapshot, { family: 'IPv4' });
    const r = traceIptables(formatIptablesRuleset(rs), { src: '198.51.100.77', dst: '10.96.0.10', port: 80, from: 'external' }, { localAddresses: nodeIPs });
    assert.equal(r.masquerade, false);
    assert.doesNotMatch(rs.restore, /pod traffic for/);
  });

  it('limits NodePorts to --nodeport-addresses', () => {
    const rs = renderIptables(snapshot, opts('IPv4', { nodePortAddresses: ['192.168.0.0/24'] }));
    assert.match(rs.restore, /-d 192\.168\.0\.10 -j KUBE-NODEPORTS/);
    assert.doesNotMatch(rs.restore, /--dst-type LOCAL ! -d 127/);
  });

  it('opens localhost NodePorts only when asked, with kubelet\'s guard rule', () => {
    const rs = renderIptables(snapshot, opts('IPv4', { localhostNodePorts: true }));
    assert.match(rs.restore, /-A KUBE-FIREWALL .*-d 127\.0\.0\.0\/8 ! -s 127\.0\.0\.0\/8/);
    assert.ok(rs.jumps.some((j) => j.chain === 'INPUT' && j.args.at(-1) === 'KUBE-FIREWALL'));
    const r = traceIptables(formatIptablesRuleset(rs), { dst: '127.0.0.1', port: 30080, from: 'node' }, { localAddresses: nodeIPs });
    assert.equal(r.verdict, 'DNAT');
  });

  describe('partial sync', () => {
    const next = changedScenarioSnapshot();
    const full = renderIptables(next, opts('IPv4'));
    const partial = renderIptables(next, opts('IPv4', { previous: snapshot }));

    it('writes only the service chains that changed (golden)', () => {
      assert.equal(partial.partial, true);
      assert.ok(partial.restore.length < full.restore.length);
      assertGolden('iptables-ipv4-partial', partial.restore);
    });

    it('converges to the full ruleset when applied on top of the previous one', () => {
      const applied = parseIptables(formatIptablesRuleset(rendered.IPv4) + partial.restore);
      assert.equal(dumpIptables(applied), dumpIptables(parseIptables(formatIptablesRuleset(full))));
    });

    it('deletes the chains of removed endpoints', () => {
      assert.ok(partial.deletedChains.length > 0);
      for (const c of partial.deletedChains) {
        assert.match(c, /^KUBE-(SEP|SVC|SVL|EXT|FW)-/);
        assert.ok(!full.chains.nat.includes(c));
      }
    });

    it('deletes stale chains found in the kernel on a full sync', () => {
      const rs = renderIptables(next, opts('IPv4', { existingNatChains: ['KUBE-SEP-AAAAAAAAAAAAAAAA', 'KUBE-SERVICES', 'OTHER-CHAIN'] }));
      assert.deepEqual(rs.deletedChains, ['KUBE-SEP-AAAAAAAAAAAAAAAA']);
      assert.match(rs.restore, /-X KUBE-SEP-AAAAAAAAAAAAAAAA\n/);
    });
  });

  describe('in a private network namespace', () => {
    const skip = kernelSkipReason();

    for (const family of ['IPv4', 'IPv6'] as const) {
      it(`iptables-restore --test accepts the ${family} rules`, { skip }, () => {
        const bin = family === 'IPv6' ? 'ip6tables-restore' : 'iptables-restore';
        const r = inPrivateNetns({ 'rules': rendered[family].restore }, `${bin} --test --noflush < rules`);
        assert.equal(r.status, 0, r.stderr);
      });
    }

    it('loads, re-applies and partially updates; tracing the kernel\'s iptables-save gives the same answers', { skip }, () => {
      const next = changedScenarioSnapshot();
      const partial = renderIptables(next, opts('IPv4', { previous: snapshot }));
      const r = inPrivateNetns(
        { 'full': rendered.IPv4.restore, 'partial': partial.restore, 'jumps.sh': jumpScript(rendered.IPv4) },
        [
          'iptables-restore --noflush < full',
          'sh jumps.sh',
          // A second sync of the same state must be a no-op (no duplicate jumps, same rules).
          'iptables-restore --noflush < full',
          'sh jumps.sh',
          'iptables-save > first',
          'iptables-restore --noflush < partial',
          'echo "=== FIRST"; cat first; echo "=== SECOND"; iptables-save',
        ].join('\n'),
      );
      assert.equal(r.status, 0, r.stderr);
      const [first, second] = r.stdout.split('=== SECOND\n');
      const saved = parseIptables(first.replace('=== FIRST\n', ''));
      assert.equal(saved.get('nat')!.get('PREROUTING')!.rules.length, 1, 'jumps are not duplicated');
      for (const flow of flows.filter((f) => ipFamilyOf(f.dst) === 'IPv4')) {
        checkFlow('iptables', flow, traceIptables(saved, flow, { localAddresses: nodeIPs }));
      }
      const afterPartial = parseIptables(second);
      const expected = parseIptables(formatIptablesRuleset(renderIptables(next, opts('IPv4'))));
      const kubeChains = (t: ReturnType<typeof parseIptables>) =>
        [...t.get('nat')!.keys()].filter((c) => c.startsWith('KUBE-')).sort();
      assert.deepEqual(kubeChains(afterPartial), kubeChains(expected));
      for (const c of kubeChains(expected)) {
        assert.equal(afterPartial.get('nat')!.get(c)!.rules.length, expected.get('nat')!.get(c)!.rules.length, c);
      }
    });
  });

  it('renders a service with a single unnamed port and one endpoint', () => {
    const snap = buildSnapshot({
      services: [service('solo', { clusterIPs: ['10.96.1.1'], ports: [{ port: 80 }] })],
      slices: [slice('solo', 'solo-1', [{ port: 80, protocol: 'TCP' }], [ep('10.244.9.9')])],
      nodeName, nodeIPs,
    });
    const rs = renderIptables(snap, { family: 'IPv4' });
    assert.match(rs.restore, /-A KUBE-SERVICES -m comment --comment "default\/solo cluster IP" -m tcp -p tcp -d 10\.96\.1\.1 --dport 80 -j KUBE-SVC-/);
    assert.match(rs.restore, /-j DNAT --to-destination 10\.244\.9\.9:80\n/);
  });

  it('above largeClusterEndpointsThreshold endpoints, per-endpoint rules carry no comment (kube-proxy largeClusterMode) and service chains go (-g) to endpoint chains', () => {
    const n = Math.ceil(largeClusterEndpointsThreshold / 10) + 1;
    const snap = buildSnapshot({
      services: Array.from({ length: n }, (_, i) => service(`s${i}`, { clusterIPs: [`10.96.7.${i + 1}`], ports: [{ port: 80 }] })),
      slices: Array.from({ length: n }, (_, i) => slice(`s${i}`, `s${i}-1`, [{ port: 8080, protocol: 'TCP' }],
        Array.from({ length: 10 }, (_, j) => ep(`10.244.${10 + i}.${j + 1}`)))),
      nodeName, nodeIPs,
    });
    const rs = renderIptables(snap, opts('IPv4'));
    const lines = rs.restore.split('\n');
    assert.ok(lines.some((l) => l.startsWith('-A KUBE-SEP-')));
    assert.ok(lines.filter((l) => l.startsWith('-A KUBE-SEP-') || / -[jg] KUBE-SEP-/.test(l)).every((l) => !l.includes('--comment')));
    assert.ok(lines.some((l) => l.startsWith('-A KUBE-SERVICES') && l.includes('--comment')), 'the top-level rules keep theirs');
    assert.equal(lines.filter((l) => / -j KUBE-SEP-/.test(l)).length, 0);
    assert.equal(lines.filter((l) => /^-A KUBE-SVC-\S+ .*-g KUBE-SEP-/.test(l)).length, n * 10);
    for (const from of ['pod', 'node'] as const) {
      const r = traceIptables(formatIptablesRuleset(rs), { src: from === 'pod' ? '10.244.1.100' : undefined, dst: '10.96.7.1', port: 80, from }, { localAddresses: nodeIPs });
      assert.equal(r.endpoints.length, 10);
      for (const e of r.endpoints) assert.ok(Math.abs(e.probability - 0.1) < 1e-6 && e.masquerade === (from === 'node'));
      // Hairpin through a goto: the endpoint chain still marks for masquerade.
      const self = traceIptables(formatIptablesRuleset(rs), { src: '10.244.10.1', dst: '10.96.7.1', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
      assert.deepEqual(self.endpoints.filter((e) => e.masquerade).map((e) => e.ip), ['10.244.10.1']);
    }
  });
});

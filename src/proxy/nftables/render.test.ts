import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSnapshot, type IPFamily } from '../snapshot.js';
import {
  renderNftables, renderNftablesChainDeletion, renderNftablesCleanup, type NftablesRenderOptions, type NftablesRuleset,
} from './render.js';
import { applyNftScript, dumpNftables, parseNftables } from './model.js';
import { traceNftables } from '../trace.js';
import { ipFamilyOf } from '../../api/validation/ip.js';
import { assertGolden } from '../testdata/golden.js';
import { checkFlow, flows } from '../testdata/flows.js';
import { inPrivateNetns, kernelSkipReason } from '../testdata/kernel.js';
import {
  changedScenarioSnapshot, clusterCIDRs, ep, nodeIPs, nodeName, scenarioSnapshot, service, serviceCIDRs, services, slice, slices,
} from '../testdata/scenario.js';
import { nftNameLengthMax } from '../names.js';
import { nftMapEndpointsMax } from './render.js';

function opts(family: IPFamily, extra: Partial<NftablesRenderOptions> = {}): NftablesRenderOptions {
  return { family, detectLocal: { mode: 'ClusterCIDR', cidrs: clusterCIDRs }, serviceCIDRs, ...extra };
}

const snapshot = scenarioSnapshot();
const rendered: Record<IPFamily, NftablesRuleset> = {
  IPv4: renderNftables(snapshot, opts('IPv4')),
  IPv6: renderNftables(snapshot, opts('IPv6')),
};

describe('nftables renderer', () => {
  it('renders the scenario (golden, IPv4)', () => {
    assertGolden('nftables-ipv4', rendered.IPv4.script);
  });

  it('renders the scenario (golden, IPv6)', () => {
    assertGolden('nftables-ipv6', rendered.IPv6.script);
  });

  it('is one transaction that replaces the whole table', () => {
    const lines = rendered.IPv4.script.split('\n');
    assert.match(lines[0], /^add table ip kube-proxy /);
    assert.equal(lines[1], 'delete table ip kube-proxy');
    assert.match(lines[2], /^add table ip kube-proxy /);
    assert.ok(lines.slice(3).every((l) => l === '' || / ip kube-proxy /.test(l)), 'only our table is touched');
    assert.ok(rendered.IPv6.script.split('\n').every((l) => l === '' || / ip6 kube-proxy( |$)/.test(l)));
  });

  it('does not depend on the order of its input', () => {
    const shuffled = buildSnapshot({ services: [...services].reverse(), slices: [...slices].reverse(), nodeName, nodeIPs });
    assert.equal(renderNftables(shuffled, opts('IPv4')).script, rendered.IPv4.script);
  });

  it('keeps names within nft limits', () => {
    for (const rs of Object.values(rendered)) {
      for (const c of rs.chains) {
        assert.ok(c.length <= nftNameLengthMax, c);
        assert.match(c, /^[A-Za-z][A-Za-z0-9_./-]*$/, c);
      }
    }
  });

  describe('packet flows', () => {
    for (const flow of flows) {
      it(flow.name, () => {
        const family = ipFamilyOf(flow.dst) === 'IPv6' ? 'IPv6' : 'IPv4';
        checkFlow('nftables', flow, traceNftables(rendered[family].script, flow, { localAddresses: nodeIPs }));
      });
    }
  });

  it('limits NodePorts to --nodeport-addresses with the nodeport-ips set', () => {
    const rs = renderNftables(snapshot, opts('IPv4', { nodePortAddresses: ['192.168.0.0/24'] }));
    assert.match(rs.script, /add element ip kube-proxy nodeport-ips \{ 192\.168\.0\.10 \}/);
    assert.match(rs.script, /services ip daddr @nodeport-ips meta l4proto \. th dport vmap @service-nodeports/);
    const r = traceNftables(rs.script, { src: '198.51.100.77', dst: '192.168.0.10', port: 30080, from: 'external' }, { localAddresses: nodeIPs });
    assert.deepEqual(r.endpoints.map((e) => `${e.ip}:${e.port}`), ['10.244.2.9:8080']);
  });

  it('keeps up to nftMapEndpointsMax endpoints in the endpoint maps, beyond that one rule each in a service chain', () => {
    for (const n of [1, 3, nftMapEndpointsMax, nftMapEndpointsMax + 1, 20]) {
      const eps = Array.from({ length: n }, (_, i) => ep(`10.244.3.${i + 1}`));
      const snap = buildSnapshot({
        services: [service('many', { clusterIPs: ['10.96.5.5'], ports: [{ name: 'http', port: 80 }] })],
        slices: [slice('many', 'many-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], eps)],
        nodeName, nodeIPs,
      });
      const rs = renderNftables(snap, opts('IPv4'));
      const lines = rs.script.split('\n');
      const dispatch = lines.filter((l) => / service-\S+many\S* .*dnat to /.test(l));
      const elements = lines.filter((l) => l.startsWith('add element ip kube-proxy service-endpoints { 10.96.5.5 . tcp . 80 . '));
      if (n <= nftMapEndpointsMax) {
        assert.equal(dispatch.length, 0, dispatch.join('\n'));
        assert.equal(elements.length, n);
        assert.ok(!rs.chains.some((c) => c.includes('many')), rs.chains.join(' '));
        const offset = (n * (n - 1)) / 2;
        assert.ok(lines.includes(`add rule ip kube-proxy cluster-ip-dnat dnat ip to ip daddr . meta l4proto . th dport . numgen random mod ${n} offset ${offset} map @service-endpoints`));
        assert.ok(lines.includes(`add element ip kube-proxy service-endpoints { 10.96.5.5 . tcp . 80 . ${offset + n - 1} : ${eps.map((e) => e.addresses[0]).sort().at(-1)} . 8080 }`));
      } else {
        assert.equal(dispatch.length, n, dispatch.join('\n'));
        assert.equal(elements.length, 0);
      }
      assert.ok(!rs.chains.some((c) => c.startsWith('endpoint-')));
      const r = traceNftables(rs.script, { src: '10.244.1.100', dst: '10.96.5.5', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
      assert.equal(r.branches.length, n);
      for (const b of r.branches) assert.ok(Math.abs(b.probability - 1 / n) < 1e-9, `${b.probability}`);
      assert.deepEqual(new Set(r.endpoints.map((e) => e.ip)), new Set(eps.map((e) => e.addresses[0])));
      assert.equal(r.masquerade, false);
      // Off-cluster clients are masqueraded, whichever way the endpoint is picked.
      const node = traceNftables(rs.script, { dst: '10.96.5.5', port: 80, from: 'node' }, { localAddresses: nodeIPs });
      assert.ok(node.branches.length === n && node.branches.every((b) => b.verdict === 'DNAT' && b.masquerade));
      // Hairpin: the endpoint's own connection through the service is masqueraded.
      const self = traceNftables(rs.script, { src: '10.244.3.1', dst: '10.96.5.5', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
      assert.deepEqual(self.branches.filter((b) => b.masquerade).map((b) => b.endpoint?.ip), ['10.244.3.1']);
    }
  });

  it('sends external IPs and NodePorts of map-endpoint services through the shared chains, masqueraded', () => {
    const snap = buildSnapshot({
      services: [
        service('ext', { clusterIPs: ['10.96.6.6'], type: 'NodePort', externalIPs: ['203.0.113.66'], ports: [{ name: 'http', port: 80, nodePort: 30666 }] }),
        service('udp', { clusterIPs: ['10.96.6.7'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
      ],
      slices: [
        slice('ext', 'ext-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [ep('10.244.6.1'), ep('10.244.6.2')]),
        slice('udp', 'udp-1', [{ name: 'dns', port: 5353, protocol: 'UDP' }], [ep('10.244.6.3')]),
      ],
      nodeName, nodeIPs,
    });
    const rs = renderNftables(snap, opts('IPv4'));
    assert.deepEqual(rs.chains.filter((c) => c.includes('/')), []);
    const local = { localAddresses: nodeIPs };
    const ext = traceNftables(rs.script, { src: '198.51.100.1', dst: '203.0.113.66', port: 80, from: 'external' }, local);
    assert.deepEqual(ext.endpoints.map((e) => `${e.ip}:${e.port}@${e.probability}/${e.masquerade}`), ['10.244.6.1:8080@0.5/true', '10.244.6.2:8080@0.5/true']);
    assert.ok(ext.chainPath.includes('external-ip-dnat'));
    const np = traceNftables(rs.script, { src: '198.51.100.1', dst: nodeIPs[0]!, port: 30666, from: 'external' }, local);
    assert.deepEqual(np.endpoints.map((e) => `${e.ip}:${e.port}@${e.probability}/${e.masquerade}`), ['10.244.6.1:8080@0.5/true', '10.244.6.2:8080@0.5/true']);
    assert.ok(np.chainPath.includes('nodeport-dnat'));
    // The protocol is part of the key: TCP to the UDP service's port finds nothing.
    const udp = traceNftables(rs.script, { src: '10.244.1.100', dst: '10.96.6.7', port: 53, proto: 'UDP', from: 'pod' }, local);
    assert.deepEqual(udp.endpoints.map((e) => `${e.ip}:${e.port}`), ['10.244.6.3:5353']);
    const tcp = traceNftables(rs.script, { src: '10.244.1.100', dst: '10.96.6.7', port: 53, proto: 'TCP', from: 'pod' }, local);
    assert.equal(tcp.verdict, 'REJECT');
  });

  it('changes only elements without verdicts when an endpoint of a map-endpoint service comes, goes or changes readiness', () => {
    // What keeps the kernel from re-validating the whole table at commit (see render.ts).
    const mk = (eps: ReturnType<typeof ep>[]) => buildSnapshot({
      services: [
        service('a', { clusterIPs: ['10.96.7.1'], type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30777 }] }),
        service('b', { clusterIPs: ['10.96.7.2'], type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30778 }] }),
        service('c', { clusterIPs: ['10.96.7.3'], type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30779 }] }),
      ],
      slices: [
        slice('a', 'a-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], eps),
        slice('b', 'b-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [1, 2, 3, 4].map((i) => ep(`10.244.8.${i}`))),
        slice('c', 'c-1', [{ name: 'http', port: 8080, protocol: 'TCP' }], [1, 2, 3].map((i) => ep(`10.244.9.${i}`))),
      ],
      nodeName, nodeIPs,
    });
    const steps = [
      [1, 2, 3].map((i) => ep(`10.244.7.${i}`)),
      [1, 2, 3, 4].map((i) => ep(`10.244.7.${i}`)), // added (count 4: in use by b)
      [1, 2, 3, 4].map((i) => ep(`10.244.7.${i}`, { ready: i !== 2 })), // one not ready
      [1, 3, 4, 5].map((i) => ep(`10.244.7.${i}`)), // replaced
    ];
    let prev = mk(steps[0]!);
    let r = renderNftables(prev, opts('IPv4'));
    const model = parseNftables(r.script);
    for (const eps of steps.slice(1)) {
      const next = mk(eps);
      r = renderNftables(next, opts('IPv4', { previous: prev, state: r.state }));
      const lines = r.script.trim().split('\n').slice(1);
      assert.ok(lines.length > 0);
      for (const l of lines) assert.match(l, /^(add|delete) element ip kube-proxy (service-endpoints|nodeport-endpoints|hairpin-endpoints) \{ [^:]*( : [0-9.]+ \. \d+)? \}$/, l);
      applyNftScript(model, r.script);
      assert.equal(dumpNftables(model), dumpNftables(parseNftables(renderNftables(next, opts('IPv4')).script)));
      const t = traceNftables(model, { src: '10.244.1.100', dst: '10.96.7.1', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
      const want = eps.filter((e) => e.conditions?.ready !== false).map((e) => `${e.addresses[0]}:8080`);
      assert.deepEqual(t.endpoints.map((e) => `${e.ip}:${e.port}`).sort(), want.sort());
      for (const e of t.endpoints) assert.ok(Math.abs(e.probability - 1 / want.length) < 1e-9);
      prev = next;
    }
  });

  it('writes a large table\'s elements 1,000 per command', () => {
    const n = 600;
    const snap = buildSnapshot({
      services: Array.from({ length: n }, (_, i) => service(`s${i}`, { clusterIPs: [`10.96.${10 + (i >> 8)}.${i & 255}`], ports: [{ port: 80 }] })),
      slices: Array.from({ length: n }, (_, i) => slice(`s${i}`, `s${i}-1`, [{ port: 8080, protocol: 'TCP' }],
        Array.from({ length: 10 }, (_, j) => ep(`10.244.${10 + (i >> 4)}.${(i & 15) * 16 + j}`)))),
      nodeName, nodeIPs,
    });
    const rs = renderNftables(snap, opts('IPv4'));
    const lines = rs.script.split('\n').filter((l) => l.startsWith('add element ip kube-proxy service-endpoints '));
    assert.equal(lines.length, Math.ceil((n * 10) / 1000));
    assert.equal(lines[0]!.split(', ').length, 1000);
    const model = parseNftables(rs.script);
    assert.equal(model.get('ip kube-proxy')!.sets.get('service-endpoints')!.elements.size, n * 10);
    const r = traceNftables(model, { src: '10.244.1.100', dst: '10.96.10.7', port: 80, from: 'pod' }, { localAddresses: nodeIPs });
    assert.equal(r.endpoints.length, 10);
  });

  it('renders a full sync when an option changes the shared DNAT chains', () => {
    const a = renderNftables(snapshot, opts('IPv4'));
    const b = renderNftables(snapshot, opts('IPv4', { previous: snapshot, state: a.state, masqueradeAll: true }));
    assert.equal(b.partial, false);
    assert.equal(b.script, renderNftables(snapshot, opts('IPv4', { masqueradeAll: true })).script);
    assert.match(b.script, /^add rule ip kube-proxy cluster-ip-dnat jump mark-for-masquerade$/m);
  });

  describe('incremental sync', () => {
    const next = changedScenarioSnapshot();
    const full = renderNftables(next, opts('IPv4'));
    const incr = renderNftables(next, opts('IPv4', { previous: snapshot }));

    it('changes only what changed (golden)', () => {
      assert.equal(incr.partial, true);
      assert.doesNotMatch(incr.script, /delete table/);
      assertGolden('nftables-ipv4-incremental', incr.script);
    });

    it('converges to the full ruleset when applied on top of the previous one', () => {
      const model = parseNftables(rendered.IPv4.script);
      applyNftScript(model, incr.script);
      // Stale chains are flushed now and deleted by a later transaction.
      const deletion = renderNftablesChainDeletion('IPv4', incr.staleChains, incr);
      assert.equal(deletion.length > 0, incr.staleChains.length > 0);
      applyNftScript(model, deletion);
      assert.equal(dumpNftables(model), dumpNftables(parseNftables(full.script)));
    });

    it('is empty of changes when nothing changed', () => {
      const same = renderNftables(snapshot, opts('IPv4', { previous: snapshot }));
      assert.equal(same.script.trim().split('\n').length, 1, same.script);
      assert.deepEqual(same.staleChains, []);
    });

    it('with the state of the previous render, writes the same as without it', () => {
      // Forth and back, then forth again, carrying the state each time.
      const a = renderNftables(snapshot, opts('IPv4'));
      const b = renderNftables(next, opts('IPv4', { previous: snapshot, state: a.state }));
      assert.equal(b.script, incr.script);
      const c = renderNftables(snapshot, opts('IPv4', { previous: next, state: b.state }));
      assert.equal(c.script, renderNftables(snapshot, opts('IPv4', { previous: next })).script);
      const d = renderNftables(next, opts('IPv4', { previous: snapshot, state: c.state }));
      assert.equal(d.script, incr.script);
      assert.deepEqual(d.chains, full.chains);
      const model = parseNftables(rendered.IPv4.script);
      for (const x of [b, c, d]) applyNftScript(model, x.script);
      applyNftScript(model, renderNftablesChainDeletion('IPv4', [...b.staleChains, ...c.staleChains, ...d.staleChains], d));
      assert.equal(dumpNftables(model), dumpNftables(parseNftables(full.script)));
    });

    it('refills a chain that was stale but is used again instead of deleting it', () => {
      const back = renderNftables(snapshot, opts('IPv4', { previous: next, pendingStaleChains: incr.staleChains }));
      const deletion = renderNftablesChainDeletion('IPv4', [...incr.staleChains, ...back.staleChains], back);
      for (const c of rendered.IPv4.chains) assert.ok(!deletion.includes(` ${c}\n`), c);
    });
  });

  describe('in a private network namespace', () => {
    const skip = kernelSkipReason();

    it('nft -c accepts both families in one transaction', { skip }, () => {
      const r = inPrivateNetns({ 'rules.nft': rendered.IPv4.script + rendered.IPv6.script }, 'nft -c -f rules.nft');
      assert.equal(r.status, 0, r.stderr);
    });

    it('applies full, again full, incremental, stale-chain deletion and cleanup', { skip }, () => {
      const next = changedScenarioSnapshot();
      const incr = renderNftables(next, opts('IPv4', { previous: snapshot }));
      const r = inPrivateNetns(
        {
          'full.nft': rendered.IPv4.script,
          'incr.nft': incr.script,
          'stale.nft': renderNftablesChainDeletion('IPv4', incr.staleChains, incr),
          'cleanup.nft': renderNftablesCleanup('IPv4') + renderNftablesCleanup('IPv6'),
        },
        [
          'nft -f full.nft',
          'nft -f full.nft',
          'nft -f incr.nft',
          'nft -f stale.nft',
          'nft list table ip kube-proxy | grep -c "^[[:space:]]*chain "',
          'nft -f cleanup.nft',
          'if nft list tables | grep -q kube-proxy; then echo leftover >&2; exit 1; fi',
        ].join('\n'),
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(Number(r.stdout.trim()), renderNftables(next, opts('IPv4')).chains.length);
    });
  });
});

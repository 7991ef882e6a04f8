// The page's trace JSON from plain API objects, through the node proxy's real
// tracer (src/proxy/explain.ts), against golden files a reviewer can read
// (src/ui/testdata/*.golden.json; UPDATE_GOLDEN=1 rewrites them). The matched
// rules (`branches`) are the proxy's golden concern: checked for consistency
// here, left out of the files.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { explainService } from '../proxy/explain.js';
import { parseTraceQuery, traceView, UiError, type TraceView } from './trace-view.js';
import { cluster } from './testdata/cluster.js';

/** src/ui/testdata of the source tree, found from the compiled test's location. */
function testdata(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'svcnet') return join(dir, 'src', 'ui', 'testdata');
    const up = dirname(dir);
    if (up === dir) throw new Error('the svcnet package root was not found');
    dir = up;
  }
}

function assertGolden(name: string, v: TraceView): void {
  for (const p of v.paths) {
    // Every branch is accounted for, and the endpoints' share is the DNAT branches' share.
    assert.ok(Math.abs(p.branches.reduce((a, b) => a + b.probability, 0) - 1) < 1e-6, `${p.target}: branch probabilities sum to 1`);
    const dnat = p.branches.filter((b) => b.verdict === 'DNAT').reduce((a, b) => a + b.probability, 0);
    assert.ok(Math.abs(p.endpoints.reduce((a, e) => a + e.probability, 0) - dnat) < 1e-6);
  }
  const text = JSON.stringify({ ...v, paths: v.paths.map(({ branches: _, ...rest }) => rest) }, null, 2) + '\n';
  const file = join(testdata(), `${name}.golden.json`);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, text);
  else assert.equal(text, readFileSync(file, 'utf8'), `${name}.golden.json differs (UPDATE_GOLDEN=1 rewrites it)`);
}

const q = (s: string) => parseTraceQuery(new URLSearchParams(s));

describe('trace view', () => {
  it('a pod to a LoadBalancer Service: DNAT to three pods on two nodes, ClusterIP and NodePort', () => {
    const v = traceView(cluster(), q('service=web&from=pod/default/client'), explainService);
    assert.deepEqual(v.source, { kind: 'pod', namespace: 'default', name: 'client', ip: '10.244.1.9', node: 'node-1' });
    assert.equal(v.node.name, 'node-1');
    const cip = v.paths.find((p) => p.kind === 'ClusterIP')!;
    assert.equal(cip.verdict, 'DNAT');
    assert.deepEqual(cip.endpoints.map((e) => [e.pod?.name, e.node, e.sameNode]), [['web-1', 'node-1', true], ['web-2', 'node-2', false], ['web-3', 'node-2', false]]);
    assert.equal(cip.masquerade, false);
    assertGolden('trace-web-from-pod', v);
  });

  it('the client to a LoadBalancer IP entering by node-2: every address external, masqueraded', () => {
    const v = traceView(cluster(), q('service=web&from=client&via=node-2&mode=iptables'), explainService);
    assert.deepEqual(v.paths.map((p) => p.kind), ['NodePort', 'LoadBalancer']);
    assert.ok(v.paths.every((p) => p.verdict === 'DNAT' && p.masquerade));
    assertGolden('trace-web-from-client', v);
  });

  it('externalTrafficPolicy Local without a local endpoint: DROP on node-1, DNAT on node-2', () => {
    const drop = traceView(cluster(), q('service=api&from=client&via=node-1'), explainService);
    assert.deepEqual(drop.paths.map((p) => p.verdict), ['DROP']);
    assert.match(drop.paths[0]!.summary, /^DROP: externalTrafficPolicy is Local and node-1 has no ready endpoint/);
    const ok = traceView(cluster(), q('service=api&from=client&via=node-2'), explainService);
    assert.deepEqual(ok.paths.map((p) => [p.verdict, p.masquerade]), [['DNAT', false]]);
    assertGolden('trace-api-local', drop);
  });

  it('no endpoints: REJECT, from a node', () => {
    const v = traceView(cluster(), q('service=empty&from=node/node-2'), explainService);
    assert.deepEqual(v.source, { kind: 'node', name: 'node-2', ip: '172.30.0.12', node: 'node-2' });
    assert.deepEqual(v.paths.map((p) => p.verdict), ['REJECT']);
    assertGolden('trace-empty-reject', v);
  });

  it('refuses what it cannot trace, with Kubernetes-style Status reasons', () => {
    const err = (s: string) => {
      try {
        traceView(cluster(), q(s), explainService);
      } catch (e) {
        assert.ok(e instanceof UiError);
        return { code: e.code, reason: e.reason, message: e.message, details: e.details };
      }
      assert.fail('no error');
    };
    assert.deepEqual(err('service=nope'), { code: 404, reason: 'NotFound', message: 'services "nope" not found', details: { name: 'nope', kind: 'services' } });
    assert.deepEqual(err('service=web&from=pod/default/ghost'), { code: 404, reason: 'NotFound', message: 'pods "ghost" not found', details: { name: 'ghost', kind: 'pods' } });
    assert.deepEqual(err('service=web&from=client&via=node-9').code, 404);
    assert.deepEqual(err('service=web&port=8443'), { code: 404, reason: 'NotFound', message: 'service "web" has no port 8443', details: undefined });
    assert.equal(err('service=web&from=elsewhere').code, 400);
    const headless = err('service=headless');
    assert.equal(headless.code, 400);
    assert.match(headless.message, /headless/);
    assert.throws(() => q('from=client'), /"service" is required/);
    assert.throws(() => q('service=web&mode=ipvs'), /nftables or iptables/);
  });

  it('takes the cluster\'s data plane and pod CIDR when the query does not say', () => {
    const d = { mode: 'iptables' as const, clusterCIDR: '10.8.0.0/16' };
    assert.deepEqual(parseTraceQuery(new URLSearchParams('service=web&mode='), d),
      { namespace: 'default', service: 'web', from: 'client', mode: 'iptables', clusterCIDR: '10.8.0.0/16' });
    assert.equal(parseTraceQuery(new URLSearchParams('service=web&mode=nftables'), d).mode, 'nftables');
    assert.equal(traceView(cluster(), parseTraceQuery(new URLSearchParams('service=web&from=node/node-1'), d), explainService).mode, 'iptables');
  });
});

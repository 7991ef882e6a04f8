// The page's trace for a cluster started with `svcnet up --dataplane userspace`: no rules,
// the node's proxy relays; the summaries say so (connection refused, not DROP, for a
// Local policy without a local endpoint).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainService } from '../proxy/explain.js';
import { parseTraceQuery, traceView } from './trace-view.js';
import { cluster } from './testdata/cluster.js';

const q = (s: string) => parseTraceQuery(new URLSearchParams(s), { mode: 'userspace', clusterCIDR: '10.244.0.0/16' });

describe('trace view, userspace data plane', () => {
  it('takes mode=userspace, from the query or the cluster\'s defaults', () => {
    assert.equal(parseTraceQuery(new URLSearchParams('service=web&mode=userspace')).mode, 'userspace');
    assert.equal(q('service=web').mode, 'userspace');
    assert.equal(q('service=web&mode=nftables').mode, 'nftables');
    assert.throws(() => q('service=web&mode=ipvs'), /nftables or iptables, or userspace/);
  });

  it('relays from the node: every endpoint masqueraded, round-robin, the summary says relay', () => {
    const v = traceView(cluster(), q('service=web&from=pod/default/client'), explainService);
    assert.equal(v.mode, 'userspace');
    assert.deepEqual(v.paths.map((p) => [p.kind, p.verdict, p.masquerade]), [['ClusterIP', 'DNAT', true], ['NodePort', 'DNAT', true], ['LoadBalancer', 'DNAT', true]]);
    const cip = v.paths[0]!;
    assert.deepEqual(cip.endpoints.map((e) => [e.pod?.name, Math.round(e.probability * 1000) / 1000, e.masquerade]), [['web-1', 0.333, true], ['web-2', 0.333, true], ['web-3', 0.333, true]]);
    assert.equal(cip.summary, 'Relayed by node-1\'s userspace proxy, round-robin over 3 endpoints on node-1 and other nodes: it opens a new connection from node-1, so the pod sees the node, not the client.');
    assert.deepEqual(cip.branches[0]!.chainPath, ['userspace listener', 'userspace relay']);
  });

  it('no listener: REJECT (refused), also for externalTrafficPolicy Local without a local endpoint', () => {
    const local = traceView(cluster(), q('service=api&from=client&via=node-1'), explainService);
    assert.deepEqual(local.paths.map((p) => p.verdict), ['REJECT']);
    assert.match(local.paths[0]!.summary, /^REJECT: externalTrafficPolicy is Local and node-1 has no ready endpoint of its own, so its userspace proxy does not listen/);
    const empty = traceView(cluster(), q('service=empty&from=node/node-2'), explainService);
    assert.deepEqual(empty.paths.map((p) => p.verdict), ['REJECT']);
    assert.match(empty.paths[0]!.summary, /does not listen on this address \(no ready endpoint\): the connection is refused/);
  });
});

// The page's model without a browser: watch events into the cache (relist on
// 410 Gone), the watch stream's line splitting, and the topology view.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Cache, LineSplitter, portsText, topologyView, type KObject } from './topology.js';
import { cluster, pod } from '../testdata/cluster.js';

describe('cache', () => {
  it('applies ADDED, MODIFIED, DELETED and BOOKMARK, tracking the resourceVersion', () => {
    const c = new Cache<KObject>();
    c.replace([{ metadata: { name: 'a', namespace: 'x', resourceVersion: '5' } }], '7');
    assert.equal(c.apply({ type: 'ADDED', object: { metadata: { name: 'b', namespace: 'x', resourceVersion: '8' } } }), 'changed');
    assert.equal(c.apply({ type: 'MODIFIED', object: { metadata: { name: 'a', namespace: 'x', resourceVersion: '9', labels: { v: '2' } } } }), 'changed');
    assert.equal(c.apply({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } }), 'bookmark');
    assert.equal(c.resourceVersion, '12');
    assert.equal(c.apply({ type: 'DELETED', object: { metadata: { name: 'b', namespace: 'x', resourceVersion: '13' } } }), 'changed');
    assert.deepEqual(c.items().map((o) => [o.metadata?.name, o.metadata?.labels?.['v']]), [['a', '2']]);
    assert.equal(c.resourceVersion, '13');
  });

  it('asks for a relist on 410 Expired and fails on other errors', () => {
    const c = new Cache<KObject>();
    assert.equal(c.apply({ type: 'ERROR', object: { code: 410, message: 'too old resource version: 1 (50)' } }), 'relist');
    assert.throws(() => c.apply({ type: 'ERROR', object: { code: 500, message: 'boom' } }), /boom/);
  });

  it('splits a watch stream into lines across chunk boundaries', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('{"type":"ADD'), []);
    assert.deepEqual(s.push('ED"}\n{"a":1}\n\n{"b"'), ['{"type":"ADDED"}', '{"a":1}']);
    assert.deepEqual(s.push(':2}\n'), ['{"b":2}']);
  });
});

describe('topology view', () => {
  it('nodes with their pods, Services with endpoints, kubectl columns', () => {
    const c = cluster();
    const pending: Pod = { ...pod('pending', '', '', { app: 'web' }), spec: { containers: [] }, status: { phase: 'Pending' } };
    const v = topologyView({ ...c, pods: [...c.pods, pending] });
    assert.deepEqual(v.nodes.map((n) => [n.name, n.internalIP, n.ready, n.pods.map((p) => `${p.name} ${p.ip} ${p.ready}`)]), [
      ['node-1', '172.30.0.11', true, ['client 10.244.1.9 true', 'web-1 10.244.1.5 true']],
      ['node-2', '172.30.0.12', true, ['api-1 10.244.2.7 true', 'web-2 10.244.2.5 true', 'web-3 10.244.2.6 true']],
    ]);
    assert.deepEqual(v.unscheduled.map((p) => [p.name, p.phase]), [['pending', 'Pending']]);
    const web = v.services.find((s) => s.name === 'web')!;
    assert.deepEqual([web.type, web.clusterIP, web.externalIP, portsText(web.ports), web.selector], ['LoadBalancer', '10.96.0.20', '172.30.0.200', '80:31080/TCP', 'app=web']);
    assert.deepEqual(web.endpoints.map((e) => `${e.ip} ${e.pod} ${e.node} ${e.ready}`), ['10.244.1.5 web-1 node-1 true', '10.244.2.5 web-2 node-2 true', '10.244.2.6 web-3 node-2 true']);
    assert.deepEqual(web.endpointPorts, ['http 8080/TCP']);
    const empty = v.services.find((s) => s.name === 'empty')!;
    assert.deepEqual([empty.externalIP, empty.endpoints], ['<none>', []]);
    const lb = topologyView({ ...c, services: [{ ...c.services[0]!, status: {} }] }).services[0]!;
    assert.equal(lb.externalIP, '<pending>');
  });
});

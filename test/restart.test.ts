// Restarting the API server on the same SQLite file keeps every object,
// every resourceVersion and every watch resume point; allocations survive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness } from './lib/harness.js';

test('restart on the same SQLite file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-restart-'));
  try {
    const storage = `sqlite:${dir}/state.db`;
    let h = await startHarness({ storage, dir });
    await h.k(['create', 'configmap', 'keep', '--from-literal=a=1']);
    await h.k(['create', 'service', 'nodeport', 'np', '--tcp=80:8080']);
    const before = JSON.parse(await h.k(['get', 'svc', 'np', '-o', 'json']));
    const cmBefore = JSON.parse(await h.k(['get', 'cm', 'keep', '-o', 'json']));
    const listRV = JSON.parse(await h.k(['get', '--raw', '/api/v1/namespaces/default/configmaps'])).metadata.resourceVersion as string;
    assert.match(listRV, /^\d+$/);
    await h.k(['label', 'cm', 'keep', 'after=restart-point']);
    await h.close();

    h = await startHarness({ storage, dir });
    try {
      const after = JSON.parse(await h.k(['get', 'svc', 'np', '-o', 'json']));
      assert.equal(after.metadata.uid, before.metadata.uid);
      assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
      assert.equal(after.spec.clusterIP, before.spec.clusterIP);
      assert.equal(after.spec.ports[0].nodePort, before.spec.ports[0].nodePort);
      const cm = JSON.parse(await h.k(['get', 'cm', 'keep', '-o', 'json']));
      assert.equal(cm.metadata.uid, cmBefore.metadata.uid);
      // A watch from a resourceVersion taken before the restart replays the change made after it.
      const r = await h.kubectl(['get', '--raw', `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${listRV}&timeoutSeconds=1`]);
      const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.ok(events.some((e) => e.type === 'MODIFIED' && e.object.metadata.name === 'keep' && e.object.metadata.labels.after === 'restart-point'), r.stdout);
      // The allocations survived too: the same IP and port are refused to a newcomer.
      const f = h.writeFile('dup.yaml', `apiVersion: v1
kind: Service
metadata:
  name: dup
spec:
  type: NodePort
  clusterIP: ${before.spec.clusterIP}
  ports:
  - port: 80
    nodePort: ${before.spec.ports[0].nodePort}
`);
      const d = await h.kubectl(['create', '-f', f]);
      assert.equal(d.code, 1);
      assert.match(d.stderr, /provided IP is already allocated/);
    } finally {
      await h.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

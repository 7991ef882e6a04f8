// `svcnet up` without root: the cluster runs in a user namespace of its own
// (cluster/rootless.ts) with the same kernel data plane. The test drops to the
// `nobody` user inside a private sandbox (so even a bug in the rootless path
// cannot touch the host's network), then: kubectl on the host side reaches the
// API server through the socket handed into the user namespace; a Deployment
// exposed as a LoadBalancer answers from the client namespace (LB IP and a
// NodePort) and from a pod by DNS name, through `svcnet exec` entering the
// cluster's namespaces; `svcnet rules` reads the kernel's rules; Ctrl-C stops
// it all; after a crash of `up`, `svcnet down` ends the cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NOBODY, rootlessUnsupported, sandboxedScenario, UpSession } from './lib/harness.js';


sandboxedScenario({
  title: 'svcnet up without root: a rootless cluster in a user namespace, in a private sandbox', self: import.meta.url, timeoutMs: 180_000,
  unsupported: rootlessUnsupported, scenario,
});

function scenario(): void {
  // Every command, kubectl included, as nobody.
  const c = UpSession.inTempDir('svcnet-rootless-', 'nobody');
  const data = c.dataDir;
  const { k, inNs, until, svcnet } = c;
  const startUp = () => c.start(['--nodes', '2']);
  const exited = (p: ChildProcess) => new Promise<number | null>((r) => { if (p.exitCode !== null) r(p.exitCode); else p.once('exit', (code) => r(code)); });

  test('rootless: kubectl, LB IP, NodePort, DNS, rules; Ctrl-C stops it', { timeout: 120_000 }, async () => {
    const up = startUp();
    try {
      await c.waitUp(up, 2);
      assert.match(c.log, /data plane\s+nftables \(rootless/, c.log);
      const { lb, nodePort: np, clusterIP, pods, fromPod } = await c.exposeWeb(2);
      await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://${lb}/`]), fromPod, 'curl to the LB IP from the client namespace');
      await until(() => inNs('client', ['curl', '-s', '-m', '2', `http://172.30.0.11:${np}/`]), fromPod, 'curl to node-2\'s NodePort');
      await until(() => inNs(`pod/${pods[0]}`, ['curl', '-s', '-m', '3', 'http://web.default.svc.cluster.local/']), fromPod, 'DNS name from a pod');
      const rules = await svcnet(['rules', 'node-1', '--data-dir', data]);
      assert.equal(rules.code, 0, rules.stderr);
      assert.ok(rules.stdout.includes(clusterIP), 'the ClusterIP is programmed in node-1');
      assert.ok(existsSync(join(data, 'userns.json')));
    } finally {
      up.kill('SIGINT');
    }
    assert.equal(await exited(up), 0, c.log);
    assert.match(c.log, /Stopping/);
    assert.ok(!existsSync(join(data, 'userns.json')), 'userns.json removed');
    assert.ok(!existsSync(join(data, 'cluster.json')), 'cluster.json removed');
  });

  test('rootless: after `up` crashes, `svcnet down` ends the cluster; a restart on the same data dir works', { timeout: 90_000 }, async () => {
    const up = startUp();
    try {
      await c.waitUp(up, 2);
      await until(() => k(['get', 'deployment', 'web', '--no-headers']), (o) => /2\/2/.test(o), 'the deployment from the first run is served again');
      up.kill('SIGKILL');
      await exited(up);
      const d = await svcnet(['down', '--data-dir', data]);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /stopped the rootless cluster/);
      assert.ok(!existsSync(join(data, 'userns.json')));
      // Nothing of the cluster is left: no process of nobody's runs any more.
      await until(async () => spawnSync('pgrep', ['-u', String(NOBODY)], { encoding: 'utf8' }).stdout.trim(), (o) => o === '', 'no process of the cluster left', 10_000);
    } finally {
      if (up.exitCode === null) up.kill('SIGKILL');
      await c.stop(up);
    }
  });
}

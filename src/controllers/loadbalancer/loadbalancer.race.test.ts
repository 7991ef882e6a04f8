// The LoadBalancer provider under real concurrency: the real API server,
// four workers, and an informer that lags (the controller's watch of
// Services delivers every event 60 ms late, as a busy or remote cache
// would). A second, prompt watch records every status the API server holds,
// in revision order, and the test fails if two services ever hold one
// address they may not share — even for one revision.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findByKind, type ResourceInfo } from '../../api/resources.js';
import { HttpClient } from '../../client/http.js';
import { InformerFactory } from '../../client/informer.js';
import { loadKubeconfig } from '../../client/kubeconfig.js';
import type { Client, KObject, WatchEvent, WatchHandle } from '../../client/types.js';
import { startHarness, type Harness } from '../../../test/lib/harness.js';
import { runController } from '../runner.js';
import { loadBalancerController } from './loadbalancer.js';

const services = findByKind('v1', 'Service')!;
const cms = findByKind('v1', 'ConfigMap')!;
const namespaces = findByKind('v1', 'Namespace')!;
const LAG_MS = 60;

/** A client whose watches of Services deliver each event LAG_MS late (in order). */
function lagging(c: Client): Client {
  return new Proxy(c, {
    get(target, prop, recv) {
      if (prop === 'watch') {
        return (r: ResourceInfo, ns: string | undefined, opts: object, onEvent: (e: WatchEvent) => void, onClose: (e?: Error) => void): WatchHandle =>
          target.watch(r, ns, opts, (e) => {
            if (r.plural === 'services') setTimeout(() => onEvent(e), LAG_MS);
            else onEvent(e);
          }, (err) => setTimeout(() => onClose(err), r.plural === 'services' ? LAG_MS : 0));
      }
      return Reflect.get(target, prop, recv) as unknown;
    },
  }) as Client;
}

interface Held { ips: string[]; share?: string; ports: string[] }

/** Every Service's addresses after each event of a prompt watch; records every moment two services hold one address they may not share. */
function recorder(c: Client, ns: string): { doubles: string[]; state: Map<string, Held>; close(): void } {
  const state = new Map<string, Held>();
  const doubles: string[] = [];
  const h = c.watch(services, ns, { resourceVersion: '0' }, (e) => {
    const o = e.object as KObject & { spec?: { ports?: { port: number; protocol?: string }[] }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } };
    const name = o.metadata?.name ?? '';
    if (e.type === 'DELETED') state.delete(name);
    else if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      state.set(name, {
        ips: (o.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? ''),
        share: o.metadata?.annotations?.['svcnet.io/allow-shared-ip'],
        ports: (o.spec?.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`),
      });
    }
    const seen = [...state].flatMap(([n, s]) => s.ips.map((ip) => ({ n, ip, s })));
    for (let i = 0; i < seen.length; i++) {
      for (let j = i + 1; j < seen.length; j++) {
        const [a, b] = [seen[i]!, seen[j]!];
        if (a.ip !== b.ip) continue;
        if (!a.s.share || a.s.share !== b.s.share || a.s.ports.some((p) => b.s.ports.includes(p))) {
          doubles.push(`rv ${o.metadata?.resourceVersion}: ${a.ip} held by ${a.n} and ${b.n}`);
        }
      }
    }
  }, () => undefined);
  return { doubles, state, close: () => h.close() };
}

async function eventually(pred: () => boolean, what: string | (() => string), ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LoadBalancer provider against the API server, with a lagging cache and 4 workers', () => {
  let h: Harness;
  let http: HttpClient;

  before(async () => {
    h = await startHarness();
    http = new HttpClient(loadKubeconfig(h.kubeconfig));
    await http.create(namespaces, undefined, { metadata: { name: 'kube-system' } }).catch(() => undefined);
  });
  after(async () => {
    http?.close();
    await h?.close();
  });

  async function withController(ns: string, pools: string, body: (rec: ReturnType<typeof recorder>) => Promise<void>): Promise<void> {
    await http.create(namespaces, undefined, { metadata: { name: ns } });
    const name = `pools-${ns}`;
    await http.create(cms, 'kube-system', { metadata: { name }, data: { pools } });
    const rec = recorder(http, ns);
    const client = lagging(http);
    const f = new InformerFactory(client);
    // A class of its own: the other tests' services are not this controller's.
    const ctl = runController(loadBalancerController({ configMapName: name, loadBalancerClass: `test/${ns}` }), { client, informers: f, workers: 4 });
    try {
      await ctl.waitForSync();
      await body(rec);
      // Quiet for a while: nothing moves any more, and nothing was ever held twice.
      await pause(LAG_MS * 8);
      assert.deepEqual(rec.doubles, []);
    } finally {
      await ctl.close();
      f.close();
      rec.close();
    }
  }

  const lb = (ns: string, name: string, o: { loadBalancerIP?: string; port?: number; share?: string } = {}): KObject => ({
    metadata: { name, ...(o.share ? { annotations: { 'svcnet.io/allow-shared-ip': o.share } } : {}) },
    spec: {
      type: 'LoadBalancer', loadBalancerClass: `test/${ns}`, selector: { app: name }, ports: [{ port: o.port ?? 80 }],
      ...(o.loadBalancerIP ? { loadBalancerIP: o.loadBalancerIP } : {}),
    },
  });

  test('an older service that stops failing while a younger one is being given the only address', async () => {
    await withController('race-a', '- name: one\n  addresses: ["192.0.2.50"]', async (rec) => {
      await http.create(services, 'race-a', lb('race-a', 'a', { loadBalancerIP: '10.9.9.9' }));
      await pause(1100); // b is created in a later second: a is older
      await http.create(services, 'race-a', lb('race-a', 'b'));
      await http.patch(services, 'race-a', 'a', 'merge', { spec: { loadBalancerIP: null } });
      await eventually(() => rec.state.get('b')?.ips[0] === '192.0.2.50' || rec.state.get('a')?.ips[0] === '192.0.2.50', 'the address assigned');
    });
  });

  test('a burst of creates, deletes and type changes over a small pool', async () => {
    await withController('race-b', '- name: small\n  addresses: ["192.0.2.60-192.0.2.62"]', async (rec) => {
      const names = Array.from({ length: 8 }, (_, i) => `s${i}`);
      await Promise.all(names.map((n, i) => http.create(services, 'race-b', lb('race-b', n, i % 3 === 0 ? { share: 'k', port: 80 + i } : {}))));
      await pause(LAG_MS / 2);
      await Promise.all([
        http.delete(services, 'race-b', 's1'),
        http.patch(services, 'race-b', 's2', 'merge', { spec: { type: 'ClusterIP' } }),
        http.patch(services, 'race-b', 's4', 'merge', { spec: { loadBalancerIP: '192.0.2.61' } }),
      ]);
      await pause(LAG_MS);
      await http.delete(services, 'race-b', 's5');
      await eventually(() => {
        const used = new Set([...rec.state.values()].flatMap((s) => s.ips));
        return used.size === 3;
      }, () => `all three addresses in use: ${JSON.stringify([...rec.state])}`);
      await pause(LAG_MS * 4);
      const holders = [...rec.state].filter(([, s]) => s.ips.length > 0).map(([n]) => n).sort();
      // s0, s3 and s6 share one address under key k (ports 80, 83, 86); two more services hold the other two.
      assert.ok(holders.length >= 3, `holders: ${holders.join(', ')}`);
    });
  });
});

// Informers over HTTP against the real API server: add/update/delete reach
// the cache and handlers, selectors are applied server-side, and a watch that
// comes back after the store was compacted gets 410 and relists, leaving the
// cache exactly as the server's list: nothing lost, nothing phantom.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findByKind } from '../api/resources.js';
import { startHarness, type Harness } from '../../test/lib/harness.js';
import { HttpClient } from './http.js';
import { Informer, InformerFactory } from './informer.js';
import { loadKubeconfig } from './kubeconfig.js';
import type { Client, KObject, WatchEvent, WatchHandle, WatchOptions } from './types.js';
import type { ResourceInfo } from '../api/resources.js';

const cms = findByKind('v1', 'ConfigMap')!;
const namespaces = findByKind('v1', 'Namespace')!;

async function eventually(pred: () => boolean | Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Delegates to a real client; while `hold` is set, new watches wait (the
 * network is "down"), and `endWatches()` ends the open ones normally, as a
 * server-side timeout would.
 */
class GatedClient {
  hold = false;
  readonly watchRVs: string[] = [];
  lists = 0;
  private readonly open = new Set<{ close(): void; end(): void }>();
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly inner: HttpClient) {}

  asClient(): Client {
    return new Proxy(this.inner, {
      get: (target, prop, recv) => {
        if (prop === 'watch') return this.watch.bind(this);
        if (prop === 'list') return (...a: Parameters<Client['list']>) => { this.lists++; return target.list(...a); };
        return Reflect.get(target, prop, recv) as unknown;
      },
    }) as Client;
  }

  release(): void {
    this.hold = false;
    for (const w of this.waiting.splice(0)) w();
  }

  endWatches(): void { for (const w of [...this.open]) w.end(); }

  private watch(r: ResourceInfo, ns: string | undefined, opts: WatchOptions, onEvent: (e: WatchEvent) => void, onClose: (err?: Error) => void): WatchHandle {
    let inner: WatchHandle | undefined;
    let done = false;
    const entry = {
      close: () => { if (done) return; done = true; this.open.delete(entry); inner?.close(); if (!inner) onClose(); },
      end: () => { if (done) return; done = true; this.open.delete(entry); inner?.close(); onClose(); },
    };
    this.open.add(entry);
    const startWatch = () => {
      if (done) return;
      this.watchRVs.push(opts.resourceVersion ?? '');
      inner = this.inner.watch(r, ns, opts, onEvent, (err) => {
        if (done) return;
        done = true;
        this.open.delete(entry);
        onClose(err);
      });
    };
    if (this.hold) this.waiting.push(startWatch);
    else startWatch();
    return { close: entry.close };
  }
}

describe('informer against the API server', () => {
  let h: Harness;
  let http: HttpClient;
  const ns = 'inf-test';

  before(async () => {
    h = await startHarness();
    http = new HttpClient(loadKubeconfig(h.kubeconfig));
    await http.create(namespaces, undefined, { metadata: { name: ns } });
    await http.create(namespaces, undefined, { metadata: { name: 'other' } });
  });
  after(async () => {
    http?.close();
    await h?.close();
  });

  test('sees add, update and delete; selectors and namespaces are applied by the server', async () => {
    await http.create(cms, ns, { metadata: { name: 'pre', labels: { pick: 'y' } }, data: { v: '0' } });
    await http.create(cms, ns, { metadata: { name: 'unpicked' } });
    await http.create(cms, 'other', { metadata: { name: 'elsewhere', labels: { pick: 'y' } } });
    const f = new InformerFactory(http, { pageSize: 1 });
    const picked = f.informer(cms, { namespace: ns, labelSelector: 'pick=y' });
    const log: string[] = [];
    picked.addEventHandler({
      onAdd: (o) => log.push(`add ${o.metadata!.name}`),
      onUpdate: (o, n) => log.push(`update ${o.metadata!.name} ${(o['data'] as Record<string, string>)['v']}→${(n['data'] as Record<string, string>)['v']}`),
      onDelete: (o) => log.push(`delete ${o.metadata!.name}`),
    });
    f.start();
    try {
      await f.waitForSync();
      assert.deepEqual(picked.store.keys(), [`${ns}/pre`]);
      assert.equal(picked.store.get(ns, 'pre')?.kind, 'ConfigMap');
      await http.create(cms, ns, { metadata: { name: 'new', labels: { pick: 'y' } }, data: { v: '1' } });
      await http.patch(cms, ns, 'pre', 'merge', { data: { v: '2' } });
      await http.delete(cms, ns, 'new');
      await http.create(cms, ns, { metadata: { name: 'nope' } });
      await eventually(() => log.length >= 4, 'four events');
      assert.deepEqual(log, ['add pre', 'add new', 'update pre 0→2', 'delete new']);
      assert.deepEqual(picked.store.keys(), [`${ns}/pre`]);
      assert.equal(picked.phase, 'Watching');
    } finally {
      f.close();
    }
  });

  test('a watch resumed after compaction gets 410 and relists: no lost or phantom objects', async () => {
    const rel = 'relist';
    await http.create(namespaces, undefined, { metadata: { name: rel } });
    for (const n of ['keep', 'change', 'gone']) await http.create(cms, rel, { metadata: { name: n }, data: { v: '1' } });
    const gate = new GatedClient(http);
    const inf = new Informer(gate.asClient(), cms, { namespace: rel });
    const log: string[] = [];
    inf.addEventHandler({
      onAdd: (o) => log.push(`add ${o.metadata!.name}`),
      onUpdate: (_o, n) => log.push(`update ${n.metadata!.name}`),
      onDelete: (o) => log.push(`delete ${o.metadata!.name}`),
    });
    inf.start();
    try {
      await inf.waitForSync();
      // One event so the watch counts as healthy: its end is then followed by an immediate re-watch.
      await http.create(cms, rel, { metadata: { name: 'seen' } });
      await eventually(() => inf.store.get(rel, 'seen') !== undefined, 'the watch to deliver');
      const lastRV = inf.store.resourceVersion;
      log.length = 0;

      // The connection drops and stays down while the world changes and history is compacted.
      gate.hold = true;
      gate.endWatches();
      await http.patch(cms, rel, 'change', 'merge', { data: { v: '2' } });
      await http.delete(cms, rel, 'gone');
      await http.create(cms, rel, { metadata: { name: 'born' } });
      await h.server.store.compact(await h.server.store.revision());
      assert.equal(gate.lists, 1);
      gate.release();

      await eventually(() => gate.lists === 2 && inf.phase === 'Watching', 'a relist');
      assert.equal(gate.watchRVs.at(-2), lastRV, 'it first tried to resume from its last rv');
      const server = (await http.list(cms, rel)).items;
      const snapshot = (objs: readonly KObject[]) => objs.map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();
      assert.deepEqual(snapshot(inf.store.list(rel)), snapshot(server));
      assert.deepEqual(log.sort(), ['add born', 'delete gone', 'update change']);

      // And it keeps watching from the relist's revision.
      await http.delete(cms, rel, 'keep');
      await eventually(() => inf.store.get(rel, 'keep') === undefined, 'the delete after relist');
      assert.equal(gate.lists, 2);
    } finally {
      inf.close();
    }
  });
});

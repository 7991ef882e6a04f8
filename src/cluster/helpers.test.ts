// The relay helper and its dialer, run in this namespace (in the embedded
// cluster the helper runs inside the first node's): bytes pass both ways, and a
// refused connection comes back as the errno code, which the API server's proxy
// turns into kube-apiserver's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayDialer, startHelper } from './helpers.js';
import { forward } from '../apiserver/proxy.js';

async function listen(s: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

test('relay: requests pass through it; a refused connection reads as Go\'s dial error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-relay-'));
  const sock = join(dir, 'relay.sock');
  const helper = await startHelper(undefined, ['relay', sock]).catch((e: Error) => e);
  try {
    assert.ok(!(helper instanceof Error), String(helper));
    const backend = createServer((req, res) => res.end(`hi ${req.url}`));
    const backendPort = await listen(backend);
    const closed = createTcpServer();
    const closedPort = await listen(closed);
    await new Promise((r) => closed.close(r));
    const dial = relayDialer(sock);
    const front = createServer((req, res) => {
      const port = req.url === '/refused' ? closedPort : backendPort;
      void forward(req, res, { scheme: 'http', ip: '127.0.0.1', port }, req.url ?? '/', dial);
    });
    const frontPort = await listen(front);
    try {
      const ok = await fetch(`http://127.0.0.1:${frontPort}/a?b=c`);
      assert.equal(await ok.text(), 'hi /a?b=c');
      const refused = await fetch(`http://127.0.0.1:${frontPort}/refused`);
      assert.equal(refused.status, 503);
      assert.equal((await refused.json() as { message: string }).message, `error trying to reach service: dial tcp 127.0.0.1:${closedPort}: connect: connection refused`);
      const again = await fetch(`http://127.0.0.1:${frontPort}/again`);
      assert.equal(await again.text(), 'hi /again');
    } finally {
      front.close();
      backend.close();
    }
  } finally {
    if (!(helper instanceof Error)) await helper.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// kubelet's WebSocket port-forward session over a real WebSocket, driven the
// way @kubernetes/client-node and python's client drive it: the ports in the
// query, the port prefix first on both channels of each port, data on 2i,
// kubelet's error text on 2i+1 for a port that cannot be dialled, and the
// WebSocket closed once every port is done. Refusals before the upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { isStatusError } from '../api/errors.js';
import { PortForwardDialError, type PortForwardPod } from '../node/portforward.js';
import { wsPortForwardUpgrader } from './portforward-ws.js';

const listen = (s: Server | ReturnType<typeof createHttpServer>): Promise<number> =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

async function setup(): Promise<{ url: string; close(): void }> {
  // The "pod": port 80 echoes each chunk and hangs up after "bye".
  const echo = createServer((c) => c.on('data', (d) => { c.write(`echo:${d}`); if (String(d).includes('bye')) c.end(); }));
  const echoPort = await listen(echo);
  const target: PortForwardPod = {
    sandboxId: 'sandbox-1', ready: true,
    dial: (port) => port === 80
      ? new Promise<Socket>((resolve, reject) => { const s = connect({ port: echoPort, host: '127.0.0.1' }, () => resolve(s)); s.once('error', reject); })
      : Promise.reject(new PortForwardDialError(`failed to connect to localhost:${port} inside namespace "sandbox-1", IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused`)),
  };
  const up = wsPortForwardUpgrader();
  const http = createHttpServer();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      up.upgrade(req, socket, head, target, new URL(req.url!, 'http://x').searchParams.getAll('port'));
    } catch (e) {
      assert.ok(isStatusError(e));
      socket.end(`HTTP/1.1 ${e.code} X\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${JSON.stringify(e.status)}`);
    }
  });
  const port = await listen(http);
  return { url: `ws://127.0.0.1:${port}/`, close: () => { up.close(); http.close(); echo.close(); } };
}

test('two ports: prefixes, data both ways on 0, the dial error on 3, closed when both are done', async () => {
  const s = await setup();
  try {
    const ws = new WebSocket(`${s.url}?port=80,81`, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    const msgs: Buffer[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (d: Buffer) => msgs.push(d));
    await new Promise((r) => ws.on('open', r));
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello')]));
    ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('ignored: error channels are write-only')]));
    ws.send(Buffer.concat([Buffer.from([9]), Buffer.from('ignored: no such channel')]));
    await new Promise((r) => setTimeout(r, 200));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('bye')]));
    const t0 = Date.now();
    assert.equal(await closed, 1000);
    assert.ok(Date.now() - t0 < 3000);
    const on = (ch: number) => msgs.filter((m) => m[0] === ch).map((m) => m.subarray(1));
    // The first message on each channel is exactly the port, little-endian.
    assert.deepEqual(on(0)[0], Buffer.from([80, 0]));
    assert.deepEqual(on(1)[0], Buffer.from([80, 0]));
    assert.deepEqual(on(2)[0], Buffer.from([81, 0]));
    assert.deepEqual(on(3)[0], Buffer.from([81, 0]));
    assert.equal(Buffer.concat(on(0).slice(1)).toString(), 'echo:helloecho:bye');
    assert.equal(on(1).length, 1);
    assert.equal(on(2).length, 1);
    assert.equal(Buffer.concat(on(3).slice(1)).toString(),
      'error forwarding port 81 to pod sandbox-1, uid : failed to connect to localhost:81 inside namespace "sandbox-1", IPv4: dial tcp4 127.0.0.1:81: connect: connection refused');
  } finally { s.close(); }
});

test('base64 protocol: text messages with an ASCII channel digit', async () => {
  const s = await setup();
  try {
    const ws = new WebSocket(`${s.url}?port=80`, ['v4.base64.channel.k8s.io']);
    const msgs: string[] = [];
    ws.on('message', (d: Buffer, binary: boolean) => { assert.equal(binary, false); msgs.push(d.toString()); });
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    await new Promise((r) => ws.on('open', r));
    ws.send('0' + Buffer.from('bye').toString('base64'));
    assert.equal(await closed, 1000);
    assert.deepEqual(msgs.slice(0, 2).sort(), ['0UAA=', '1UAA=']);
    assert.equal(Buffer.concat(msgs.filter((m) => m[0] === '0').slice(1).map((m) => Buffer.from(m.slice(1), 'base64'))).toString(), 'echo:bye');
  } finally { s.close(); }
});

test('refusals: no port, a bad port, an unknown protocol', async () => {
  const s = await setup();
  try {
    const status = (url: string, protocols: string[]): Promise<{ code: number; message: string }> => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d; });
        res.on('end', () => resolve({ code: res.statusCode!, message: JSON.parse(body).message }));
      });
      ws.on('open', () => reject(new Error('upgraded')));
      ws.on('error', () => undefined);
    });
    assert.deepEqual(await status(s.url, ['v4.channel.k8s.io']), { code: 400, message: 'query parameter "port" is required' });
    assert.deepEqual(await status(`${s.url}?port=0`, ['v4.channel.k8s.io']), { code: 400, message: 'port "0" must be > 0' });
    assert.deepEqual(await status(`${s.url}?port=80`, ['v5.channel.k8s.io']),
      { code: 403, message: 'requested protocol(s) are not supported: [v5.channel.k8s.io]; supports [v4.channel.k8s.io v4.base64.channel.k8s.io]' });
  } finally { s.close(); }
});

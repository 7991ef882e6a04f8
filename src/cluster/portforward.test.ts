// The port-forward session (kubelet's httpStreamHandler half) over a real
// socket, driven by a small SPDY client built from spdy.ts the way
// client-go's PortForwarder drives it: per connection an error stream and a
// data stream with the same requestID. A port that cannot be dialled gets the
// message on its error stream and leaves the session and the other pairs be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import {
  decodeHeaderBlock, encodeFrame, encodeHeaderBlock, FLAG_FIN, FrameReader, HeaderCompressor, HeaderDecompressor, type Frame,
} from '../apiserver/spdy.js';
import { PortForwardDialError, type PortForwardPod } from '../node/portforward.js';
import { servePortForwardSession } from './portforward.js';

/** A SPDY client: sends frames, and waits for frames matching a predicate (in arrival order). */
class Client {
  private readonly reader = new FrameReader();
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  readonly frames: (Frame & { headers?: Record<string, string[]> })[] = [];
  private waiters = new Set<() => void>();
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      for (const f of this.reader.push(d)) {
        this.chain = this.chain.then(async () => {
          const withHeaders = f.type === 'syn_reply' ? { ...f, headers: decodeHeaderBlock(await this.inflater.decompress(f.headerBlock)) } : f;
          this.frames.push(withHeaders);
          this.waiters.forEach((w) => w());
        });
      }
    });
  }

  open(id: number, headers: Record<string, string>): void {
    const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
    this.sock.write(encodeFrame({ type: 'syn_stream', streamId: id, associatedTo: 0, priority: 0, slot: 0, flags: 0, headerBlock: this.deflater.compress(encodeHeaderBlock(h)) }));
  }

  send(f: Frame): void { this.sock.write(encodeFrame(f)); }

  until<T extends Frame>(pred: (f: Frame) => f is T, what: string): Promise<T>;
  until(pred: (f: Frame) => boolean, what: string): Promise<Frame>;
  until(pred: (f: Frame) => boolean, what: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find(pred);
        if (!f) return;
        clearTimeout(t);
        this.waiters.delete(check);
        resolve(f);
      };
      const t = setTimeout(() => { this.waiters.delete(check); reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => ({ ...f, headerBlock: undefined })))}`)); }, 3000);
      this.waiters.add(check);
      check();
    });
  }

  /** Everything the server sent on a stream, and whether it ended with FIN. */
  dataOf(id: number): { text: string; fin: boolean } {
    const fs = this.frames.filter((f): f is Extract<Frame, { type: 'data' }> => f.type === 'data' && f.streamId === id);
    return { text: Buffer.concat(fs.map((f) => f.data)).toString(), fin: fs.some((f) => (f.flags & FLAG_FIN) !== 0) };
  }

  close(): void { this.inflater.close(); this.sock.destroy(); }
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

test('pairs error and data streams, forwards data both ways, reports a failed dial on the error stream and goes on', async () => {
  // The "pod": an echo server that answers each line and ends when the client does.
  const echo = createServer({ allowHalfOpen: true }, (c) => { c.on('data', (d) => c.write(`echo:${d}`)); c.on('end', () => c.end()); });
  const echoPort = await listen(echo);
  const target: PortForwardPod = {
    sandboxId: 'sandbox-1', ready: true,
    dial: (port) => port === 80
      ? new Promise((resolve, reject) => { const s = connect({ port: echoPort, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s)); s.once('error', reject); })
      : Promise.reject(new PortForwardDialError(`failed to connect to localhost:${port} inside namespace "sandbox-1", IPv4: dial tcp4 127.0.0.1:${port}: connect: connection refused`)),
  };
  const server = createServer((sock) => { servePortForwardSession(sock, target); });
  const port = await listen(server);
  const c = new Client(connect({ port, host: '127.0.0.1' }));
  try {
    // Connection 0 to port 80: error stream (closed at once by the client), data stream.
    c.open(1, { streamtype: 'error', port: '80', requestid: '0' });
    c.send({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) });
    c.open(3, { streamtype: 'data', port: '80', requestid: '0' });
    await c.until((f) => f.type === 'syn_reply' && f.streamId === 1, 'SYN_REPLY 1');
    await c.until((f) => f.type === 'syn_reply' && f.streamId === 3, 'SYN_REPLY 3');
    c.send({ type: 'data', streamId: 3, flags: 0, data: Buffer.from('hello') });
    await c.until((f) => f.type === 'data' && f.streamId === 3 && f.data.toString() === 'echo:hello', 'the echo');
    c.send({ type: 'ping', flags: 0, id: 1 });
    await c.until((f) => f.type === 'ping' && f.id === 1, 'the PING echoed');

    // Connection 1 to port 81, where nothing listens: kubelet's message, then FIN on both streams.
    c.open(5, { streamtype: 'error', port: '81', requestid: '1' });
    c.open(7, { streamtype: 'data', port: '81', requestid: '1' });
    await c.until((f) => f.type === 'data' && f.streamId === 5 && (f.flags & FLAG_FIN) !== 0, 'FIN on error stream 5');
    assert.equal(c.dataOf(5).text, 'error forwarding port 81 to pod sandbox-1, uid : failed to connect to localhost:81 inside namespace "sandbox-1", IPv4: dial tcp4 127.0.0.1:81: connect: connection refused');
    await c.until((f) => f.type === 'data' && f.streamId === 7 && (f.flags & FLAG_FIN) !== 0, 'FIN on data stream 7');

    // Connection 0 is still there; the client ends it: the pod's FIN, then the error stream's (empty).
    c.send({ type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('bye') });
    await c.until((f) => f.type === 'data' && f.streamId === 3 && (f.flags & FLAG_FIN) !== 0, 'FIN on data stream 3');
    assert.deepEqual(c.dataOf(3), { text: 'echo:helloecho:bye', fin: true });
    await c.until((f) => f.type === 'data' && f.streamId === 1 && (f.flags & FLAG_FIN) !== 0, 'FIN on error stream 1');
    assert.equal(c.dataOf(1).text, '');

    // A stream of an unknown type is refused (RST_STREAM PROTOCOL_ERROR); the session stays.
    c.open(9, { streamtype: 'bogus', port: '80', requestid: '2' });
    await c.until((f) => f.type === 'rst_stream' && f.streamId === 9 && f.status === 1, 'RST_STREAM 9');
    c.open(11, { streamtype: 'error', port: '80', requestid: '3' });
    await c.until((f) => f.type === 'syn_reply' && f.streamId === 11, 'SYN_REPLY 11');
  } finally {
    c.close();
    server.close();
    echo.close();
  }
});

test('a client reset of the data stream ends the pod connection and the error stream', async () => {
  let podSide: Socket | undefined;
  const pod = createServer((c) => { podSide = c; c.on('error', () => undefined); });
  const podPort = await listen(pod);
  const closed = new Promise<void>((r) => pod.once('connection', (c) => c.once('close', () => r())));
  const target: PortForwardPod = {
    sandboxId: 's', ready: true,
    dial: () => new Promise((resolve) => { const s = connect({ port: podPort, host: '127.0.0.1' }, () => resolve(s)); }),
  };
  const server = createServer((sock) => { servePortForwardSession(sock, target); });
  const c = new Client(connect({ port: await listen(server), host: '127.0.0.1' }));
  try {
    c.open(1, { streamtype: 'error', port: '80', requestid: '0' });
    c.open(3, { streamtype: 'data', port: '80', requestid: '0' });
    await c.until((f) => f.type === 'syn_reply' && f.streamId === 3, 'SYN_REPLY 3');
    for (let i = 0; i < 50 && !podSide; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(podSide, 'the pod was dialled');
    c.send({ type: 'rst_stream', flags: 0, streamId: 3, status: 5 });
    await closed;
    await c.until((f) => f.type === 'data' && f.streamId === 1 && (f.flags & FLAG_FIN) !== 0, 'FIN on error stream 1');
  } finally {
    c.close();
    server.close();
    pod.close();
  }
});

// Listening inside another network namespace from this process. A socket belongs to the
// namespace it was created in, whoever uses it later; so a small helper process runs
// inside the namespace (`nsenter --net=/run/netns/NAME node -e …`), creates each
// listening socket there, and sends it back over Node's IPC channel (SCM_RIGHTS).
// This process then accepts on it as on any server, and the helper closes its copy.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { silentLogger, type Logger } from '../../client/log.js';
import { ProxyError } from './errors.js';
import { serveHttp, type HttpHandler, type HttpListener, type ListenerFactory } from './healthcheck.js';

// CommonJS, run with `node -e`: one listen request in, one socket handle out.
const helperSource = `
const net = require('net');
process.on('message', (m) => {
  if (!m || m.op !== 'listen') return;
  const s = net.createServer();
  s.once('error', (e) => process.send({ op: 'error', id: m.id, code: e.code, message: e.message }));
  s.listen({ host: m.host, port: m.port, exclusive: true }, () => {
    process.send({ op: 'listening', id: m.id, port: s.address().port }, s, () => s.close());
  });
});
process.on('disconnect', () => process.exit(0));
`;

interface Reply { op: 'listening' | 'error'; id: number; port?: number; code?: string; message?: string }

export interface NetnsListenerFactoryOptions {
  /** The namespace's name under /run/netns. */
  netns: string;
  /** Default: this process's node binary. */
  nodePath?: string;
  log?: Logger;
}

export class NetnsListenerFactory implements ListenerFactory {
  private child: ChildProcess | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(r: { reply: Reply; handle?: net.Server }): void; reject(e: Error): void }>();
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: NetnsListenerFactoryOptions) {
    this.log = o.log ?? silentLogger;
  }

  private helper(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const child = spawn('nsenter', [`--net=/run/netns/${this.o.netns}`, '--', this.o.nodePath ?? process.execPath, '-e', helperSource], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (m: Reply, handle?: net.Server) => {
      const w = this.waiting.get(m.id);
      if (!w) {
        handle?.close();
        return;
      }
      this.waiting.delete(m.id);
      w.resolve({ reply: m, ...(handle ? { handle } : {}) });
    });
    const fail = (e: Error) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
      if (this.child === child) this.child = undefined;
    };
    child.on('error', (e) => fail(new ProxyError('COMMAND_FAILED', `netns listener helper for ${this.o.netns}: ${e.message}`, { cause: e })));
    child.on('exit', (code) => fail(new ProxyError('COMMAND_FAILED', `netns listener helper for ${this.o.netns} exited (${code})`)));
    // The helper must not keep this process alive by itself.
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
    this.child = child;
    return child;
  }

  async listenHttp(host: string, port: number, handler: HttpHandler): Promise<HttpListener> {
    if (this.closed) throw new ProxyError('CLOSED', 'listener factory is closed');
    const child = this.helper();
    const id = ++this.seq;
    const got = await new Promise<{ reply: Reply; handle?: net.Server }>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      child.send({ op: 'listen', id, host, port });
    });
    if (got.reply.op !== 'listening' || !got.handle) {
      throw new ProxyError('BIND_FAILED', `listen ${host}:${port} in ${this.o.netns}: ${got.reply.code ?? ''} ${got.reply.message ?? 'no socket received'}`.trim());
    }
    const received = got.handle;
    const s = await serveHttp(handler, async (server) => {
      received.on('connection', (sock: net.Socket) => server.emit('connection', sock));
    });
    this.log.debug('listening inside namespace', { netns: this.o.netns, host, port: got.reply.port });
    return {
      host,
      port: got.reply.port ?? port,
      close: async () => {
        await new Promise<void>((resolve) => received.close(() => resolve()));
        await s.close().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      if (c.connected) c.disconnect();
      c.kill();
      await exited;
    }
  }
}

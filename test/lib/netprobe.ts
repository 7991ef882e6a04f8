// A traffic probe for real-kernel scenario tests. One long-lived process per network
// namespace (started with `ip netns exec NS node netprobe.js`, see `startProbe`), so
// that a test can send hundreds of requests from a pod, a node or the client namespace
// without paying a process start for each. It reads one JSON command per line on stdin
// and answers one JSON line per command, carrying the command's id:
//
//   {op:'http', host, port, path, count?, timeoutMs?, status?}   count GETs, each on a
//        new connection → {results: [body | '<status> <body>' | 'ERR:<code>']}
//   {op:'tcp', host, port, timeoutMs?}   connect only → {result: 'connected' |
//        'ECONNREFUSED' | 'TIMEOUT' | 'ERR:<code>', ms, peer?: what answered a GET}
//   {op:'udp', host, port, msg, localPort?, timeoutMs?}   one datagram (from a fixed
//        source port when given) → {result: answer | 'TIMEOUT' | 'ERR:<code>'}
//   {op:'open', name, host, port, timeoutMs?}   a kept-alive HTTP/1.1 connection
//        → {result: 'connected' | error, localPort}
//   {op:'req', name, path, timeoutMs?}   one request on that connection → {result:
//        body | 'ERR:<code>'}
//   {op:'close', name}
//
// The test side (`startProbe`) lives below the child's code, in the same file: the child
// runs when this file is the process's entry point.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

type Command = {
  id: number; op: string; host?: string; port?: number; path?: string; count?: number; timeoutMs?: number;
  msg?: string; localPort?: number; name?: string; status?: boolean;
};

function errCode(e: unknown): string {
  const c = (e as { code?: string }).code;
  return c ? c : String((e as Error).message ?? e);
}

function httpGet(host: string, port: number, path: string, timeoutMs: number, withStatus = false): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string) => { if (!done) { done = true; clearTimeout(t); resolve(v); } };
    const req = request({ host, port, path, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => finish(withStatus ? `${res.statusCode} ${body}` : body));
      res.on('error', (e) => finish(`ERR:${errCode(e)}`));
    });
    const t = setTimeout(() => { req.destroy(); finish('ERR:TIMEOUT'); }, timeoutMs);
    req.on('error', (e) => finish(`ERR:${errCode(e)}`));
    req.end();
  });
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<{ result: string; ms: number; peer?: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let done = false;
    const finish = (result: string, peer?: string) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      resolve({ result, ms: Date.now() - t0, ...(peer !== undefined ? { peer } : {}) });
    };
    const t = setTimeout(() => finish('TIMEOUT'), timeoutMs);
    s.once('connect', () => {
      // Who answered? Ask as HTTP (netexec says its pod's name); whatever comes back within 1 s.
      const ms = Date.now() - t0;
      let got = '';
      const local = `${s.localAddress}:${s.localPort}`;
      s.on('data', (d: Buffer) => { got += d.toString(); });
      s.write('GET /hostname HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n');
      setTimeout(() => { done = true; clearTimeout(t); s.destroy(); resolve({ result: 'connected', ms, peer: `from ${local}: ${JSON.stringify(got.slice(-200))}` }); }, 1000);
    });
    s.once('error', (e) => finish(errCode(e) === 'ECONNREFUSED' ? 'ECONNREFUSED' : `ERR:${errCode(e)}`));
  });
}

function udpAsk(host: string, port: number, msg: string, localPort: number | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    let done = false;
    const finish = (v: string) => { if (done) return; done = true; clearTimeout(t); try { s.close(); } catch { /* closed */ } resolve(v); };
    const t = setTimeout(() => finish('TIMEOUT'), timeoutMs);
    s.on('message', (m) => finish(m.toString()));
    s.on('error', (e) => finish(`ERR:${errCode(e)}`));
    s.bind(localPort ?? 0, () => s.send(msg, port, host, (e) => { if (e) finish(`ERR:${errCode(e)}`); }));
  });
}

/** A kept-alive HTTP/1.1 connection, one request at a time (bodies carry Content-Length). */
class KeptConnection {
  private buf = '';
  private waiter: (() => void) | undefined;
  private closedWith: string | undefined;
  constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => { this.buf += d; this.waiter?.(); });
    sock.on('error', (e) => { this.closedWith ??= `ERR:${errCode(e)}`; this.waiter?.(); });
    sock.on('close', () => { this.closedWith ??= 'ERR:CLOSED'; this.waiter?.(); });
  }
  request(path: string, timeoutMs: number): Promise<string> {
    if (this.closedWith) return Promise.resolve(this.closedWith);
    this.buf = '';
    this.sock.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\nConnection: keep-alive\r\n\r\n`);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiter = undefined; resolve('ERR:TIMEOUT'); }, timeoutMs);
      const check = () => {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          const len = Number(/content-length:\s*(\d+)/i.exec(this.buf.slice(0, end))?.[1] ?? NaN);
          if (Number.isFinite(len) && this.buf.length >= end + 4 + len) {
            clearTimeout(t);
            this.waiter = undefined;
            resolve(this.buf.slice(end + 4, end + 4 + len));
            return;
          }
        }
        if (this.closedWith) { clearTimeout(t); this.waiter = undefined; resolve(this.closedWith); }
      };
      this.waiter = check;
      check();
    });
  }
}

async function child(): Promise<void> {
  const conns = new Map<string, KeptConnection>();
  const reply = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  const handle = async (c: Command): Promise<object> => {
    const host = c.host ?? '';
    const port = c.port ?? 0;
    const timeoutMs = c.timeoutMs ?? 3000;
    switch (c.op) {
      case 'http': {
        const results: string[] = [];
        for (let i = 0; i < (c.count ?? 1); i++) results.push(await httpGet(host, port, c.path ?? '/', timeoutMs, c.status));
        return { results };
      }
      case 'tcp': return tcpConnect(host, port, timeoutMs);
      case 'udp': return { result: await udpAsk(host, port, c.msg ?? '', c.localPort, timeoutMs) };
      case 'open': {
        const s = connect({ host, port });
        const r = await new Promise<string>((resolve) => {
          const t = setTimeout(() => resolve('TIMEOUT'), timeoutMs);
          s.once('connect', () => { clearTimeout(t); resolve('connected'); });
          s.once('error', (e) => { clearTimeout(t); resolve(`ERR:${errCode(e)}`); });
        });
        if (r !== 'connected') { s.destroy(); return { result: r }; }
        s.setNoDelay(true);
        conns.set(c.name ?? '', new KeptConnection(s));
        return { result: r, localPort: s.localPort };
      }
      case 'req': {
        const k = conns.get(c.name ?? '');
        return { result: k ? await k.request(c.path ?? '/', timeoutMs) : 'ERR:NOCONN' };
      }
      case 'close': {
        conns.get(c.name ?? '')?.sock.destroy();
        conns.delete(c.name ?? '');
        return { result: 'closed' };
      }
      default: return { error: `unknown op ${c.op}` };
    }
  };
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let c: Command;
    try { c = JSON.parse(line) as Command; } catch { return; }
    handle(c).then((r) => reply({ id: c.id, ...r }), (e: unknown) => reply({ id: c.id, error: String(e) }));
  });
  rl.on('close', () => process.exit(0));
  reply({ ready: true });
}

// ---------------------------------------------------------------- test side

export interface Probe {
  readonly netns: string;
  /** count GETs on fresh connections; bodies or 'ERR:<code>'. */
  http(host: string, port: number, path: string, count?: number, timeoutMs?: number): Promise<string[]>;
  /** One GET on a fresh connection: '<status> <body>' or 'ERR:<code>'. */
  httpStatus(host: string, port: number, path: string, timeoutMs?: number): Promise<string>;
  /** Connect only: 'connected' (with what the peer answered to an HTTP GET), 'ECONNREFUSED', 'TIMEOUT' or 'ERR:<code>'. */
  tcp(host: string, port: number, timeoutMs?: number): Promise<{ result: string; ms: number; peer?: string }>;
  udp(host: string, port: number, msg: string, localPort?: number, timeoutMs?: number): Promise<string>;
  open(name: string, host: string, port: number, timeoutMs?: number): Promise<string>;
  req(name: string, path: string, timeoutMs?: number): Promise<string>;
  closeConn(name: string): Promise<void>;
  close(): Promise<void>;
}

const script = fileURLToPath(import.meta.url);

/** Starts a probe inside `netns` (`ip netns exec`), resolving once it is ready. */
export function startProbe(netns: string, timeoutMs = 15_000): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const proc: ChildProcess = spawn('ip', ['netns', 'exec', netns, process.execPath, script, '--probe-child'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let nextId = 1;
    let stderr = '';
    const pending = new Map<number, (r: Record<string, unknown>) => void>();
    const rl = createInterface({ input: proc.stdout! });
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    proc.stdin!.on('error', () => undefined); // the child gone: `send` reports it
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`probe in ${netns} did not start: ${stderr}`)); }, timeoutMs);
    const fail = (why: string) => {
      for (const r of pending.values()) r({ error: why });
      pending.clear();
    };
    proc.once('error', (e) => { clearTimeout(t); reject(e); });
    proc.once('exit', (code) => { clearTimeout(t); fail(`probe in ${netns} exited (${code}): ${stderr}`); reject(new Error(`probe in ${netns} exited (${code}): ${stderr}`)); });
    const send = (cmd: Omit<Command, 'id'>): Promise<Record<string, unknown>> => new Promise((res, rej) => {
      if (proc.exitCode !== null || proc.signalCode !== null) { rej(new Error(`probe in ${netns} is gone: ${stderr}`)); return; }
      const id = nextId++;
      pending.set(id, (r) => (r['error'] ? rej(new Error(String(r['error']))) : res(r)));
      proc.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    });
    rl.on('line', (line) => {
      let r: Record<string, unknown>;
      try { r = JSON.parse(line) as Record<string, unknown>; } catch { return; }
      if (r['ready']) {
        clearTimeout(t);
        resolve({
          netns,
          http: async (host, port, path, count = 1, ms) => (await send({ op: 'http', host, port, path, count, timeoutMs: ms })).results as string[],
          httpStatus: async (host, port, path, ms) => String(((await send({ op: 'http', host, port, path, count: 1, timeoutMs: ms, status: true })).results as string[])[0]),
          tcp: async (host, port, ms) => {
            const r = await send({ op: 'tcp', host, port, timeoutMs: ms });
            return { result: String(r['result']), ms: Number(r['ms']), ...(r['peer'] !== undefined ? { peer: String(r['peer']) } : {}) };
          },
          udp: async (host, port, msg, localPort, ms) => String((await send({ op: 'udp', host, port, msg, localPort, timeoutMs: ms })).result),
          open: async (name, host, port, ms) => String((await send({ op: 'open', name, host, port, timeoutMs: ms })).result),
          req: async (name, path, ms) => String((await send({ op: 'req', name, path, timeoutMs: ms })).result),
          closeConn: async (name) => { await send({ op: 'close', name }); },
          close: () => new Promise<void>((res) => {
            if (proc.exitCode !== null || proc.signalCode !== null) { res(); return; }
            proc.once('exit', () => res());
            proc.stdin!.end();
            setTimeout(() => proc.kill('SIGKILL'), 2000).unref();
          }),
        });
        return;
      }
      const id = Number(r['id']);
      const cb = pending.get(id);
      if (cb) { pending.delete(id); cb(r); }
    });
  });
}

if (process.argv[1] === script && process.argv[2] === '--probe-child') void child();

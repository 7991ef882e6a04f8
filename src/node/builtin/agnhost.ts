// registry.k8s.io/e2e-test-images/agnhost, the subcommands Service tests use
// (kubernetes/test/images/agnhost): netexec, serve-hostname, porter, pause,
// liveness. Same flags, same paths, same answers.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { boolFlag, exitOnSignals, fatal, intFlag, log, parseFlags, podHostname, signalReady } from './common.js';

export async function agnhost(args: readonly string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'netexec': return netexec(rest);
    case 'serve-hostname': return serveHostname(rest);
    case 'porter': return porter();
    case 'pause': return pause();
    case 'liveness': return liveness();
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write('agnhost (svcnet built-in): netexec, serve-hostname, porter, pause, liveness\n');
      process.exit(0);
    // falls through (process.exit never returns)
    default:
      fatal(`unknown command "${sub}" for "agnhost" (svcnet implements netexec, serve-hostname, porter, pause, liveness)`);
  }
}

function listenHttp(port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<ReturnType<typeof createServer>> {
  return new Promise((resolve, reject) => {
    const s = createServer(handler);
    s.keepAliveTimeout = 5000;
    s.once('error', reject);
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

function text(res: ServerResponse, body: string, code = 200): void {
  res.statusCode = code;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(body);
}

/** `ip:port` as Go's RemoteAddr (brackets for IPv6). */
function remoteAddr(addr: string | undefined, port: number | undefined): string {
  const a = (addr ?? '').replace(/^::ffff:/, '');
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

async function netexec(args: readonly string[]): Promise<void> {
  const { flags } = parseFlags(args);
  const httpPort = intFlag(flags, 'http-port', 8080);
  const udpPort = intFlag(flags, 'udp-port', 8081);
  const delayShutdown = intFlag(flags, 'delay-shutdown', 0);
  const hostname = podHostname();
  let shuttingDown = false;
  const server = await listenHttp(httpPort, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    switch (url.pathname) {
      case '/': return text(res, `NOW: ${new Date().toString()}`);
      case '/hostname': case '/hostName': return text(res, hostname);
      case '/clientip': return text(res, remoteAddr(req.socket.remoteAddress, req.socket.remotePort));
      case '/echo': return text(res, q.get('msg') ?? '', Number(q.get('code') ?? 200) || 200);
      case '/header': return text(res, String(req.headers[(q.get('key') ?? '').toLowerCase()] ?? ''));
      case '/healthz': return shuttingDown ? text(res, 'shutting down', 503) : text(res, 'ok');
      case '/readyz': return shuttingDown ? text(res, 'shutting down', 503) : text(res, 'ok');
      case '/exit': {
        const code = Number(q.get('code') ?? 0);
        text(res, '');
        setTimeout(() => process.exit(Number.isInteger(code) ? code : 0), 10);
        return;
      }
      case '/redirect': {
        res.statusCode = 303;
        res.setHeader('Location', q.get('location') ?? '/');
        res.end();
        return;
      }
      case '/dial': return void dial(q).then((body) => { res.setHeader('Content-Type', 'application/json'); res.end(body); });
      default: return text(res, '404 page not found\n', 404);
    }
  });
  log(`Started HTTP server on port ${httpPort}`);
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const s = msg.toString().trim();
    let answer: string;
    if (s === 'hostname' || s === 'hostName') answer = hostname;
    else if (s.startsWith('echo ')) answer = s.slice(5);
    else if (s === 'clientip') answer = remoteAddr(rinfo.address, rinfo.port);
    else answer = `unknown command ${s}`;
    udp.send(answer, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => { udp.once('error', reject); udp.bind(udpPort, '0.0.0.0', () => resolve()); });
  log(`Started UDP server on port ${udpPort}`);
  if (delayShutdown > 0) {
    // --delay-shutdown: keep serving (failing /readyz) for that many seconds after SIGTERM.
    process.on('SIGTERM', () => {
      shuttingDown = true;
      log(`Sleeping ${delayShutdown} seconds before terminating...`);
      setTimeout(() => process.exit(0), delayShutdown * 1000);
    });
  }
  void server;
  signalReady();
}

/** /dial?request=hostname&protocol=http&host=10.244.1.5&port=8080&tries=1 → {"responses":[…]}. */
async function dial(q: URLSearchParams): Promise<string> {
  const request = q.get('request') ?? 'hostname';
  const protocol = (q.get('protocol') ?? 'http').toLowerCase();
  const host = q.get('host') ?? '';
  const port = Number(q.get('port') ?? 0);
  const tries = Math.max(1, Number(q.get('tries') ?? 1) || 1);
  const responses: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < tries; i++) {
    try {
      if (protocol === 'udp') responses.push(await udpAsk(host, port, request.replace(/^echo\?msg=/, 'echo ')));
      else responses.push(await httpGet(host, port, `/${request}`));
    } catch (e) {
      errors.push(String((e as Error).message ?? e));
    }
  }
  return JSON.stringify({ responses, errors });
}

function httpGet(host: string, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout dialing ${host}:${port}`)));
    req.on('error', reject);
    req.end();
  });
}

function udpAsk(host: string, port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error(`timeout reading from udp ${host}:${port}`)); }, 3000);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()); });
    s.on('error', (e) => { clearTimeout(t); s.close(); reject(e); });
    s.send(msg, port, host);
  });
}

async function serveHostname(args: readonly string[]): Promise<void> {
  const { flags } = parseFlags(args);
  const port = intFlag(flags, 'port', 9376);
  const doHttp = boolFlag(flags, 'http', true);
  const doTcp = boolFlag(flags, 'tcp', false);
  const doUdp = boolFlag(flags, 'udp', false);
  const close = boolFlag(flags, 'close', false);
  if (doHttp && doTcp) fatal('Can\'t run both TCP and HTTP servers');
  const hostname = podHostname();
  if (doTcp) {
    await new Promise<void>((resolve, reject) => {
      const s = createTcpServer((c) => { c.end(hostname); });
      s.once('error', reject);
      s.listen(port, '0.0.0.0', () => resolve());
    });
    log(`Serving on port ${port} (tcp)`);
  }
  if (doUdp) {
    const u = createSocket('udp4');
    u.on('message', (_m, r) => u.send(hostname, r.port, r.address));
    await new Promise<void>((resolve, reject) => { u.once('error', reject); u.bind(port, '0.0.0.0', () => resolve()); });
    log(`Serving on port ${port} (udp)`);
  }
  if (doHttp) {
    await listenHttp(port, (_req, res) => {
      if (close) res.setHeader('Connection', 'close');
      text(res, hostname);
    });
    log(`Serving on port ${port} (http)`);
  }
  exitOnSignals();
  signalReady();
}

async function porter(): Promise<void> {
  const ports = Object.entries(process.env).filter(([k]) => k.startsWith('SERVE_PORT_'));
  if (ports.length === 0) fatal('porter: no SERVE_PORT_<port> variables set');
  await Promise.all(ports.map(async ([k, v]) => {
    const port = Number(k.slice('SERVE_PORT_'.length));
    if (!Number.isInteger(port)) fatal(`porter: bad variable ${k}`);
    await listenHttp(port, (_req, res) => text(res, v ?? ''));
    log(`Serving on port ${port}`);
  }));
  exitOnSignals();
  signalReady();
}

function pause(): void {
  exitOnSignals();
  setInterval(() => undefined, 1 << 30);
  signalReady();
}

/** /healthz answers 200 for the first 10 seconds, then 500 (agnhost liveness). */
async function liveness(): Promise<void> {
  const started = Date.now();
  await listenHttp(8080, (req, res) => {
    const elapsed = (Date.now() - started) / 1000;
    if ((req.url ?? '').startsWith('/healthz') && elapsed > 10) return text(res, `error: ${elapsed.toFixed(1)}`, 500);
    text(res, 'ok');
  });
  exitOnSignals();
  signalReady();
}

// The generic server every image without a built-in behaviour runs (nginx,
// httpd, anything unknown): on each declared TCP containerPort, HTTP that
// answers the pod's name and a newline (`/healthz` answers `ok`); on each UDP
// one, an echo. Stops cleanly on SIGTERM, as nginx does.
import { createServer, type Server } from 'node:http';
import { createSocket, type Socket } from 'node:dgram';
import { exitOnSignals, fatal, log, podHostname, signalReady } from './common.js';

export async function serve(args: readonly string[]): Promise<void> {
  const ports: { port: number; protocol: string }[] = [];
  for (const a of args) {
    const m = /^--port=(\d+)\/(TCP|UDP)$/.exec(a);
    if (!m) fatal(`serve: bad argument ${a}`);
    ports.push({ port: Number(m[1]), protocol: m[2]! });
  }
  const name = podHostname();
  const servers: (Server | Socket)[] = [];
  await Promise.all(ports.map((p) => new Promise<void>((resolve, reject) => {
    if (p.protocol === 'TCP') {
      const s = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        if (path === '/healthz' || path === '/readyz') { res.end('ok\n'); return; }
        res.end(`${name}\n`);
      });
      s.keepAliveTimeout = 5000;
      s.once('error', reject);
      s.listen(p.port, '0.0.0.0', () => { log(`serving HTTP on :${p.port}`); resolve(); });
      servers.push(s);
    } else {
      const u = createSocket('udp4');
      u.on('message', (msg, rinfo) => { u.send(msg, rinfo.port, rinfo.address); });
      u.once('error', reject);
      u.bind(p.port, '0.0.0.0', () => { log(`echoing UDP on :${p.port}`); resolve(); });
      servers.push(u);
    }
  })));
  exitOnSignals(() => servers.forEach((s) => s.close()));
  signalReady();
  // With nothing to serve, stay up like a daemon would.
  if (ports.length === 0) setInterval(() => undefined, 1 << 30);
}

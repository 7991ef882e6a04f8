// A small process that runs inside a node's network namespace for the
// embedded cluster (started with `ip netns exec NS node helper-child.js …`):
// the API server and controllers live in the host namespace and cannot bind
// or connect inside another namespace themselves.
//   dns LISTEN-IP PORT   cluster DNS; snapshots arrive as JSON lines on stdin
//   relay SOCKET-PATH    accepts on a unix socket (paths are shared across
//                        network namespaces), reads "IP PORT\n", connects
//                        from this namespace and pipes both ways
import { createServer, connect, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startDNS } from '../dns/server.js';
import { buildZone, type ClusterZone, type DnsSnapshot } from '../dns/resolver.js';

async function dns(ip: string, port: number): Promise<void> {
  let zone: ClusterZone | undefined;
  const server = await startDNS({ snapshot: { zone: () => zone }, listen: { host: ip, port } });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    try {
      zone = buildZone(JSON.parse(line) as DnsSnapshot);
    } catch (e) {
      process.stderr.write(`dns helper: bad snapshot: ${(e as Error).message}\n`);
    }
  });
  process.stdout.write(`ready ${server.address.host}:${server.address.port}\n`);
  // The parent going away closes stdin: so do we.
  rl.on('close', () => { void server.close().then(() => process.exit(0)); });
}

function relay(path: string): void {
  try { unlinkSync(path); } catch { /* not there */ }
  const server = createServer((c: Socket) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) { if (head.length > 256) c.destroy(); return; }
      c.off('data', onData);
      c.pause();
      const [ip, port] = head.subarray(0, nl).toString().trim().split(' ');
      const rest = head.subarray(nl + 1);
      const up = connect({ host: ip!, port: Number(port) }, () => {
        if (rest.length) up.write(rest);
        c.pipe(up);
        up.pipe(c);
        c.resume();
      });
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
      c.on('close', () => up.destroy());
    };
    c.on('data', onData);
  });
  server.listen(path, () => process.stdout.write('ready\n'));
  process.stdin.on('end', () => { server.close(); process.exit(0); });
  process.stdin.resume();
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'dns') void dns(args[0]!, Number(args[1]));
else if (mode === 'relay') relay(args[0]!);
else {
  process.stderr.write('usage: helper-child.js dns IP PORT | relay SOCKET\n');
  process.exit(2);
}

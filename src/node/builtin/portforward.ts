// The port-forward end inside a pod's network namespace (`ip netns exec
// <pod> node portforward.js SOCKET`): kubelet's runtime dials localhost:PORT
// in the pod's namespace for `kubectl port-forward`, and a process of the
// host namespace cannot, so this one does it for the node agent. It accepts
// on a unix socket (paths are shared across network namespaces), reads
// "PORT\n", dials 127.0.0.1:PORT then [::1]:PORT as containerd does, answers
// "OK\n" and pipes both ways, or "ERR <IPv4 error>\t<IPv6 error>\n" and closes.
//
// Started on a pod's first port-forward; prints "ready" once listening, ends
// when stdin closes (the agent went away) or after IDLE_MS without a
// connection (the agent starts another when needed).
import { createServer, connect, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';

const IDLE_MS = Number(process.env['SVCNET_PORTFORWARD_IDLE_MS'] ?? 60_000);

// Go's wording of the errno a connect fails with (syscall.Errno.Error()).
const goErrno: Record<string, string> = {
  ECONNREFUSED: 'connection refused', EADDRNOTAVAIL: 'cannot assign requested address', ENETUNREACH: 'network is unreachable',
  EHOSTUNREACH: 'no route to host', ETIMEDOUT: 'connection timed out', EAFNOSUPPORT: 'address family not supported by protocol',
  ECONNRESET: 'connection reset by peer',
};

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, allowHalfOpen: true });
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e: NodeJS.ErrnoException) => {
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      reject(new Error(`dial ${host.includes(':') ? 'tcp6' : 'tcp4'} ${addr}: connect: ${goErrno[e.code ?? ''] ?? e.message}`));
    });
  });
}

const path = process.argv[2];
if (!path) { process.stderr.write('usage: portforward.js SOCKET\n'); process.exit(2); }
try { unlinkSync(path); } catch { /* not there */ }

let open = 0;
let idle: NodeJS.Timeout | undefined;
const touch = (): void => {
  if (idle) clearTimeout(idle);
  idle = open === 0 ? setTimeout(() => process.exit(0), IDLE_MS) : undefined;
};

// Half-open both ways: a client's FIN reaches the pod as a FIN, and the answer still comes back.
const server = createServer({ allowHalfOpen: true }, (c: Socket) => {
  open++;
  touch();
  c.once('close', () => { open--; touch(); });
  c.on('error', () => c.destroy());
  let head = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) { if (head.length > 16) c.destroy(); return; }
    c.off('data', onData);
    c.pause();
    const port = Number(head.subarray(0, nl).toString().trim());
    const rest = head.subarray(nl + 1);
    void (async () => {
      let up: Socket;
      try {
        up = await dial('127.0.0.1', port);
      } catch (e4) {
        try {
          up = await dial('::1', port);
        } catch (e6) {
          c.end(`ERR ${(e4 as Error).message}\t${(e6 as Error).message}\n`);
          return;
        }
      }
      c.write('OK\n');
      if (rest.length) up.write(rest);
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
      c.once('close', () => up.destroy());
      up.once('close', () => c.destroy());
      c.pipe(up);
      up.pipe(c);
      c.resume();
    })();
  };
  c.on('data', onData);
});
server.listen(path, () => {
  process.stdout.write('ready\n');
  touch();
});
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));

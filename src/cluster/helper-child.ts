// A small process that runs inside a node's network namespace for the
// embedded cluster (started with `ip netns exec NS node helper-child.js …`):
// the API server and controllers live in the host namespace and cannot bind
// or connect inside another namespace themselves. One process serves any of:
//   dns LISTEN-IP PORT   cluster DNS; snapshots arrive as JSON lines on stdin
//   relay SOCKET-PATH    accepts on a unix socket (paths are shared across
//                        network namespaces), reads "IP PORT\n", connects
//                        from this namespace, answers "OK\n" (or "ERR CODE\n"
//                        and closes) and pipes both ways
//   proxy NODE NODE-IP API-SOCKET KUBECONFIG CLUSTER-CIDR
//                        the node's userspace proxy (`--dataplane userspace`):
//                        it binds service addresses in this namespace, so it
//                        runs here; it reaches the API server at its unix
//                        socket with the kubeconfig's token. A stdin line
//                        `{"op":"state","id":N}` is answered on stdout with
//                        `{"id":N,"snapshot":…,"rules":…,"syncs":…}`.
//                        With an IPC channel it hands its listening sockets over
//                        on request, and with SVCNET_PROXY_TAKEOVER=1 it first
//                        receives its predecessor's (proxy-handover.ts)
// e.g. `relay /x/relay.sock dns 172.30.0.10 53` (one Node process less to
// start than one helper each). It prints one line, `ready [DNS-ADDRESS]`,
// once everything listens, and ends when stdin closes (the parent went away).
// SIGTERM stops it gracefully: the userspace proxy closes its listeners and
// stops watching at once, prints `draining N` (N relayed connections still
// open; every port it held is free by then), keeps relaying those until they
// end (or SVCNET_DRAIN_TIMEOUT_MS, default 5 min), then the process exits;
// stdin closing meanwhile ends it at once.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startDNS } from '../dns/server.js';
import { buildZone, type ClusterZone, type DnsSnapshot } from '../dns/resolver.js';

interface Service {
  ready: string;
  onLine?(line: string): void;
  /** Ends at once. */
  close(): Promise<void>;
  /** SIGTERM: a graceful stop (default: close). */
  drain?(): Promise<void>;
}

async function dns(ip: string, port: number): Promise<Service> {
  let zone: ClusterZone | undefined;
  const server = await startDNS({ snapshot: { zone: () => zone }, listen: { host: ip, port } });
  return {
    ready: `${server.address.host}:${server.address.port}`,
    onLine(line) {
      try {
        zone = buildZone(JSON.parse(line) as DnsSnapshot);
      } catch (e) {
        process.stderr.write(`dns helper: bad snapshot: ${(e as Error).message}\n`);
      }
    },
    close: () => server.close(),
  };
}

function relay(path: string): Promise<Service> {
  try { unlinkSync(path); } catch { /* not there */ }
  const server: Server = createServer((c: Socket) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) { if (head.length > 256) c.destroy(); return; }
      c.off('data', onData);
      c.pause();
      const [ip, port] = head.subarray(0, nl).toString().trim().split(' ');
      const rest = head.subarray(nl + 1);
      // One status line back first: `OK`, or `ERR <errno code>` and the end, so the API
      // server can say why (connection refused, no route to host) as kube-apiserver does.
      let connected = false;
      const up = connect({ host: ip!, port: Number(port) }, () => {
        connected = true;
        c.write('OK\n');
        if (rest.length) up.write(rest);
        c.pipe(up);
        up.pipe(c);
        c.resume();
      });
      up.on('error', (e: NodeJS.ErrnoException) => { if (connected) c.destroy(); else c.end(`ERR ${e.code ?? 'ECONNRESET'}\n`); });
      c.on('error', () => up.destroy());
      c.on('close', () => up.destroy());
    };
    c.on('data', onData);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve({ ready: '', close: () => new Promise<void>((r) => server.close(() => r())) }));
  });
}

async function userspaceProxy(node: string, nodeIP: string, apiSocket: string, kubeconfig: string, clusterCIDR: string): Promise<Service> {
  // Loaded here: the DNS/relay helper should not pay for the proxy's modules.
  const [{ HttpClient }, { loadKubeconfig }, { startProxy }, handover] = await Promise.all([
    import('../client/http.js'), import('../client/kubeconfig.js'), import('../proxy/runtime/proxy.js'), import('./proxy-handover.js'),
  ]);
  // A restart: the listening sockets of the proxy this one replaces come first (IPC).
  const inherited = process.env[handover.TAKEOVER_ENV] === '1' ? await handover.receiveListeners(10_000) : undefined;
  const client = new HttpClient({ server: 'http://localhost', token: loadKubeconfig(kubeconfig).token }, { socketPath: apiSocket });
  const stop = new AbortController();
  const drainTimeoutMs = Number(process.env['SVCNET_DRAIN_TIMEOUT_MS'] || 300_000);
  const proxy = await startProxy({
    client, nodeName: node, mode: 'userspace', nodePortAddresses: [nodeIP], nodeIPs: [nodeIP], clusterCIDR,
    minSyncPeriodMs: 0, metricsAddress: '127.0.0.1:10249',
    // Called once the proxy's informers, metrics and health servers and listeners are all closed.
    userspace: { stop: stop.signal, drainTimeoutMs, onDrain: (n) => process.stdout.write(`draining ${n}\n`), ...(inherited ? { inherited } : {}) },
  });
  handover.serveListenerExport(() => proxy.exportListeners());
  return {
    ready: '',
    onLine(line) {
      let q: { op?: string; id?: number };
      try { q = JSON.parse(line) as typeof q; } catch { return; }
      if (q.op !== 'state') return;
      process.stdout.write(JSON.stringify({ id: q.id, snapshot: proxy.snapshot() ?? null, rules: proxy.lastRules(),
        syncs: proxy.metrics.syncProxyRulesLatency.count() }) + '\n');
    },
    async close() {
      await proxy.close();
      client.close();
    },
    async drain() {
      stop.abort();
      await proxy.close();
      client.close();
    },
  };
}

/** The services a helper can run: how many arguments each takes, and how it starts. */
const modes: Record<string, { args: number; usage: string; start(args: string[]): Promise<Service> }> = {
  dns: { args: 2, usage: 'dns IP PORT', start: ([ip, port]) => dns(ip!, Number(port)) },
  relay: { args: 1, usage: 'relay SOCKET', start: ([path]) => relay(path!) },
  proxy: {
    args: 5, usage: 'proxy NODE NODE-IP API-SOCKET KUBECONFIG CLUSTER-CIDR',
    start: ([node, ip, sock, kc, cidr]) => userspaceProxy(node!, ip!, sock!, kc!, cidr!),
  },
};

/** `MODE ARGS… [MODE ARGS…]…` → what to start, or undefined when it does not parse. */
function parseArgs(argv: readonly string[]): { mode: string; args: string[] }[] | undefined {
  const out: { mode: string; args: string[] }[] = [];
  for (let i = 0; i < argv.length;) {
    const m = modes[argv[i]!];
    if (!m || argv.length - i - 1 < m.args) return undefined;
    out.push({ mode: argv[i]!, args: argv.slice(i + 1, i + 1 + m.args) });
    i += 1 + m.args;
  }
  return out.length ? out : undefined;
}

async function main(): Promise<void> {
  const specs = parseArgs(process.argv.slice(2));
  if (!specs) {
    process.stderr.write(`usage: helper-child.js ${Object.values(modes).map((m) => `[${m.usage}]`).join(' ')} …\n`);
    process.exit(2);
  }
  const services = await Promise.all(specs.map((s) => modes[s.mode]!.start(s.args)));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => { for (const s of services) s.onLine?.(line); });
  let draining = false;
  // The parent going away closes stdin: so do we (at once, even while draining).
  rl.on('close', () => {
    if (draining) process.exit(0);
    void Promise.all(services.map((s) => s.close())).finally(() => process.exit(0));
  });
  process.once('SIGTERM', () => {
    draining = true;
    void Promise.all(services.map((s) => (s.drain ? s.drain() : s.close()))).finally(() => process.exit(0));
  });
  process.stdout.write(`ready${services.map((s) => s.ready).filter(Boolean).map((r) => ` ${r}`).join('')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`helper: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

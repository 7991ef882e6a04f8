// The node agent's prober inside a node's network namespace: kubelet probes
// pods from the node, so httpGet and tcpSocket checks must leave from the
// node's namespace. One long-lived process per node (`ip netns exec <node>
// node probehelper.js`) answers requests read as JSON lines on stdin with JSON
// lines on stdout, so a probe costs a socket, not a process.
//
// request:  {"id":1,"type":"http","host":"10.244.1.5","port":8080,"path":"/healthz","scheme":"HTTP","headers":[{"name":"X","value":"y"}],"timeoutMs":1000}
//           {"id":2,"type":"tcp","host":"10.244.1.5","port":8080,"timeoutMs":1000}
// response: {"id":1,"ok":true,"status":200,"body":"ok"} | {"id":2,"ok":false,"error":"connect ECONNREFUSED …"}
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

interface ProbeRequest {
  id: number;
  type: 'http' | 'tcp';
  host: string;
  port: number;
  path?: string;
  scheme?: string;
  headers?: { name: string; value: string }[];
  timeoutMs: number;
}

interface ProbeResponse { id: number; ok: boolean; status?: number; body?: string; error?: string }

// kubelet reads at most 10 KiB of a probe's body (maxRespBodyLength).
const MAX_BODY = 10 * 1024;

function reply(r: ProbeResponse): void {
  process.stdout.write(JSON.stringify(r) + '\n');
}

function probeHttp(q: ProbeRequest): void {
  const https = (q.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*', Connection: 'close' };
  for (const h of q.headers ?? []) headers[h.name] = h.value;
  let done = false;
  const finish = (r: Omit<ProbeResponse, 'id'>): void => { if (!done) { done = true; reply({ id: q.id, ...r }); } };
  const opts = { host: q.host, port: q.port, path: q.path || '/', method: 'GET', headers, rejectUnauthorized: false, agent: false as const };
  const req = (https ? httpsRequest : httpRequest)(opts, (res) => {
    let body = '';
    res.on('data', (d: Buffer) => { if (body.length < MAX_BODY) body += d.toString().slice(0, MAX_BODY - body.length); });
    res.on('end', () => {
      const status = res.statusCode ?? 0;
      // kubelet: 200 <= code < 400 is success (redirects to other hosts are not followed and count as success).
      finish({ ok: status >= 200 && status < 400, status, body });
    });
    res.on('error', (e) => finish({ ok: false, error: e.message }));
  });
  req.setTimeout(q.timeoutMs, () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
  req.on('error', (e) => finish({ ok: false, error: e.message }));
  req.end();
}

function probeTcp(q: ProbeRequest): void {
  let done = false;
  const finish = (r: Omit<ProbeResponse, 'id'>): void => { if (!done) { done = true; reply({ id: q.id, ...r }); } };
  const s = connect({ host: q.host, port: q.port });
  s.setTimeout(q.timeoutMs, () => { s.destroy(); finish({ ok: false, error: `dial tcp ${q.host}:${q.port}: i/o timeout` }); });
  s.on('connect', () => { s.destroy(); finish({ ok: true }); });
  s.on('error', (e) => finish({ ok: false, error: `dial tcp ${q.host}:${q.port}: ${e.message}` }));
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let q: ProbeRequest;
  try { q = JSON.parse(line) as ProbeRequest; } catch { return; }
  if (q.type === 'http') probeHttp(q);
  else if (q.type === 'tcp') probeTcp(q);
  else reply({ id: q.id, ok: false, error: `unknown probe type ${String(q.type)}` });
});
// The agent closed our stdin: it is gone or done with us.
rl.on('close', () => process.exit(0));
process.stdout.write(JSON.stringify({ id: 0, ok: true }) + '\n');

// The official client libraries' streaming APIs against `svcnet up`, in a
// private sandbox (root), unchanged: @kubernetes/client-node 1.x's Exec
// (WebSocket, it offers v5.channel.k8s.io first), Attach and PortForward
// (kubelet's WebSocket port-forward protocol: v4.channel.k8s.io, the port in
// the query, the port number first on both channels), and Debian's
// python3-kubernetes `stream()` (exec over v4.channel.k8s.io, the return code
// from the error channel's Status) and `portforward()` (two ports in one
// WebSocket: an HTTP exchange on one, kubelet's dial error on the other).
// One cluster for all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { getLocal, run, sandboxedScenario, UpSession } from './lib/harness.js';

const python = '/usr/bin/python3';
const havePython = existsSync('/usr/lib/python3/dist-packages/kubernetes');

const POD = `apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  containers:
  # The built-in server answers HTTP on 80 with the pod's name.
  - {name: web, image: nginx}
  - {name: app, image: busybox, command: [sleep, '3600']}
  - {name: cat, image: busybox, stdin: true, command: [cat]}
`;

sandboxedScenario({
  title: 'client-node and python3-kubernetes exec, attach and port-forward against svcnet up, in a private sandbox', self: import.meta.url, timeoutMs: 120_000,
  scenario,
});

/** A Writable that keeps what it is given. */
function sink(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({ write(c: Buffer, _e, cb) { chunks.push(Buffer.from(c)); cb(); } }) as Writable & { text: () => string };
  w.text = () => Buffer.concat(chunks).toString();
  return w;
}

const PY_EXEC = String.raw`
import sys, json
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
out = {}
# Preloaded: stdout and stderr together.
r = stream(v1.connect_get_namespaced_pod_exec, "box", "default", container="app",
           command=["sh", "-c", "echo out; echo err >&2"], stderr=True, stdin=False, stdout=True, tty=False)
out["preloaded"] = sorted(r.splitlines())
# Not preloaded: the streams apart and the return code from the error channel.
ws = stream(v1.connect_get_namespaced_pod_exec, "box", "default", container="app",
            command=["sh", "-c", "echo before; echo oops >&2; exit 3"], stderr=True, stdin=False, stdout=True, tty=False,
            _preload_content=False)
ws.run_forever(timeout=20)
out["stdout"], out["stderr"], out["returncode"] = ws.read_stdout(), ws.read_stderr(), ws.returncode
# stdin.
ws = stream(v1.connect_get_namespaced_pod_exec, "box", "default", container="app",
            command=["head", "-n", "1"], stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
ws.write_stdin("hi there\n")
ws.run_forever(timeout=20)
out["stdin"], out["stdin_rc"] = ws.read_stdout(), ws.returncode
print(json.dumps(out))
`;

const PY_PORTFORWARD = String.raw`
import sys, json
from kubernetes import client, config
from kubernetes.stream import portforward
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
pf = portforward(v1.connect_get_namespaced_pod_portforward, "box", "default", ports="80,81")
s = pf.socket(80)
s.setblocking(True)
s.settimeout(20)
s.sendall(b"GET / HTTP/1.0\r\nHost: box\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
s.close()
s81 = pf.socket(81)
s81.settimeout(20)
rest = s81.recv(1)
print(json.dumps({"response": data.decode(), "error80": pf.error(80), "error81": pf.error(81), "rest81": rest.decode()}))
`;

function scenario(): void {
  test('client-node Exec/Attach/PortForward and python stream()/portforward()', { timeout: 90_000 }, async (t) => {
    const c = UpSession.inTempDir('svcnet-clients-streaming-');
    const { k, until } = c;
    let up: ChildProcess | undefined;
    try {
      up = c.start(['--nodes', '1']);
      await c.waitUp(up, 1);
      await k(['apply', '-f', '-'], POD);
      await until(() => k(['get', 'pod', 'box', '-o', 'jsonpath={.status.containerStatuses[*].ready}']), (o) => o === 'true true true', 'box ready');
      const kubeconfig = c.env['KUBECONFIG']!;
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);

      await t.test('client-node Exec: stdout, stderr, the Status (exit code), stdin', async () => {
        const exec = new k8s.Exec(kc);
        const run1 = async (cmd: string[], stdin: Readable | null): Promise<{ out: string; err: string; status: k8s.V1Status }> => {
          const out = sink();
          const err = sink();
          const status = await new Promise<k8s.V1Status>((resolve, reject) => {
            exec.exec('default', 'box', 'app', cmd, out, err, stdin, false, resolve).catch(reject);
          });
          return { out: out.text(), err: err.text(), status };
        };
        const r = await run1(['sh', '-c', 'echo out; echo err >&2; exit 3'], null);
        assert.equal(r.out, 'out\n');
        assert.equal(r.err, 'err\n');
        assert.equal(r.status.status, 'Failure');
        assert.equal(r.status.reason, 'NonZeroExitCode');
        assert.deepEqual(r.status.details?.causes, [{ reason: 'ExitCode', message: '3' }]);
        const ok = await run1(['sh', '-c', 'echo fine'], null);
        assert.deepEqual({ out: ok.out, status: ok.status.status }, { out: 'fine\n', status: 'Success' });
        // stdin with its EOF (client-node sends v5's close for stdin when the stream ends).
        const cat = await run1(['sh', '-c', 'cat; echo after-eof'], Readable.from([Buffer.from('hello\n'), Buffer.from('world\n')]));
        assert.deepEqual({ out: cat.out, status: cat.status.status }, { out: 'hello\nworld\nafter-eof\n', status: 'Success' });
      });

      await t.test('client-node Attach: stdin to the container\'s cat, its output back', async () => {
        const attach = new k8s.Attach(kc);
        const out = sink();
        const stdin = new PassThrough();
        const ws = await attach.attach('default', 'box', 'cat', out, null, stdin, false);
        stdin.write('ping\n');
        const t0 = Date.now();
        while (!out.text().includes('ping\n') && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
        ws.close();
        assert.equal(out.text(), 'ping\n');
      });

      await t.test('client-node PortForward: an HTTP GET through a local port; a closed port\'s error', async () => {
        const forward = new k8s.PortForward(kc);
        // client-node's own recipe: one WebSocket per local connection.
        const server = createServer((sock: Socket) => {
          forward.portForward('default', 'box', [80], sock, null, sock).then((ws) => {
            (ws as unknown as { on(e: 'close', f: () => void): void }).on('close', () => sock.end());
          }, () => sock.destroy());
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
          const port = (server.address() as AddressInfo).port;
          assert.equal(await getLocal(port, 10_000), 'box');
          assert.deepEqual(await Promise.all([getLocal(port, 10_000), getLocal(port, 10_000), getLocal(port, 10_000)]), ['box', 'box', 'box']);
        } finally {
          server.close();
        }
        // Nothing listens on 81: kubelet's message on the error channel, then the WebSocket closes.
        const out = sink();
        const err = sink();
        const ws = await forward.portForward('default', 'box', [81], out, err, new PassThrough());
        await new Promise<void>((r) => (ws as unknown as { on(e: 'close', f: () => void): void }).on('close', () => r()));
        assert.match(err.text(), /^error forwarding port 81 to pod \S+, uid : failed to execute portforward in network namespace "[^"]+": failed to connect to localhost:81 inside namespace "[^"]+", IPv4: dial tcp4 127\.0\.0\.1:81: connect: connection refused/);
        assert.equal(out.text(), '');
      });

      await t.test('python3-kubernetes stream(): stdout, stderr, returncode, stdin', { skip: !havePython && 'python3-kubernetes not installed' }, async () => {
        const f = join(c.dir!, 'exec.py');
        writeFileSync(f, PY_EXEC);
        const r = await run(python, [f, kubeconfig], { env: c.env, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.deepEqual(JSON.parse(r.stdout), {
          preloaded: ['err', 'out'], stdout: 'before\n', stderr: 'oops\n', returncode: 3, stdin: 'hi there\n', stdin_rc: 0,
        });
      });

      await t.test('python3-kubernetes portforward(): HTTP on 80, the dial error of 81, in one WebSocket', { skip: !havePython && 'python3-kubernetes not installed' }, async () => {
        const f = join(c.dir!, 'portforward.py');
        writeFileSync(f, PY_PORTFORWARD);
        const r = await run(python, [f, kubeconfig], { env: c.env, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const got = JSON.parse(r.stdout) as { response: string; error80: string | null; error81: string; rest81: string };
        assert.match(got.response, /^HTTP\/1\.[01] 200 /);
        assert.equal(got.response.split('\r\n\r\n')[1]!.trim(), 'box');
        assert.equal(got.error80, null);
        assert.match(got.error81, /^error forwarding port 81 to pod \S+, uid : failed to execute portforward .*connection refused/);
        assert.equal(got.rest81, '');
      });
    } catch (e) {
      throw new Error(`${(e as Error).stack}\n--- svcnet up:\n${c.log}`);
    } finally {
      await c.stop(up);
    }
  });
}

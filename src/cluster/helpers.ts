// Host-side handles on the helper processes that run inside a node namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const childScript = fileURLToPath(new URL('./helper-child.js', import.meta.url));

export interface Helper {
  child: ChildProcess;
  close(): Promise<void>;
}

/** Starts `helper-child.js ARGS` inside netns (undefined: this one) and waits for its "ready" line. */
export function startHelper(netns: string | undefined, args: string[], timeoutMs = 10_000): Promise<Helper & { ready: string }> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, childScript, ...args];
    const child = netns
      ? spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: child.stdout! });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`helper ${args[0]} in ${netns ?? 'this namespace'} did not start`)); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(t); reject(e); });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`helper ${args[0]} in ${netns ?? 'this namespace'} exited (${code})`)); });
    rl.once('line', (line) => {
      clearTimeout(t);
      child.removeAllListeners('exit');
      resolve({
        child, ready: line,
        close: () => new Promise<void>((res) => {
          if (child.exitCode !== null) return res();
          child.once('exit', () => res());
          child.stdin!.end();
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        }),
      });
    });
  });
}

/**
 * A dialer that connects from inside a node namespace through the relay helper:
 * resolves once the relay's `OK` says the connection stands, or rejects with the
 * errno code the relay's connect failed with.
 */
export function relayDialer(socketPath: string): (ip: string, port: number) => Promise<Socket> {
  return (ip, port) => new Promise((resolve, reject) => {
    const s = connect(socketPath);
    s.write(`${ip} ${port}\n`);
    let head = Buffer.alloc(0);
    const done = () => { s.off('readable', onReadable); s.off('error', fail); s.off('end', onEnd); };
    const fail = (e: Error) => { done(); s.destroy(); reject(e); };
    const onEnd = () => fail(Object.assign(new Error('relay closed the connection'), { code: 'ECONNRESET' }));
    // Paused-mode reads, so that nothing past the status line is consumed: once the
    // 'readable' listener is gone, the caller's own 'data' listener or pipe starts the flow.
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = s.read() as Buffer | null) !== null;) {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) {
          if (head.length > 64) { fail(new Error('relay: bad answer')); return; }
          continue;
        }
        const status = head.subarray(0, nl).toString();
        const rest = head.subarray(nl + 1);
        if (status !== 'OK') {
          const code = status.startsWith('ERR ') ? status.slice(4) : 'ECONNRESET';
          fail(Object.assign(new Error(`connect ${code} ${ip}:${port}`), { code }));
          return;
        }
        done();
        if (rest.length) s.unshift(rest);
        resolve(s);
        return;
      }
    };
    s.on('readable', onReadable);
    s.once('error', fail);
    s.once('end', onEnd);
  });
}

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

/** Starts `helper-child.js ARGS` inside netns and waits for its "ready" line. */
export function startHelper(netns: string, args: string[], timeoutMs = 10_000): Promise<Helper & { ready: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, childScript, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: child.stdout! });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`helper ${args[0]} in ${netns} did not start`)); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(t); reject(e); });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`helper ${args[0]} in ${netns} exited (${code})`)); });
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

/** A dialer that connects from inside a node namespace through the relay helper. */
export function relayDialer(socketPath: string): (ip: string, port: number) => Socket {
  return (ip, port) => {
    const s = connect(socketPath);
    s.write(`${ip} ${port}\n`);
    return s;
  };
}

// Host-side handles on the helper processes that run inside a node namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { helperHandshake } from '../node/handshake.js';

const childScript = fileURLToPath(new URL('./helper-child.js', import.meta.url));

export interface Helper {
  child: ChildProcess;
  close(): Promise<void>;
}

/**
 * Starts `helper-child.js ARGS` inside netns (undefined: this one) and waits for its "ready" line.
 * `ipc`: with Node's IPC channel (fd 3; it goes through `ip netns exec`), for passing sockets;
 * `onSpawn` sees the child before it is ready.
 */
export function startHelper(netns: string | undefined, args: string[], timeoutMs = 10_000,
  o: { ipc?: boolean; env?: NodeJS.ProcessEnv; onSpawn?(child: ChildProcess): void } = {}): Promise<Helper & { ready: string }> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, childScript, ...args];
    const opts = { stdio: ['pipe', 'pipe', 'inherit', ...(o.ipc ? ['ipc' as const] : [])] as ('pipe' | 'inherit' | 'ipc')[], ...(o.env ? { env: o.env } : {}) };
    const child = netns
      ? spawn('ip', ['netns', 'exec', netns, ...argv], opts)
      : spawn(argv[0]!, argv.slice(1), opts);
    o.onSpawn?.(child);
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
  return async (ip, port) => {
    const { status, socket } = await helperHandshake({
      path: socketPath, request: `${ip} ${port}\n`, maxLine: 64,
      closed: () => Object.assign(new Error('relay closed the connection'), { code: 'ECONNRESET' }),
    });
    if (status === 'OK') return socket;
    socket.destroy();
    const code = status.startsWith('ERR ') ? status.slice(4) : 'ECONNRESET';
    throw Object.assign(new Error(`connect ${code} ${ip}:${port}`), { code });
  };
}

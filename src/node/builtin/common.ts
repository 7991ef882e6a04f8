// Shared bits of the built-in images. These files run as their own process
// (`node builtin/image.js …`) inside a pod's network namespace: they import
// nothing but Node's own modules, so they start fast.
import { writeSync, closeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';

/** The pod's name: kubelet makes it the container's hostname (and $HOSTNAME). */
export function podHostname(): string {
  const h = osHostname();
  return h && h !== 'localhost' ? h : (process.env['HOSTNAME'] ?? h);
}

let readyFd: number | undefined;
export function setReadyFd(fd: number | undefined): void { readyFd = fd; }

/** Tells the node agent (through the pipe it passed) that every port is listening. */
export function signalReady(): void {
  if (readyFd === undefined) return;
  const fd = readyFd;
  readyFd = undefined;
  try { writeSync(fd, 'ready\n'); } catch { /* the agent is gone: nobody to tell */ }
  try { closeSync(fd); } catch { /* already closed */ }
}

/** Go-style flags: `--name=value`, `--name value`, `-name=value`, bare booleans. */
export function parseFlags(args: readonly string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)(?:=(.*))?$/.exec(a);
    if (!m) { rest.push(a); continue; }
    if (m[2] !== undefined) { flags.set(m[1]!, m[2]); continue; }
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('-') && !/^(true|false)$/i.test(m[1]!)) {
      // Boolean flags never take a separate value in Go's flag package; these images' only
      // booleans are named below.
      if (!booleanFlags.has(m[1]!)) { flags.set(m[1]!, next); i++; continue; }
    }
    flags.set(m[1]!, 'true');
  }
  return { flags, rest };
}
const booleanFlags = new Set(['http', 'tcp', 'udp', 'close', 'help', 'h']);

export function intFlag(flags: Map<string, string>, name: string, dflt: number): number {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) fatal(`invalid argument "${v}" for "--${name}" flag`);
  return n;
}

export function boolFlag(flags: Map<string, string>, name: string, dflt: boolean): boolean {
  const v = flags.get(name);
  if (v === undefined) return dflt;
  return v === 'true' || v === '1';
}

export function fatal(msg: string): never {
  process.stderr.write(`Error: ${msg}\n`);
  process.exit(1);
}

export function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

/** Exits 0 on SIGTERM/SIGINT after running `onStop` (servers that shut down cleanly, like nginx). */
export function exitOnSignals(onStop: () => void = () => undefined): void {
  const stop = (sig: string): void => {
    log(`received ${sig}, shutting down`);
    try { onStop(); } catch { /* exiting anyway */ }
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

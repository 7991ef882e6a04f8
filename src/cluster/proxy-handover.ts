// A userspace proxy restart that refuses no connection (HAProxy 1.8's seamless reload,
// `expose-fd listeners` + `-x`): the old proxy process hands its listening TCP sockets to
// the new one, which serves the same kernel sockets. No SYN ever meets a closed port, and
// the connections waiting in the accept queue are accepted by whichever process gets to
// them (closing the old one's copy of a socket does not reset them: the new still holds it).
//
// Node 20 has no SO_REUSEPORT for TCP, and passes sockets only over its IPC channel, between
// a parent and its child: so the cluster process, parent of both proxy helpers, relays them
// (`child.send(msg, handle)`, the raw TCP handle: a net.Server would start accepting in
// this process). UDP needs none of this (SO_REUSEADDR, see ../proxy/userspace/udp.ts), nor
// do ports the new proxy does not get here: it waits for them (EADDRINUSE, retried every
// 10 ms). The order:
//   1. the old process sends its listeners (it keeps accepting on them);
//   2. the new process starts with them, syncs, serves them, prints `ready`;
//   3. the old one gets SIGTERM: it closes its copies and drains its open connections.
import type { ChildProcess } from 'node:child_process';

/** In a proxy helper's environment: wait for handed-over listeners before starting. */
export const TAKEOVER_ENV = 'SVCNET_PROXY_TAKEOVER';

interface HandoverMessage {
  svcnetHandover: 'export' | 'listener' | 'exported';
  key?: string;
  count?: number;
}

export interface HandedSocket {
  key: string;
  handle: object;
}

function isHandover(m: unknown): m is HandoverMessage {
  return typeof m === 'object' && m !== null && typeof (m as HandoverMessage).svcnetHandover === 'string';
}

function closeHandle(h: object): void {
  try { (h as { close?(): void }).close?.(); } catch { /* closed already */ }
}

// ------------------------------------------------------------ in the proxy helper

/** The old proxy: answers `export` on the IPC channel with its listening sockets. */
export function serveListenerExport(list: () => HandedSocket[]): void {
  if (!process.send) return;
  const send = (m: HandoverMessage, handle?: object) => new Promise<void>((resolve) => {
    process.send!(m, handle as never, {}, () => resolve());
  });
  process.on('message', (m: unknown) => {
    if (!isHandover(m) || m.svcnetHandover !== 'export') return;
    void (async () => {
      const ls = list();
      for (const l of ls) await send({ svcnetHandover: 'listener', key: l.key }, l.handle);
      await send({ svcnetHandover: 'exported', count: ls.length });
    })();
  });
}

/** The new proxy: the sockets handed over before `exported` (empty after `timeoutMs`, or without a channel). */
export function receiveListeners(timeoutMs: number): Promise<Map<string, object>> {
  const got = new Map<string, object>();
  if (!process.send) return Promise.resolve(got);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      process.off('message', onMessage);
      resolve(got);
    };
    const onMessage = (m: unknown, handle: unknown) => {
      if (!isHandover(m)) return;
      if (m.svcnetHandover === 'listener' && m.key && handle && typeof handle === 'object') got.set(m.key, handle);
      else if (m.svcnetHandover === 'exported') done();
    };
    const t = setTimeout(done, timeoutMs);
    process.on('message', onMessage);
  });
}

// ------------------------------------------------------------ in the cluster process

/** Asks a proxy helper for its listening sockets; [] when it has no channel or does not answer in time. */
export function exportListeners(child: ChildProcess, timeoutMs = 5000): Promise<HandedSocket[]> {
  if (!child.connected) return Promise.resolve([]);
  return new Promise((resolve) => {
    const got: HandedSocket[] = [];
    const done = () => {
      clearTimeout(t);
      child.off('message', onMessage);
      child.off('exit', done);
      resolve(got);
    };
    const onMessage = (m: unknown, handle: unknown) => {
      if (!isHandover(m)) return;
      if (m.svcnetHandover === 'listener' && m.key && handle && typeof handle === 'object') got.push({ key: m.key, handle });
      else if (m.svcnetHandover === 'exported') done();
    };
    const t = setTimeout(done, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', done);
    child.send({ svcnetHandover: 'export' } satisfies HandoverMessage, (err) => { if (err) done(); });
  });
}

/** Sends sockets to a new proxy helper, then `exported`; resolves when all are written (or the send failed). */
export async function sendListeners(child: ChildProcess, ls: readonly HandedSocket[]): Promise<void> {
  const send = (m: HandoverMessage, handle?: object) => new Promise<void>((resolve, reject) => {
    child.send(m, handle as never, {}, (err) => (err ? reject(err) : resolve()));
  });
  for (const l of ls) await send({ svcnetHandover: 'listener', key: l.key }, l.handle);
  await send({ svcnetHandover: 'exported', count: ls.length });
}

/**
 * Replaces a userspace proxy helper without refusing a connection. `start` starts the new
 * helper (with an IPC channel and TAKEOVER_ENV) and calls `onSpawn` with its process
 * before waiting for its `ready`; `stopOld` sends the old one SIGTERM. Without sockets from
 * the old one (no channel, no answer), the new one waits for the addresses instead.
 */
export async function replaceProxyHelper<T>(
  old: ChildProcess,
  start: (onSpawn: (child: ChildProcess) => void) => Promise<T>,
  stopOld: () => Promise<void>,
  log?: (msg: string, fields: Record<string, unknown>) => void,
): Promise<T> {
  const handed = await exportListeners(old);
  let sent: Promise<void> = Promise.resolve();
  let next: T;
  try {
    next = await start((child) => {
      sent = sendListeners(child, handed).catch((e: unknown) => log?.('handing the listeners over failed; the new proxy waits for the addresses', { error: String(e) }));
    });
  } finally {
    await sent;
    // The new process holds its own copies (or never will): ours go.
    for (const h of handed) closeHandle(h.handle);
  }
  log?.('new proxy serving; stopping the old one', { handed: handed.length });
  await stopOld();
  return next;
}

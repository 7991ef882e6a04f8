// The opening of a connection to one of svcnet's helper processes over a unix
// socket (the relay of a node namespace, the port-forward helper of a pod
// namespace): one request line out, one status line back, then the socket is
// the connection itself.
import { connect, type Socket } from 'node:net';

export interface HandshakeOptions {
  path: string;
  allowHalfOpen?: boolean;
  /** The first line, newline included. */
  request: string;
  /** The error when the helper hangs up before answering. */
  closed: () => Error;
  /** A status line longer than this is not an answer (default 4096 bytes). */
  maxLine?: number;
}

/**
 * Connects, sends the request line and resolves with the helper's status line and
 * the socket. Paused-mode reads, so nothing past the status line is consumed: once
 * this resolves, the caller's own 'data' listener or pipe starts the flow. On any
 * failure the socket is destroyed.
 */
export function helperHandshake(o: HandshakeOptions): Promise<{ status: string; socket: Socket }> {
  const maxLine = o.maxLine ?? 4096;
  return new Promise((resolve, reject) => {
    const s = connect({ path: o.path, allowHalfOpen: o.allowHalfOpen ?? false });
    s.write(o.request);
    let head = Buffer.alloc(0);
    const done = (): void => { s.off('readable', onReadable); s.off('error', fail); s.off('end', onEnd); };
    const fail = (e: Error): void => { done(); s.destroy(); reject(e); };
    const onEnd = (): void => fail(o.closed());
    const onReadable = (): void => {
      for (let chunk: Buffer | null; (chunk = s.read() as Buffer | null) !== null;) {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) {
          if (head.length > maxLine) { fail(new Error(`helper at ${o.path}: no status line in its first ${head.length} bytes`)); return; }
          continue;
        }
        done();
        const rest = head.subarray(nl + 1);
        if (rest.length) s.unshift(rest);
        resolve({ status: head.subarray(0, nl).toString(), socket: s });
        return;
      }
    };
    s.on('readable', onReadable);
    s.once('error', fail);
    s.once('end', onEnd);
  });
}

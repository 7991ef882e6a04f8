// `kubectl logs` (pods/log) served by the embedded cluster: the API server
// hands the request to the node agents' container logs in this process.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, isStatusError } from '../api/errors.js';
import type { ApiServer } from '../apiserver/server.js';
import { getContainerLogs } from '../node/logs.js';

export function servePodLogs(api: ApiServer): void {
  api.subresourceHandlers.set('pods/log', async (req: IncomingMessage, res: ServerResponse, info) => {
    if ((req.method ?? 'GET') !== 'GET') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    await api.registry('', 'pods').get(info.namespace, info.name!);
    const follow = q.get('follow') === 'true' || q.get('follow') === '1';
    const tail = q.get('tailLines');
    const limit = q.get('limitBytes');
    const abort = new AbortController();
    req.on('close', () => abort.abort());
    let stream: AsyncIterable<Buffer>;
    try {
      stream = await getContainerLogs(info.namespace!, info.name!, q.get('container') ?? undefined, {
        follow, tailLines: tail ? Number(tail) : undefined, limitBytes: limit ? Number(limit) : undefined,
        previous: q.get('previous') === 'true', signal: abort.signal,
      });
    } catch (e) {
      if (isStatusError(e)) throw e;
      throw errors.badRequest(String((e as Error).message ?? e));
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    try {
      for await (const chunk of stream) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
    } catch {
      // the follower went away
    }
    res.end();
  });
}

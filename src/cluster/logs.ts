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
    await writeContainerLogs(req, res, info.namespace!, info.name!, q.get('container') ?? undefined, q);
  });
}

/**
 * The log of a container of a pod that an agent of this process runs, streamed
 * as the response (PodLogOptions from `q`): the API server's in-process path,
 * and a standalone agent's kubelet endpoint (cluster/kubelet-server.ts).
 * Throws a StatusError before anything is written.
 */
export async function writeContainerLogs(req: IncomingMessage, res: ServerResponse, namespace: string, pod: string,
  container: string | undefined, q: URLSearchParams): Promise<void> {
  const follow = q.get('follow') === 'true' || q.get('follow') === '1';
  const tail = q.get('tailLines');
  const limit = q.get('limitBytes');
  const abort = new AbortController();
  req.on('close', () => abort.abort());
  let stream: AsyncIterable<Buffer>;
  try {
    stream = await getContainerLogs(namespace, pod, container, {
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
}

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isStatusError } from '../api/errors.js';
import { getContainerLogs, registerLogSource, tailOffset, type LogContainerState } from './logs.js';

async function text(it: AsyncIterable<Buffer>): Promise<string> {
  let s = '';
  for await (const b of it) s += b.toString();
  return s;
}

test('logs: tail, previous, errors, follow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-logs-'));
  const states = new Map<string, LogContainerState>([
    ['app', { restartCount: 1, state: 'running', hasPrevious: true }],
    ['side', { restartCount: 0, state: 'waiting', waitingReason: 'ContainerCreating', hasPrevious: false }],
  ]);
  const path = (c: string, n: number) => join(dir, c, `${n}.log`);
  mkdirSync(join(dir, 'app'), { recursive: true });
  writeFileSync(path('app', 0), 'old 1\nold 2\n');
  writeFileSync(path('app', 1), 'line 1\nline 2\nline 3\n');
  const reg = registerLogSource({
    findPod: (ns, name) => (ns === 'default' && name === 'p' ? {
      name, containers: ['app', 'side'], initContainers: [], container: (c) => states.get(c), logPath: path,
    } : undefined),
  });
  try {
    assert.equal(await text(await getContainerLogs('default', 'p', 'app')), 'line 1\nline 2\nline 3\n');
    assert.equal(await text(await getContainerLogs('default', 'p', 'app', { tailLines: 2 })), 'line 2\nline 3\n');
    assert.equal(await text(await getContainerLogs('default', 'p', 'app', { previous: true })), 'old 1\nold 2\n');
    assert.equal(await text(await getContainerLogs('default', 'p', 'app', { limitBytes: 4 })), 'line');
    assert.equal(tailOffset(path('app', 1), 0), 21);
    assert.equal(tailOffset(path('app', 1), 10), 0);
    await assert.rejects(getContainerLogs('default', 'p', undefined), (e: unknown) => isStatusError(e) && e.code === 400
      && e.message === 'a container name must be specified for pod p, choose one of: [app side]');
    await assert.rejects(getContainerLogs('default', 'p', 'nope'), (e: unknown) => isStatusError(e) && e.message === 'container nope is not valid for pod p');
    await assert.rejects(getContainerLogs('default', 'p', 'side'), (e: unknown) => isStatusError(e)
      && e.message === 'container "side" in pod "p" is waiting to start: ContainerCreating');
    // follow: new lines arrive until the container stops.
    const ac = new AbortController();
    const it = (await getContainerLogs('default', 'p', 'app', { follow: true, tailLines: 1, signal: ac.signal }))[Symbol.asyncIterator]();
    assert.equal((await it.next()).value!.toString(), 'line 3\n');
    setTimeout(() => appendFileSync(path('app', 1), 'line 4\n'), 50);
    assert.equal((await it.next()).value!.toString(), 'line 4\n');
    states.set('app', { restartCount: 1, state: 'terminated', hasPrevious: true });
    assert.equal((await it.next()).done, true);
  } finally {
    reg.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

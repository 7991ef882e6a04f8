import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ContainerStdin, findAttachTarget, followFile, podFullName, startAttach, validateAttachRequest, type AttachTarget } from './attach.js';
import { ExecError, registerExecSource } from './exec.js';

function collect(r: Readable): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    r.on('data', (d: Buffer) => { s += d.toString(); });
    r.once('end', () => resolve(s));
  });
}

function tempFile(content: string): { path: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'svcnet-attach-'));
  const path = join(dir, '0.log');
  writeFileSync(path, content);
  return { path, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('validateAttachRequest: kubelet wants one stream at least; no command', () => {
  assert.equal(validateAttachRequest({ stdin: true, stdout: false, stderr: false }), undefined);
  assert.equal(validateAttachRequest({ stdin: false, stdout: false, stderr: false }), 'you must specify at least 1 of stdin, stdout, stderr');
  assert.equal(podFullName('default', 'tmp'), 'tmp_default');
});

test('ContainerStdin: stdinOnce without tty closes the pipe at the first client EOF and the attach goes on', () => {
  const pipe = new PassThrough();
  let got = '';
  pipe.on('data', (d: Buffer) => { got += d.toString(); });
  const s = new ContainerStdin(pipe, true, false);
  assert.equal(s.unclaimed, true);
  const a = s.lease();
  assert.equal(a.first, true);
  assert.equal(s.unclaimed, false);
  a.write(Buffer.from('hi\n'), () => undefined);
  assert.equal(a.clientEOF(), 'continue');
  assert.equal(pipe.writableEnded, true);
  assert.equal(got, 'hi\n');
  // A later attach writes nowhere.
  const b = s.lease();
  assert.equal(b.first, false);
  b.write(Buffer.from('late'), () => undefined);
  assert.equal(got, 'hi\n');
});

test('ContainerStdin: without stdinOnce a client EOF ends the attach and stdin stays open for the next one', () => {
  const pipe = new PassThrough();
  let got = '';
  pipe.on('data', (d: Buffer) => { got += d.toString(); });
  const s = new ContainerStdin(pipe, false, false);
  const a = s.lease();
  a.write(Buffer.from('a'), () => undefined);
  assert.equal(a.clientEOF(), 'end');
  a.release();
  assert.equal(s.open, true);
  const b = s.lease();
  b.write(Buffer.from('b'), () => undefined);
  b.release();
  assert.equal(got, 'ab');
  assert.equal(s.open, true);
});

test('ContainerStdin: stdinOnce with a tty ends the attach at the client EOF and closes stdin; leaving closes it too', () => {
  const tty = new ContainerStdin(new PassThrough(), true, true);
  assert.equal(tty.lease().clientEOF(), 'end');
  assert.equal(tty.open, false);
  const left = new ContainerStdin(new PassThrough(), true, false);
  left.lease().release();
  assert.equal(left.open, false);
});

test('ContainerStdin: a full pipe holds the writer back until it drains', async () => {
  const pipe = new PassThrough({ highWaterMark: 4 });
  const s = new ContainerStdin(pipe, false, false);
  const a = s.lease();
  let done = false;
  a.write(Buffer.from('0123456789'), () => { done = true; });
  assert.equal(done, false);
  pipe.read();
  await new Promise((r) => setImmediate(r));
  assert.equal(done, true);
});

test('followFile: from the end or the start, new bytes as they come, the rest once the writer ended', async () => {
  const f = tempFile('before\n');
  try {
    let end!: () => void;
    const ended = new Promise<void>((r) => { end = r; });
    const tail = collect(followFile(f.path, { offset: 'end', ended, pollMs: 20 }));
    const all = collect(followFile(f.path, { offset: 'start', ended, pollMs: 20 }));
    appendFileSync(f.path, 'one\n');
    await new Promise((r) => setTimeout(r, 60));
    appendFileSync(f.path, 'two\n');
    end();
    assert.equal(await tail, 'one\ntwo\n');
    assert.equal(await all, 'before\none\ntwo\n');
    // stop() ends it early; a missing file ends with its writer.
    const stopped = followFile(f.path, { offset: 'start', ended: new Promise(() => undefined) });
    const s = collect(stopped);
    stopped.stop();
    assert.equal(await s, '');
    assert.equal(await collect(followFile(join(f.path, '..', 'none.log'), { offset: 'start', ended: Promise.resolve() })), '');
  } finally {
    f.done();
  }
});

test('startAttach: the first stdin attach replays the output so far and ends with the container; later ones see what comes next', async () => {
  const f = tempFile('early\n');
  try {
    let exit!: () => void;
    const exited = new Promise<void>((r) => { exit = r; });
    const pipe = new PassThrough();
    let typed = '';
    pipe.on('data', (d: Buffer) => { typed += d.toString(); });
    const stdin = new ContainerStdin(pipe, true, false);
    const t: AttachTarget = { logPath: f.path, tty: false, stdin, running: true, exited };
    const first = startAttach(t, { stdin: true, stdout: true, stderr: true });
    const out1 = collect(first.stdout!);
    const second = startAttach(t, { stdin: false, stdout: true, stderr: false });
    const out2 = collect(second.stdout!);
    first.stdin!.end('input\n');
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(f.path, 'late\n');
    exit();
    assert.equal(await first.exited, 0);
    assert.equal(await out1, 'early\nlate\n');
    assert.equal(await out2, 'late\n');
    assert.equal(typed, 'input\n');
    assert.equal(pipe.writableEnded, true, 'stdinOnce: closed after the first attach');
  } finally {
    f.done();
  }
});

test('startAttach: a client EOF on a container that keeps its stdin ends the attach once its answer is in; kill() detaches', async () => {
  const f = tempFile('');
  try {
    const t: AttachTarget = { logPath: f.path, tty: false, stdin: new ContainerStdin(new PassThrough(), false, false), running: true, exited: new Promise(() => undefined) };
    const a = startAttach(t, { stdin: true, stdout: true, stderr: false });
    const out = collect(a.stdout!);
    a.stdin!.end('question\n');
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(f.path, 'answer\n');
    assert.equal(await a.exited, 0);
    assert.equal(await out, 'answer\n');
    assert.equal(t.stdin!.open, true, 'no stdinOnce: stdin stays open');
    const b = startAttach(t, { stdin: false, stdout: true, stderr: false });
    b.stdout!.resume();
    b.kill();
    assert.equal(await b.exited, 0);
  } finally {
    f.done();
  }
});

test('findAttachTarget: kubelet\'s "container c not found in pod p_ns"; an ended stdin container only for a stdin attach', () => {
  const ended: AttachTarget = { logPath: '/nonexistent', tty: false, running: false, exited: Promise.resolve() };
  const reg = registerExecSource({
    nodeName: 'n1',
    findPod: (ns, name) => (ns === 'default' && name === 'p'
      ? { uid: 'u1', target: async () => undefined, attach: (c) => (c === 'once' ? ended : undefined) }
      : undefined),
  });
  try {
    const text = (f: () => unknown): string => { try { f(); return 'ok'; } catch (e) { assert.ok(e instanceof ExecError); return `${e.stage} ${e.httpCode} ${e.message}`; } };
    assert.equal(text(() => findAttachTarget('default', 'p', undefined, 'n1', 'app', true)), 'handshake 500 container app not found in pod p_default');
    assert.equal(text(() => findAttachTarget('default', 'p', undefined, 'n1', 'once', true)), 'ok');
    assert.equal(text(() => findAttachTarget('default', 'p', undefined, 'n1', 'once', false)), 'handshake 500 container once not found in pod p_default');
    assert.equal(text(() => findAttachTarget('default', 'q', undefined, 'n1', 'app', true)), 'handshake 404 pod does not exist');
  } finally {
    reg.dispose();
  }
});

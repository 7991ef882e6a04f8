import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseProtocol, decodeFrame, encodeFrame, ExecError, execNotFoundText, exitStatus, findExecTarget, internalErrorStatus, parseExecQuery,
  parseResize, registerExecSource, shellQuote, ttyCommand, validateExecRequest,
} from './exec.js';
import { isStatusError } from '../api/errors.js';

test('parseExecQuery: repeated command, Go booleans, stderr dropped with a tty', () => {
  const q = new URLSearchParams('command=sh&command=-c&command=echo%20hi&container=app&stdin=true&stdout=1&stderr=True');
  assert.deepEqual(parseExecQuery(q), { command: ['sh', '-c', 'echo hi'], container: 'app', stdin: true, stdout: true, stderr: true, tty: false });
  const t = parseExecQuery(new URLSearchParams('command=sh&stdout=true&stderr=true&tty=true'));
  assert.equal(t.tty, true);
  assert.equal(t.stderr, false);
  assert.equal(t.container, undefined);
  assert.throws(() => parseExecQuery(new URLSearchParams('command=sh&stdin=maybe')),
    (e: unknown) => isStatusError(e) && e.code === 400 && /ParseBool: parsing "maybe"/.test(e.message));
});

test('validateExecRequest: kubelet wants a stream and a command', () => {
  assert.equal(validateExecRequest({ command: ['ls'], stdin: false, stdout: true, stderr: false, tty: false }), undefined);
  assert.match(validateExecRequest({ command: ['ls'], stdin: false, stdout: false, stderr: false, tty: false })!, /at least 1 of stdin, stdout, stderr/);
  assert.match(validateExecRequest({ command: [], stdin: false, stdout: true, stderr: false, tty: false })!, /at least 1 command/);
});

test('chooseProtocol: v5 before v4, nothing else', () => {
  assert.equal(chooseProtocol(['v4.channel.k8s.io', 'v5.channel.k8s.io']), 'v5.channel.k8s.io');
  assert.equal(chooseProtocol(['v4.channel.k8s.io']), 'v4.channel.k8s.io');
  assert.equal(chooseProtocol(['channel.k8s.io', 'base64.channel.k8s.io']), undefined);
});

test('frames: the stream byte first; v5 CLOSE is [255, stream]; empty messages are skipped', () => {
  assert.deepEqual([...encodeFrame(1, 'hi')], [1, 0x68, 0x69]);
  assert.deepEqual([...encodeFrame(3, Buffer.alloc(0))], [3]);
  assert.deepEqual(decodeFrame(Buffer.from([0, 0x61]), 'v5.channel.k8s.io'), { kind: 'data', stream: 0, data: Buffer.from('a') });
  assert.deepEqual(decodeFrame(Buffer.from([255, 0]), 'v5.channel.k8s.io'), { kind: 'close', stream: 0 });
  assert.equal(decodeFrame(Buffer.from([255, 0, 1]), 'v5.channel.k8s.io').kind, 'error');
  // v4 has no CLOSE signal: 255 is just a (bad) stream number.
  assert.equal(decodeFrame(Buffer.from([255, 0]), 'v4.channel.k8s.io').kind, 'data');
  assert.deepEqual(decodeFrame(Buffer.alloc(0), 'v5.channel.k8s.io'), { kind: 'empty' });
});

test('parseResize: client-go JSON sizes, several per message, bad ones skipped', () => {
  assert.deepEqual(parseResize('{"Width":80,"Height":24}\n'), [{ width: 80, height: 24 }]);
  assert.deepEqual(parseResize('{"Width":100,"Height":30}\n{"Width":120,"Height":40}\n'), [{ width: 100, height: 30 }, { width: 120, height: 40 }]);
  assert.deepEqual(parseResize('{"Width":1,"Height":2}{"Width":3,"Height":4}'), [{ width: 1, height: 2 }, { width: 3, height: 4 }]);
  assert.deepEqual(parseResize('garbage\n{"Width":-1,"Height":2}\n{"Width":"x"}'), []);
});

test('exitStatus: Success, or NonZeroExitCode with the code as the ExitCode cause (what client-go decodes)', () => {
  assert.deepEqual(exitStatus(0), { metadata: {}, status: 'Success' });
  const s = exitStatus(3);
  assert.equal(s.status, 'Failure');
  assert.equal(s.reason, 'NonZeroExitCode');
  assert.deepEqual(s.details, { causes: [{ reason: 'ExitCode', message: '3' }] });
  assert.equal(s.message, 'command terminated with non-zero exit code: command terminated with exit code 3');
  assert.equal(JSON.stringify(exitStatus(0)), '{"metadata":{},"status":"Success"}');
  const i = internalErrorStatus('boom');
  assert.deepEqual(i, { metadata: {}, status: 'Failure', message: 'Internal error occurred: boom', reason: 'InternalError', details: { causes: [{ message: 'boom' }] }, code: 500 });
});

test('shellQuote and ttyCommand: the command survives sh -c word for word', () => {
  assert.equal(shellQuote(['echo', 'a b', "it's", '$HOME', '']), `echo 'a b' 'it'\\''s' '$HOME' ''`);
  const argv = ttyCommand(['sh', '-c', 'echo "$0"', 'x y'], { script: '/usr/bin/script', stty: '/usr/bin/stty', size: { width: 100, height: 30 } });
  assert.deepEqual(argv.slice(0, 5), ['/usr/bin/script', '-q', '-e', '-f', '-c']);
  assert.equal(argv[6], '/dev/null');
  assert.equal(argv[5], `unset SHELL; /usr/bin/stty rows 30 cols 100 2>/dev/null; exec sh -c 'echo "$0"' 'x y'`);
  assert.match(ttyCommand(['bash'], { script: 's', stty: 't', shell: '/bin/zsh' })[5]!, /^SHELL=\/bin\/zsh; export SHELL; exec bash$/);
});

test('execNotFoundText: runc\'s words for PATH lookups and paths', () => {
  assert.equal(execNotFoundText('sh', '/usr/bin:/bin'), undefined);
  assert.equal(execNotFoundText('no-such-tool-xyz', '/usr/bin:/bin'), 'exec: "no-such-tool-xyz": executable file not found in $PATH');
  assert.equal(execNotFoundText('/nope/bash', '/usr/bin'), 'exec: "/nope/bash": stat /nope/bash: no such file or directory');
});

test('findExecTarget: kubelet\'s refusals (no agent for the node, pod unknown, container not running)', async () => {
  const reg = registerExecSource({
    nodeName: 'n1',
    findPod: (ns, name, uid) => (ns === 'default' && name === 'p' && (!uid || uid === 'u1')
      ? { uid: 'u1', target: async (c) => (c === 'app' ? { netns: 'x', env: { PATH: '/bin' } } : undefined) }
      : undefined),
  });
  try {
    const stage = async (f: Promise<unknown>) => { try { await f; return 'ok'; } catch (e) { assert.ok(e instanceof ExecError); return `${e.stage} ${e.httpCode} ${e.message}`; } };
    assert.equal(await stage(findExecTarget('default', 'p', 'u1', 'n1', 'app')), 'ok');
    assert.equal(await stage(findExecTarget('default', 'p', 'u1', 'n1', 'side')), 'handshake 500 container not found ("side")');
    assert.equal(await stage(findExecTarget('default', 'p', 'u2', 'n1', 'app')), 'handshake 404 pod does not exist');
    assert.match(await stage(findExecTarget('default', 'p', 'u1', 'n9', 'app')), /^dial 502 error dialing backend: no node agent for node "n9"/);
  } finally {
    reg.dispose();
  }
});

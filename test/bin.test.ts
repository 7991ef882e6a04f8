// bin/svcnet.js, the command npm installs: its shebang carries the V8 flags of
// src/cluster/node-flags.ts (the same list svcnet passes when it re-executes itself),
// `env -S` splits them, node accepts them, and the command runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/cluster/node-flags.js';
import { packageRoot } from '../src/apiserver/pkgroot.js';

const bin = join(packageRoot(), 'bin', 'svcnet.js');
const dist = join(packageRoot(), 'dist', 'src', 'cli', 'entry.js');

test('bin/svcnet.js: the shebang passes NODE_FLAGS through env -S', () => {
  const first = readFileSync(bin, 'utf8').split('\n')[0];
  assert.equal(first, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
});

test('node accepts NODE_FLAGS', () => {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('bin/svcnet.js runs as a command (kernel shebang, env -S, node with the flags)', { skip: existsSync(dist) ? undefined : 'dist/ not built (npm run build)' }, () => {
  const out = execFileSync(bin, ['--help'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.execPath.replace(/\/[^/]+$/, '')}:${process.env['PATH'] ?? ''}` } });
  assert.match(out, /svcnet/);
});

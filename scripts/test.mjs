#!/usr/bin/env node
// Runs every compiled test (dist/**/*.test.js) with node's test runner.
// `--unit` runs only the tests beside the code (src/), not the scenario tests (test/).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const unitOnly = process.argv.includes('--unit');
const roots = unitOnly ? ['dist/src'] : ['dist/src', 'dist/test'];
const files = [];
function walk(dir) {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (e.endsWith('.test.js')) files.push(p);
  }
}
roots.forEach(walk);
files.sort();
const extra = process.argv.slice(2).filter((a) => a !== '--unit');
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...extra, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);

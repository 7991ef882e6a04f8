// The layering of DESIGN.md, enforced: which folder may import which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).name === 'svcnet') return d;
    } catch { /* keep walking */ }
    const up = dirname(d);
    if (up === d) throw new Error('package root not found');
    d = up;
  }
}

// folder → the folders of ours it may import (besides itself and the shared logger src/log.ts).
const allowed: Record<string, string[]> = {
  api: [],
  storage: ['api'],
  apiserver: ['api', 'storage'],
  client: ['api'],
  controllers: ['api', 'client'],
  node: ['api', 'client'],
  proxy: ['api', 'client'],
  dns: ['api', 'client'],
  ui: ['client'],
  cluster: ['api', 'storage', 'apiserver', 'client', 'controllers', 'node', 'proxy', 'dns', 'ui'],
  cli: ['api', 'storage', 'apiserver', 'client', 'controllers', 'node', 'proxy', 'dns', 'ui', 'cluster'],
};

// `import type` only (erased at compile time: no code of the other layer loads).
// The page shows svcnet trace's answer, so it speaks the tracer's types rather than a mirror of them.
const typesOnly: Record<string, string[]> = {
  ui: ['proxy'],
};

test('imports respect the layering of DESIGN.md', () => {
  const src = join(packageRoot(), 'src');
  const bad: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) { walk(p); continue; }
      // Tests and their fixtures may start real servers of other layers; the rule is for shipped code.
      if (!p.endsWith('.ts') || p.endsWith('.test.ts') || /\/(testdata|testing)\//.test(p)) continue;
      const from = relative(src, p).split('/')[0]!;
      if (!(from in allowed)) continue;
      const text = readFileSync(p, 'utf8');
      for (const m of text.matchAll(/^\s*(import\s+type\s|import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
        const typeOnly = /^import\s+type\s/.test(m[1]!);
        const target = relative(src, resolve(dirname(p), m[2]!));
        if (target.startsWith('..')) continue;
        const to = target.split('/')[0]!;
        if (to === from || to === 'log.js') continue;
        if (typeOnly && typesOnly[from]?.includes(to)) continue;
        if (from === 'api' || !allowed[from]!.includes(to)) bad.push(`${relative(src, p)} imports ${m[2]} (${from} → ${to})`);
      }
    }
  };
  walk(src);
  assert.deepEqual(bad, []);
});

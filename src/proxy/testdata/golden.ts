// Golden files: expected renderer output kept as readable text under
// src/proxy/testdata/*.golden. `UPDATE_GOLDEN=1` rewrites them from the current output.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The source tree's src/proxy/testdata, found from the compiled file's location. */
export function testdataDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'svcnet') return join(dir, 'src', 'proxy', 'testdata');
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json of svcnet not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export function assertGolden(name: string, actual: string): void {
  const file = join(testdataDir(), `${name}.golden`);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) assert.fail(`missing golden file ${file}; run the tests with UPDATE_GOLDEN=1 to create it`);
  const expected = readFileSync(file, 'utf8');
  if (expected === actual) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  assert.fail(`${name}.golden differs at line ${i + 1}:\n  expected: ${e[i] ?? '<end of file>'}\n  actual:   ${a[i] ?? '<end of file>'}\n(UPDATE_GOLDEN=1 rewrites the golden file)`);
}

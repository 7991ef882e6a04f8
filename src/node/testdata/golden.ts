// Golden files for the node agent's pure outputs (pod status, topology plan):
// readable JSON under src/node/testdata/*.golden.json. `UPDATE_GOLDEN=1`
// rewrites them from the current output.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The source tree's src/node/testdata, found from the compiled file's location. */
export function testdataDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'svcnet') return join(dir, 'src', 'node', 'testdata');
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json of svcnet not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function assertGolden(name: string, value: unknown): void {
  const actual = JSON.stringify(value, null, 2) + '\n';
  const file = join(testdataDir(), `${name}.golden.json`);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) assert.fail(`missing golden file ${file}; run the tests with UPDATE_GOLDEN=1 to create it`);
  assert.deepEqual(JSON.parse(actual), JSON.parse(readFileSync(file, 'utf8')), `${name}.golden.json differs (UPDATE_GOLDEN=1 rewrites it)`);
}

// Where the svcnet package lives on disk: data files shipped beside the code
// (OpenAPI schemas, protobuf field tables) are read from src/ there, whatever
// directory the compiled module runs from (dist/, .build/…).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The nearest directory above this module whose package.json is svcnet's. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'svcnet') return (root = dir);
      } catch { /* not ours; keep walking */ }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the svcnet package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

#!/usr/bin/env node
import('../dist/src/cli/entry.js').catch((e) => {
  process.stderr.write(`svcnet: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});

#!/usr/bin/env node
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((e) => {
  process.stderr.write(`svcnet: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});

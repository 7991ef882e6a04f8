#!/usr/bin/env -S node --max-semi-space-size=64
// The flags are src/cluster/node-flags.ts's NODE_FLAGS (kept equal by test/bin.test.ts).
import('../dist/src/cli/entry.js').catch((e) => {
  process.stderr.write(`svcnet: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});

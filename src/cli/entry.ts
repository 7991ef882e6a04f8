// The `svcnet` process entry: bin/svcnet.js loads this file from dist/; tests and
// benchmarks spawn it from whatever tree they were compiled into.
import { main } from './main.js';

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`svcnet: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

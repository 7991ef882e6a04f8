// Entry point of the built-in images: `node image.js [--ready-fd=N] <image> …args`
// where <image> is agnhost, pause, serve or nslookup (see ../images.ts). With
// --ready-fd the process writes "ready" to that file descriptor once every
// port listens, so the node agent reports the container started only when it
// can be reached (nslookup, a one-shot command, says so at once).
import { setReadyFd, signalReady } from './common.js';
import { agnhost } from './agnhost.js';
import { serve } from './serve.js';
import { nslookup } from './nslookup.js';

const argv = process.argv.slice(2);
if (argv[0]?.startsWith('--ready-fd=')) {
  const fd = Number(argv.shift()!.slice('--ready-fd='.length));
  if (Number.isInteger(fd) && fd > 2) setReadyFd(fd);
}
const [image, ...args] = argv;
const main = async (): Promise<void> => {
  switch (image) {
    case 'agnhost': return agnhost(args);
    case 'serve': return serve(args);
    case 'pause': return agnhost(['pause']);
    case 'nslookup': signalReady(); return nslookup(args);
    default:
      process.stderr.write(`unknown built-in image "${image ?? ''}"\n`);
      process.exit(1);
  }
};
main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

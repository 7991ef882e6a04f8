// A probe for the churn bench's child processes (loaded with `node --import`):
// records every V8 garbage collection and every event-loop stall, with
// wall-clock times, so the bench can line slow changes up with what the API
// server and the controller manager were doing at that moment.
//
// Output: one JSON line per event appended to $CHURN_PROBE_OUT, flushed every
// 500 ms and at exit:
//   {"k":"gc","t":<epoch ms at start>,"d":<ms>,"kind":"major|minor|incremental|weakcb"}
//   {"k":"stall","t":<epoch ms when the loop stopped>,"d":<ms the timer was late>,"c":<CPU ms the process used meanwhile>}
// (gc and stall also carry "m": the same instant on CLOCK_MONOTONIC, in ms, as V8's CPU profiles count.)
//   {"k":"heap","t":…,"used":<MB>,"total":<MB>}  (every 5 s)
// A stall is a 2 ms timer that fired more than STALL_MS late: the loop was
// busy (or the process was not scheduled) for that long.
import { appendFileSync } from 'node:fs';
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';

export const STALL_MS = 8;

export function startProbe(out: string, stallMs = STALL_MS): () => void {
  const lines: string[] = [];
  const epoch = (perfMs: number) => performance.timeOrigin + perfMs;
  // CLOCK_MONOTONIC in ms, the clock of V8's CPU profiles (--cpu-prof): stalls line up with the samples.
  const monoOffset = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  const mono = (perfMs: number) => +(perfMs + monoOffset).toFixed(2);
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e.detail as { kind?: number } | undefined)?.kind ?? -1;
      lines.push(JSON.stringify({ k: 'gc', t: +epoch(e.startTime).toFixed(2), d: +e.duration.toFixed(2), kind: kinds[kind] ?? String(kind), m: mono(e.startTime) }));
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const tick = setInterval(() => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const late = t - last - 2;
    if (late > stallMs) {
      // CPU the process used meanwhile (all its threads): near the stall's length = busy (work, GC); far below = not scheduled.
      const c = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      lines.push(JSON.stringify({ k: 'stall', t: +epoch(last + 2).toFixed(2), d: +late.toFixed(2), c: +c.toFixed(1), m: mono(last + 2) }));
    }
    last = t;
    lastCpu = cpu;
  }, 2);
  tick.unref();
  const flush = () => {
    if (!lines.length) return;
    try { appendFileSync(out, lines.join('\n') + '\n'); } catch { /* the bench's temp dir may be gone */ }
    lines.length = 0;
  };
  const heap = setInterval(() => {
    const m = process.memoryUsage();
    lines.push(JSON.stringify({ k: 'heap', t: Date.now(), used: +(m.heapUsed / 1048576).toFixed(1), total: +(m.heapTotal / 1048576).toFixed(1) }));
  }, 5000);
  heap.unref();
  const flusher = setInterval(flush, 500);
  flusher.unref();
  process.on('exit', flush);
  return () => {
    obs.disconnect();
    clearInterval(tick);
    clearInterval(heap);
    clearInterval(flusher);
    flush();
  };
}

const out = process.env['CHURN_PROBE_OUT'];
if (out) startProbe(out);

// Progress of long operations: one line per step, aligned, with how long it
// took and when it ended (seconds since the process started, so the time
// spent loading code shows too), so a slow `up` shows where its time went. Steps may run concurrently, so a line is written
// whole when its step ends. Silent with --quiet; machine output is the caller's.
export interface Progress {
  step<T>(label: string, f: () => Promise<T>, detail?: (r: T) => string): Promise<T>;
  note(line: string): void;
  /** Milliseconds since the origin (the process's start by default). */
  elapsedMs(): number;
}

export function progress(out: (s: string) => void, enabled: boolean, now: () => number = () => performance.now(), t0 = 0): Progress {
  const width = 34;
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  return {
    async step(label, f, detail) {
      const start = now();
      try {
        const r = await f();
        const end = now();
        if (enabled) out(`  • ${label.padEnd(width)}done in ${secs(end - start)}s (at ${secs(end - t0)}s)${detail ? `  ${detail(r)}` : ''}\n`);
        return r;
      } catch (e) {
        if (enabled) out(`  • ${label.padEnd(width)}FAILED after ${secs(now() - start)}s\n`);
        throw e;
      }
    },
    note(line) { if (enabled) out(line + '\n'); },
    elapsedMs: () => now() - t0,
  };
}

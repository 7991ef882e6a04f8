// Progress of long operations: one line per step as it happens, with its
// duration, aligned; silent with --quiet; machine output is the caller's.
export interface Progress {
  step<T>(label: string, f: () => Promise<T>, detail?: (r: T) => string): Promise<T>;
  note(line: string): void;
}

export function progress(out: (s: string) => void, enabled: boolean): Progress {
  const width = 34;
  return {
    async step(label, f, detail) {
      const t0 = Date.now();
      if (enabled) out(`  • ${label.padEnd(width)}`);
      try {
        const r = await f();
        if (enabled) out(`done in ${((Date.now() - t0) / 1000).toFixed(2)}s${detail ? `  ${detail(r)}` : ''}\n`);
        return r;
      } catch (e) {
        if (enabled) out('FAILED\n');
        throw e;
      }
    },
    note(line) { if (enabled) out(line + '\n'); },
  };
}

// A small, strict flag parser: `--name value`, `--name=value`, booleans,
// `--` ends flags. Unknown flags are an error, so typos never pass silently.
export interface FlagSpec {
  name: string;
  type: 'string' | 'boolean' | 'number';
  default?: string | boolean | number;
  help: string;
  short?: string;
}

export interface Parsed {
  flags: Record<string, string | boolean | number | undefined>;
  positional: string[];
  /** Words after `--`. */
  rest: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: string[], specs: FlagSpec[]): Parsed {
  const flags: Parsed['flags'] = {};
  for (const s of specs) flags[s.name] = s.default;
  const positional: string[] = [];
  let rest: string[] = [];
  const find = (n: string) => specs.find((s) => s.name === n || s.short === n);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { rest = argv.slice(i + 1); break; }
    if (a.startsWith('-') && a !== '-') {
      const body = a.replace(/^--?/, '');
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const spec = find(name);
      if (!spec) throw new UsageError(`unknown flag: ${a}`);
      let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
      if (spec.type === 'boolean') {
        flags[spec.name] = value === undefined ? true : value === 'true';
        continue;
      }
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`flag needs an argument: ${a}`);
      }
      if (spec.type === 'number') {
        const n = Number(value);
        if (!Number.isFinite(n)) throw new UsageError(`invalid number for ${a}: ${value}`);
        flags[spec.name] = n;
      } else flags[spec.name] = value;
      continue;
    }
    positional.push(a);
  }
  return { flags, positional, rest };
}

export function helpText(usage: string, summary: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.type === 'boolean' ? '' : ` ${s.type === 'number' ? 'N' : 'VALUE'}`}`;
    const def = s.default !== undefined && s.default !== false ? ` (default ${JSON.stringify(s.default)})` : '';
    return [left, s.help + def] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length), 10) + 2;
  return `${summary}\n\nUsage:\n  ${usage}\n\nFlags:\n${rows.map(([l, r]) => l.padEnd(w) + r).join('\n')}\n  --help${' '.repeat(Math.max(w - 8, 1))}show this help\n`;
}

/** Parses HOST:PORT (IPv6 as [::1]:PORT). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  if (!m) throw new UsageError(`invalid address "${s}": want HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new UsageError(`invalid port in "${s}"`);
  return { host: m[1] || '127.0.0.1', port };
}

/** Resolves once the user interrupts (Ctrl-C) or the process is asked to stop. */
export function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

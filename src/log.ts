// A small structured logger: one line per record, level-filtered, to stderr.
// SVCNET_LOG is read once by the CLI, which calls setLogLevel.
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
let threshold: number = order.warn;
let sink: (line: string) => void = (l) => process.stderr.write(l + '\n');

export function setLogLevel(l: Level): void { threshold = order[l]; }
export function setLogSink(f: (line: string) => void): void { sink = f; }
/** Whether records of this level are written: lets a hot path skip building them (and their listeners). */
export function logEnabled(l: Level): boolean { return order[l] >= threshold; }

function emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  const kv = fields ? Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`).join(' ') : '';
  sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${kv ? ' ' + kv : ''}`);
}

export const logger = {
  debug: (m: string, f?: Record<string, unknown>) => emit('debug', m, f),
  info: (m: string, f?: Record<string, unknown>) => emit('info', m, f),
  warn: (m: string, f?: Record<string, unknown>) => emit('warn', m, f),
  error: (m: string, f?: Record<string, unknown>) => emit('error', m, f),
};

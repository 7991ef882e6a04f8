// The structured logger components accept (the shape of apiserver/log.ts's
// `logger`, so either can be passed in). Injected, never global: a library
// does not decide where its logs go.
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const noop = (): void => undefined;
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** A one-line description of an error for log fields. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

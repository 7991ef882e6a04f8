// Taking addresses over from the proxy this one replaces. A restarted proxy starts
// before the old one stops (so that it has synced and is ready to serve the moment the
// old lets go), and finds its addresses in use (EADDRINUSE): the metrics/healthz port,
// healthCheckNodePorts and, in userspace mode, every service address. Instead of failing,
// or waiting for the next sync (seconds), it retries often (every 10–20 ms) while the
// restart can be under way (`fastForMs` after start), then every second: the old proxy
// closes its listeners the moment it gets SIGTERM, and the new one holds them a few
// milliseconds later. (The embedded cluster avoids even that gap by handing the listening
// sockets themselves over: src/cluster/proxy-handover.ts.)
import { systemClock, type Clock, type TimerHandle } from '../client/clock.js';

/** Default `fastForMs`: how long after start an address in use is retried quickly. */
export const defaultBindRetryMs = 60_000;
/** Retry period while fast. */
export const fastBindRetryMs = 10;
/** Retry period afterwards (an address held by something else than a proxy being replaced). */
export const slowBindRetryMs = 1_000;

export function isAddressInUse(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

export interface BindWaitOptions {
  /** Retries are fast (`intervalMs`) until this time (ms since the epoch, on `clock`), then every `slowIntervalMs`. */
  fastUntil: number;
  intervalMs?: number;
  slowIntervalMs?: number;
  clock?: Clock;
}

/** The delay before the next attempt. Pure. */
export function nextBindDelay(now: number, o: BindWaitOptions): number {
  return now < o.fastUntil ? (o.intervalMs ?? fastBindRetryMs) : (o.slowIntervalMs ?? slowBindRetryMs);
}

/**
 * Runs `attempt` until it does not fail with EADDRINUSE (a few ports: the metrics server,
 * health check ports). `onWait` is called once, at the first EADDRINUSE. Rejects with
 * the last error when `signal` aborts, or with any other error at once.
 */
export async function bindWhenFree<T>(attempt: () => Promise<T>, o: BindWaitOptions & { signal?: AbortSignal; onWait?(e: Error): void }): Promise<T> {
  const clock = o.clock ?? systemClock;
  let waited = false;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!isAddressInUse(e) || o.signal?.aborted) throw e;
      if (!waited) o.onWait?.(e as Error);
      waited = true;
      const aborted = await new Promise<boolean>((resolve) => {
        const h = clock.setTimeout(() => { o.signal?.removeEventListener('abort', onAbort); resolve(false); }, nextBindDelay(clock.now(), o));
        const onAbort = () => { clock.clearTimeout(h); resolve(true); };
        o.signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (aborted) throw e;
    }
  }
}

/** What one attempt to bind a waiting address came to. */
export type BindOutcome = 'bound' | 'inUse' | 'gone';

export interface InUseWaiterOptions<K> extends Omit<BindWaitOptions, 'clock'> {
  /** Tries to bind `key` once: 'inUse' on EADDRINUSE, 'gone' when no longer wanted or it failed otherwise. */
  tryBind(key: K): Promise<BindOutcome>;
  /** The set of waiting addresses went from empty to not (`waiting` > 0), or back to empty (0). */
  onChange?(waiting: number): void;
  clock?: Clock;
}

/**
 * Many addresses in use at once (a userspace proxy's service addresses): rather than
 * retrying each one every tick, one is probed per tick, in turn (so that an address held
 * by an unrelated process does not hide the others). Once one binds, the process that
 * held them has most likely let go of all of them (a proxy closes every listener at
 * once), so every other one is tried at once.
 */
export class InUseWaiter<K> {
  private readonly waiting = new Set<K>();
  private timer: TimerHandle | undefined;
  private running = false;
  private closed = false;
  private readonly clock: Clock;

  constructor(private readonly o: InUseWaiterOptions<K>) {
    this.clock = o.clock ?? systemClock;
  }

  get size(): number { return this.waiting.size; }

  has(key: K): boolean { return this.waiting.has(key); }

  keys(): K[] { return [...this.waiting]; }

  add(key: K): void {
    if (this.closed || this.waiting.has(key)) return;
    this.waiting.add(key);
    if (this.waiting.size === 1) this.o.onChange?.(1);
    this.schedule();
  }

  delete(key: K): void {
    if (!this.waiting.delete(key)) return;
    if (this.waiting.size === 0) this.emptied();
  }

  close(): void {
    this.closed = true;
    this.waiting.clear();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private emptied(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.closed) this.o.onChange?.(0);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.running || this.closed || this.waiting.size === 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, nextBindDelay(this.clock.now(), this.o));
  }

  /** Probes the first waiting address (then moves it to the back); on success, all the others. */
  private async tick(): Promise<void> {
    this.running = true;
    try {
      const first = this.waiting.values().next();
      if (first.done) return;
      const key = first.value;
      const r = await this.settle(key);
      if (r === 'inUse') {
        // To the back of the line: the next tick probes another one.
        if (this.waiting.delete(key)) this.waiting.add(key);
        return;
      }
      for (const k of [...this.waiting]) {
        if (this.closed) return;
        await this.settle(k);
      }
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private async settle(key: K): Promise<BindOutcome> {
    if (!this.waiting.has(key) || this.closed) return 'gone';
    let r: BindOutcome;
    try {
      r = await this.o.tryBind(key);
    } catch {
      r = 'gone';
    }
    if (r !== 'inUse') this.delete(key);
    return r;
  }
}

// A rate-limited work queue with client-go's semantics
// (k8s.io/client-go/util/workqueue): keys, not events, are queued; a key
// queued twice is handed out once (dirty set); a key being processed is
// never handed out to a second worker at the same time (processing set) and
// is queued again on done() if it was added meanwhile; per-key exponential
// backoff for failures; delayed adds.
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** How long to wait before retrying a key, as client-go's RateLimiter. */
export interface RateLimiter {
  /** The delay for this failure of `key` (and counts it). */
  when(key: string): number;
  /** Stops tracking `key`: its next failure starts from the base delay again. */
  forget(key: string): void;
  numRequeues(key: string): number;
}

/**
 * base * 2^failures, capped: client-go's ItemExponentialFailureRateLimiter
 * with DefaultControllerRateLimiter's numbers (5 ms → 1000 s).
 */
export class ItemExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();
  constructor(readonly baseDelayMs = 5, readonly maxDelayMs = 1_000_000) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity long after the cap; min() keeps it finite.
    return Math.min(this.baseDelayMs * Math.pow(2, n), this.maxDelayMs);
  }
  forget(key: string): void { this.failures.delete(key); }
  numRequeues(key: string): number { return this.failures.get(key) ?? 0; }
}

export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** For metrics and logs. */
  name?: string;
}

export interface WorkQueueMetrics {
  /** Keys waiting to be handed out. */
  depth: number;
  /** Keys handed out and not yet done. */
  processing: number;
  /** Keys waiting for a delayed add. */
  waiting: number;
  /** add() calls that queued a key (not counting dedupes). */
  adds: number;
  /** addRateLimited() calls. */
  retries: number;
}

export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  /** FIFO of keys ready to hand out; every key here is also in `dirty`. */
  private readonly queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Delayed adds: key → when it becomes ready and its timer. */
  private readonly waitingFor = new Map<string, { readyAt: number; timer: TimerHandle }>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private down = false;
  private adds = 0;
  private retries = 0;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.limiter = opts.rateLimiter ?? new ItemExponentialRateLimiter();
    this.name = opts.name ?? 'workqueue';
  }

  add(key: string): void {
    if (this.down || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.adds++;
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.pump();
  }

  /** The next key, or undefined once the queue is shut down (queued keys are dropped). */
  get(): Promise<string | undefined> {
    if (this.down) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.getters.push(resolve);
      this.pump();
    });
  }

  /** Marks `key` as processed; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.down) {
      this.queue.push(key);
      this.pump();
    }
  }

  /** Adds `key` after `delayMs`; an earlier pending delayed add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.down) return;
    if (delayMs <= 0) { this.add(key); return; }
    const readyAt = this.clock.now() + delayMs;
    const cur = this.waitingFor.get(key);
    if (cur) {
      if (cur.readyAt <= readyAt) return;
      this.clock.clearTimeout(cur.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.waitingFor.delete(key);
      this.add(key);
    }, delayMs);
    this.waitingFor.set(key, { readyAt, timer });
  }

  /** Adds `key` after its rate limiter's delay (a failure of that key). */
  addRateLimited(key: string): void {
    if (this.down) return;
    this.retries++;
    this.addAfter(key, this.limiter.when(key));
  }

  /** The key succeeded: its backoff starts over. Does not remove it from the queue. */
  forget(key: string): void { this.limiter.forget(key); }

  numRequeues(key: string): number { return this.limiter.numRequeues(key); }

  len(): number { return this.queue.length; }

  shuttingDown(): boolean { return this.down; }

  /** Stops handing out keys: pending get()s resolve with undefined, delayed adds are cancelled. */
  shutDown(): void {
    if (this.down) return;
    this.down = true;
    for (const w of this.waitingFor.values()) this.clock.clearTimeout(w.timer);
    this.waitingFor.clear();
    this.queue.length = 0;
    for (const g of this.getters.splice(0)) g(undefined);
  }

  metrics(): WorkQueueMetrics {
    return { depth: this.queue.length, processing: this.processing.size, waiting: this.waitingFor.size, adds: this.adds, retries: this.retries };
  }

  private pump(): void {
    while (this.getters.length && this.queue.length) {
      const key = this.queue.shift()!;
      this.processing.add(key);
      this.dirty.delete(key);
      this.getters.shift()!(key);
    }
  }
}

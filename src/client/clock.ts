// Time as a narrow interface, so the work queue, backoff and controllers can be
// driven by a fake clock in tests (as client-go's k8s.io/utils/clock).

/** An opaque timer handle, only meaningful to the clock that made it. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h: TimerHandle): void => clearTimeout(h as NodeJS.Timeout),
});

interface FakeTimer { id: number; at: number; fn: () => void }

/** A clock that only moves when told to. Timers fire in deadline order (ties in creation order). */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(start = 0) { this.t = start; }

  now(): number { return this.t; }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(h: TimerHandle): void {
    if (typeof h === 'number') this.timers.delete(h);
  }

  /** Timers not yet fired. */
  pending(): number { return this.timers.size; }

  /** Moves time forward by `ms`, firing every timer that comes due (including ones set by fired timers). */
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const tm of this.timers.values()) {
        if (tm.at <= target && (!next || tm.at < next.at || (tm.at === next.at && tm.id < next.id))) next = tm;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = target;
  }
}

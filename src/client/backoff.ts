// Exponential backoff with jitter and a cap, for retrying list/watch against
// a server that is down or refusing: client-go's reflector uses 800 ms → 30 s,
// factor 2, jitter 1.0 (each delay is d + rand·jitter·d), so a fleet of
// clients does not retry in lockstep.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0 = no jitter; 1 = up to double the delay. */
  jitter?: number;
  /** [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private current: number;

  constructor(o: BackoffOptions = {}) {
    this.initialMs = o.initialMs ?? 800;
    this.maxMs = o.maxMs ?? 30_000;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 1;
    this.random = o.random ?? Math.random;
    this.current = this.initialMs;
  }

  /** The next delay (ms); each call grows the base delay until the cap. */
  next(): number {
    const base = this.current;
    this.current = Math.min(this.current * this.factor, this.maxMs);
    return Math.min(base + this.random() * this.jitter * base, this.maxMs);
  }

  reset(): void { this.current = this.initialMs; }
}

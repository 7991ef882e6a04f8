// Read buffers for the TCP relay. Node's default read path allocates a fresh 64 KiB
// buffer for every read and leaves it to the garbage collector; the relay instead reads
// into buffers it owns (net.Socket's `onread`), which it may reuse as soon as the write
// of what was read has been handed to the kernel.
//
// Two kinds, so that an idle connection holds no memory of its own:
// - one *shared* buffer for the whole event loop. Every connection reads into it while
//   its traffic is light; what is read is copied out before it is written (a write the
//   kernel cannot take at once keeps its buffer until it completes, and the shared one
//   must be free for the next read of any connection).
// - *private* buffers, larger, for a direction that moves bulk data: it reads into its
//   own buffer and writes from it without a copy, pausing its reads while a write is
//   pending. A read that fills the shared buffer promotes the direction to a private
//   buffer (while the pool's budget lasts); a small read hands the private buffer back.
// Pure bookkeeping: no I/O.

export interface RelayBufferOptions {
  /** Size of the shared buffer, i.e. the largest read of a connection in light mode. Default 64 KiB. */
  sharedBytes?: number;
  /** Size of a private (bulk) buffer. Default 512 KiB: one read and one write per half MiB (see docs/benchmarks.md). */
  privateBytes?: number;
  /** Most memory held in private buffers, in use or free; beyond it, bulk directions stay on the shared buffer. Default 64 MiB. */
  budgetBytes?: number;
}

/** Free private buffers kept for reuse. */
const keptFree = 8;

export class RelayBufferPool {
  readonly shared: Buffer;
  readonly privateBytes: number;
  private readonly maxPrivate: number;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  /** Directions moved to a private buffer, and back; reads paused for a write the kernel had no room for (observability, tests). */
  promotions = 0;
  demotions = 0;
  stalls = 0;

  constructor(o: RelayBufferOptions = {}) {
    this.shared = Buffer.allocUnsafe(o.sharedBytes ?? 64 * 1024);
    this.privateBytes = o.privateBytes ?? 512 * 1024;
    this.maxPrivate = Math.floor((o.budgetBytes ?? 64 * 1024 * 1024) / this.privateBytes);
  }

  /** Private buffers handed out and not yet returned. */
  get inUse(): number { return this.allocated - this.free.length; }

  /** A private buffer, or undefined when the budget is spent. */
  acquire(): Buffer | undefined {
    const b = this.free.pop();
    if (b) return b;
    if (this.allocated >= this.maxPrivate) return undefined;
    this.allocated++;
    return Buffer.allocUnsafe(this.privateBytes);
  }

  /**
   * Gives a private buffer back; the caller must not touch it afterwards (no write may
   * still be reading it). A few are kept for the next bulk transfer, the rest left to
   * the garbage collector.
   */
  release(b: Buffer): void {
    if (b === this.shared) return;
    if (this.free.length < keptFree) this.free.push(b);
    else this.allocated--;
  }

  /**
   * The buffer the next read of a direction goes to, after a read of `n` bytes into `current`
   * whose write is `pending` (not yet taken by the kernel) or not.
   */
  next(current: Buffer, n: number, pending: boolean): Buffer {
    if (current === this.shared) {
      // A full shared read: more is probably waiting, go bulk.
      if (n !== current.length) return current;
      const b = this.acquire();
      if (!b) return current;
      this.promotions++;
      return b;
    }
    // A private buffer whose write is pending stays (the reader pauses until it is free);
    // one that saw a small read goes back: the direction is not moving bulk data now.
    if (!pending && n < this.shared.length / 4) {
      this.demotions++;
      this.release(current);
      return this.shared;
    }
    return current;
  }
}

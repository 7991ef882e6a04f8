// Recording core/v1 Events about objects, as client-go's record package does
// for controllers: an event is created as `<object>.<hex time>`; the same
// event (same object, type, reason, message) seen again within a window bumps
// `count` and `lastTimestamp` on the existing Event instead of creating another
// (client-go's EventCorrelator, minus its spam filter). Recording is
// best-effort: a failure is logged, never thrown at the caller.
import { isStatusError } from '../api/errors.js';
import { findByKind } from '../api/resources.js';
import { systemClock, type Clock } from './clock.js';
import { errorText, silentLogger, type Logger } from './log.js';
import type { Client, KObject } from './types.js';

/** Structurally the same as controllers' EventRecord. */
export interface EventInput {
  involvedObject: { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string; resourceVersion?: string };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface EventRecorderOptions {
  /** source.component, e.g. the controller's name. */
  component: string;
  clock?: Clock;
  log?: Logger;
  /** How long a recorded event is bumped instead of re-created (default 10 min). */
  dedupeWindowMs?: number;
  /** How many distinct events are remembered for deduplication (default 4096). */
  maxTracked?: number;
}

interface Seen { namespace: string; name: string; count: number; lastAt: number }

const eventsResource = findByKind('v1', 'Event')!;

/** RFC 3339 with seconds, as metav1.Time marshals. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class EventRecorder {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly maxTracked: number;
  private readonly seen = new Map<string, Seen>();
  /** Per-event write chains: a bump must follow the create it bumps. */
  private readonly tails = new Map<string, Promise<void>>();
  private seq = 0;

  constructor(private readonly client: Client, private readonly opts: EventRecorderOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.windowMs = opts.dedupeWindowMs ?? 10 * 60_000;
    this.maxTracked = opts.maxTracked ?? 4096;
  }

  /** Records the event; resolves when written (or failed and logged). Never rejects. */
  record(e: EventInput): Promise<void> {
    const io = e.involvedObject;
    const key = [io.apiVersion, io.kind, io.namespace ?? '', io.name, io.uid ?? '', e.type, e.reason, e.message].join('\x00');
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.write(key, e)).catch((err: unknown) => {
      this.log.warn('recording event failed', { component: this.opts.component, reason: e.reason, object: `${io.kind}/${io.name}`, error: errorText(err) });
    });
    this.tails.set(key, next);
    void next.then(() => { if (this.tails.get(key) === next) this.tails.delete(key); });
    return next;
  }

  /** Waits for every event write in flight. */
  async flush(): Promise<void> {
    while (this.tails.size) await Promise.all([...this.tails.values()]);
  }

  /**
   * `<object>.<hex timestamp>`, as client-go's recorder names events. Not
   * generateName `<object>.`: kube-apiserver validates generateName as a DNS
   * subdomain with only a trailing '-' masked, so a trailing '.' is refused.
   */
  private eventName(objectName: string, nowMs: number): string {
    const nanos = BigInt(Math.floor(nowMs)) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    const suffix = nanos.toString(16);
    return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
  }

  private async write(key: string, e: EventInput): Promise<void> {
    const now = this.clock.now();
    const s = this.seen.get(key);
    if (s && now - s.lastAt <= this.windowMs) {
      try {
        await this.client.patch(eventsResource, s.namespace, s.name, 'merge', { count: s.count + 1, lastTimestamp: rfc3339(now) });
        s.count++;
        s.lastAt = now;
        return;
      } catch (err) {
        // The Event was deleted (TTL) meanwhile: make a new one.
        if (!(isStatusError(err) && err.code === 404)) throw err;
      }
    }
    const io = e.involvedObject;
    // Events about cluster-scoped objects live in "default", as client-go puts them.
    const namespace = io.namespace || 'default';
    const involvedObject: Record<string, string> = { apiVersion: io.apiVersion, kind: io.kind, name: io.name };
    if (io.namespace) involvedObject['namespace'] = io.namespace;
    if (io.uid) involvedObject['uid'] = io.uid;
    if (io.resourceVersion) involvedObject['resourceVersion'] = io.resourceVersion;
    const ev: KObject = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name: this.eventName(io.name, now), namespace },
      involvedObject, reason: e.reason, message: e.message, type: e.type,
      source: { component: this.opts.component },
      firstTimestamp: rfc3339(now), lastTimestamp: rfc3339(now), count: 1,
    };
    let created: KObject;
    try {
      created = await this.client.create(eventsResource, namespace, ev);
    } catch (err) {
      // Two events in the same tick of the clock: one more try with another suffix.
      if (!(isStatusError(err) && err.code === 409)) throw err;
      created = await this.client.create(eventsResource, namespace, { ...ev, metadata: { name: this.eventName(io.name, now), namespace } });
    }
    this.seen.delete(key);
    this.seen.set(key, { namespace, name: created.metadata?.name ?? '', count: 1, lastAt: now });
    while (this.seen.size > this.maxTracked) this.seen.delete(this.seen.keys().next().value!);
  }
}

// Human-readable durations, as k8s.io/apimachinery/pkg/util/duration prints
// them: the AGE column of every table, "5 (3m ago)" restart suffixes, event
// timestamps. Inputs are milliseconds (JavaScript's unit); Go works on
// nanoseconds and truncates every division toward zero, which Math.trunc
// reproduces for the magnitudes that matter here.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Up to ~2-3 significant figures: "45s", "119s", "2m3s", "10m", "179m", "3h4m",
 * "8h", "47h", "2d3h", "7d23h", "8d", "729d", "2y3d", "8y".
 *
 * Negative durations of up to two seconds count as "0s" — clocks of the client
 * and the server are allowed to disagree a little — anything earlier is
 * "<invalid>".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  // Seconds stay exact up to two minutes: "90s" reads better than "1m30s".
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(ms / HOUR);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    const d = Math.trunc(hours / 24);
    return h === 0 ? `${d}d` : `${d}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const years = Math.trunc(hours / 24 / 365);
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${years}y`;
}

/** One unit only: "45s", "59m", "23h", "364d", "2y" (duration.ShortHumanDuration). */
export function shortHumanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.trunc(ms / HOUR);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.trunc(hours / 24)}d`;
  return `${Math.trunc(ms / HOUR / 24 / 365)}y`;
}

/**
 * Milliseconds since the epoch of an RFC 3339 Time or MicroTime, or undefined
 * when absent or unparsable (a zero time, in Go's terms). MicroTime carries six
 * fractional digits; they are cut to milliseconds before parsing because not
 * every engine accepts more than three.
 */
export function parseTime(t: string | undefined | null): number | undefined {
  if (!t) return undefined;
  const normalized = t.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(normalized);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The AGE-style cell for a timestamp (printers.go translateTimestampSince):
 * `<unknown>` for a missing timestamp, otherwise humanDuration(now - t).
 */
export function translateTimestampSince(t: string | undefined | null, now: Date): string {
  const ms = parseTime(t);
  if (ms === undefined) return '<unknown>';
  return humanDuration(now.getTime() - ms);
}

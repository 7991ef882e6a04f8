// JSON forms of the apimachinery types that marshal themselves (metav1.Time,
// MicroTime, Duration): the same text Go's MarshalJSON writes.

const NS_PER_S = 1_000_000_000n;

function utcParts(seconds: number): string {
  const d = new Date(seconds * 1000);
  const year = d.getUTCFullYear();
  // Go's Time.MarshalJSON refuses years outside [0,9999].
  if (!Number.isFinite(seconds) || Number.isNaN(d.getTime()) || year < 0 || year > 9999) {
    throw new RangeError(`Time.MarshalJSON: year outside of range [0,9999] (seconds ${seconds})`);
  }
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(year, 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** metav1.Time: RFC 3339 in UTC at second precision, `2026-11-23T10:00:00Z`. */
export function formatTime(seconds: number): string {
  return utcParts(seconds) + 'Z';
}

/** metav1.MicroTime: RFC 3339 in UTC with six fractional digits, `2026-11-23T10:00:00.123456Z`. */
export function formatMicroTime(seconds: number, nanos: number): string {
  // Timestamp nanos are in [0, 1e9) even for negative seconds; normalise anything else.
  const extra = Math.floor(nanos / 1e9);
  const s = seconds + extra;
  const n = nanos - extra * 1e9;
  return `${utcParts(s)}.${String(Math.floor(n / 1000)).padStart(6, '0')}Z`;
}

/** Parses an RFC 3339 time into whole Unix seconds and nanoseconds; undefined when not a time. */
export function parseTime(text: string): { seconds: number; nanos: number } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]!.replace(/[t ]/, 'T')}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: m[2] ? Number(m[2].padEnd(9, '0')) : 0 };
}

/** Go's time.Duration.String(): `1h0m0s`, `1m30s`, `1.5s`, `300ms`, `2µs`, `0s`. */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < NS_PER_S) {
    const [unit, scale] = u < 1000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1000n] : ['ms', 1_000_000n];
    out = fraction(u, scale) + unit;
  } else {
    const h = u / (3600n * NS_PER_S);
    u -= h * 3600n * NS_PER_S;
    const m = u / (60n * NS_PER_S);
    u -= m * 60n * NS_PER_S;
    out = fraction(u, NS_PER_S) + 's';
    if (h > 0n || m > 0n) out = `${m}m` + out;
    if (h > 0n) out = `${h}h` + out;
  }
  return neg ? '-' + out : out;
}

function fraction(v: bigint, scale: bigint): string {
  const whole = v / scale;
  const rest = v % scale;
  if (rest === 0n) return String(whole);
  const digits = String(scale).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

const UNITS: Record<string, bigint> = {
  ns: 1n, us: 1000n, 'µs': 1000n, 'μs': 1000n, ms: 1_000_000n, s: NS_PER_S, m: 60n * NS_PER_S, h: 3600n * NS_PER_S,
};

/** Go's time.ParseDuration (`1h2m3.5s`, `-300ms`, `0`) into nanoseconds; undefined when malformed. */
export function parseDuration(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) { neg = s[0] === '-'; s = s.slice(1); }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  const re = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return undefined;
    const unit = UNITS[m[3]!]!;
    total += BigInt(m[1] || '0') * unit;
    if (m[2]) total += (BigInt(m[2].slice(0, 18).padEnd(18, '0')) * unit) / 10n ** 18n;
    s = s.slice(m[0].length);
  }
  return neg ? -total : total;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, shortHumanDuration, parseTime, translateTimestampSince } from './duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const Y = 365 * D;

test('humanDuration: every threshold of apimachinery duration.HumanDuration', () => {
  const cases: [number, string][] = [
    [-2 * S - 1, '<invalid>'],
    [-2 * S, '<invalid>'],
    // Up to two seconds of clock skew reads as now.
    [-1999, '0s'],
    [-1 * S, '0s'],
    [0, '0s'],
    [999, '0s'],
    [1 * S, '1s'],
    [59 * S, '59s'],
    [90 * S, '90s'],
    [119 * S + 999, '119s'],
    [2 * M, '2m'],
    [2 * M + 3 * S, '2m3s'],
    [9 * M + 59 * S, '9m59s'],
    [10 * M, '10m'],
    [10 * M + 59 * S, '10m'],
    [179 * M + 59 * S, '179m'],
    [3 * H, '3h'],
    [3 * H + 4 * M, '3h4m'],
    [7 * H + 59 * M + 59 * S, '7h59m'],
    [8 * H, '8h'],
    [47 * H + 59 * M, '47h'],
    [48 * H, '2d'],
    [2 * D + 3 * H, '2d3h'],
    [7 * D + 23 * H + 59 * M, '7d23h'],
    [8 * D, '8d'],
    [8 * D + 23 * H, '8d'],
    [729 * D + 23 * H, '729d'],
    [2 * Y, '2y'],
    [2 * Y + 3 * D, '2y3d'],
    [7 * Y + 364 * D, '7y364d'],
    [8 * Y, '8y'],
    [8 * Y + 200 * D, '8y'],
    [123 * Y, '123y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test('shortHumanDuration: one unit', () => {
  const cases: [number, string][] = [
    [-3 * S, '<invalid>'],
    [-1 * S, '0s'],
    [0, '0s'],
    [59 * S, '59s'],
    [60 * S, '1m'],
    [59 * M + 59 * S, '59m'],
    [H, '1h'],
    [23 * H + 59 * M, '23h'],
    [24 * H, '1d'],
    [364 * D, '364d'],
    [365 * D, '1y'],
    [3 * Y + 100 * D, '3y'],
  ];
  for (const [ms, want] of cases) assert.equal(shortHumanDuration(ms), want, `${ms}ms`);
});

test('parseTime and translateTimestampSince: RFC 3339, MicroTime, missing', () => {
  assert.equal(parseTime('2025-01-01T12:00:00Z'), Date.UTC(2025, 0, 1, 12));
  assert.equal(parseTime('2025-01-01T12:00:00.123456Z'), Date.UTC(2025, 0, 1, 12, 0, 0, 123));
  assert.equal(parseTime('2025-01-01T13:00:00+01:00'), Date.UTC(2025, 0, 1, 12));
  assert.equal(parseTime(undefined), undefined);
  assert.equal(parseTime(null), undefined);
  assert.equal(parseTime(''), undefined);
  assert.equal(parseTime('yesterday-ish'), undefined);
  const now = new Date('2025-01-01T12:00:00Z');
  assert.equal(translateTimestampSince('2025-01-01T11:55:00Z', now), '5m');
  assert.equal(translateTimestampSince(undefined, now), '<unknown>');
  // A timestamp from a clock slightly ahead still prints as now.
  assert.equal(translateTimestampSince('2025-01-01T12:00:01Z', now), '0s');
  assert.equal(translateTimestampSince('2025-01-01T12:00:05Z', now), '<invalid>');
});

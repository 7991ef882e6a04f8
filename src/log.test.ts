import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logEnabled, logger, setLogLevel, setLogSink } from './log.js';

test('logEnabled says what the threshold lets through, as emit does', () => {
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    setLogLevel('info');
    assert.equal(logEnabled('debug'), false);
    assert.equal(logEnabled('info'), true);
    assert.equal(logEnabled('error'), true);
    logger.debug('hidden');
    logger.info('shown', { a: 1 });
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, / INFO  shown a=1$/);
    setLogLevel('silent');
    assert.equal(logEnabled('error'), false);
  } finally {
    setLogLevel('warn');
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_RETRY_AFTER_MS, parseRetryAfterMs } from '../../src/runcomfy/retry-after.js';
import { isTerminalStatus, normalizeStatus } from '../../src/runcomfy/status.js';
import { normalizeCancelOutcome, toJobFailure } from '../../src/runcomfy/schemas.js';

describe('normalizeStatus', () => {
  it('maps the queue vocabulary and the result vocabulary', () => {
    const cases: Array<[string, string, boolean]> = [
      ['in_queue', 'queued', false],
      ['in_progress', 'running', false],
      ['completed', 'completed', true],
      ['cancelled', 'cancelled', true],
      ['canceled', 'cancelled', true],
      ['succeeded', 'succeeded', true],
      ['failed', 'failed', true],
      ['IN-PROGRESS', 'running', false],
      [' Completed ', 'completed', true],
      ['queued', 'queued', false],
      ['error', 'failed', true],
    ];
    for (const [raw, status, isTerminal] of cases) {
      assert.deepEqual(normalizeStatus(raw), { status, isTerminal }, raw);
    }
  });

  it('returns undefined for an unknown status instead of guessing', () => {
    assert.equal(normalizeStatus('warming_up_gpu'), undefined);
    assert.equal(normalizeStatus(''), undefined);
    assert.equal(isTerminalStatus('warming_up_gpu'), false);
    assert.equal(isTerminalStatus('canceled'), true);
    assert.equal(isTerminalStatus('in_queue'), false);
  });
});

describe('parseRetryAfterMs', () => {
  const nowMs = Date.parse('2026-05-01T12:00:00Z');

  it('reads delta-seconds, including decimals and arrays', () => {
    assert.equal(parseRetryAfterMs('3', nowMs), 3000);
    assert.equal(parseRetryAfterMs(' 0 ', nowMs), 0);
    assert.equal(parseRetryAfterMs('1.5', nowMs), 1500);
    assert.equal(parseRetryAfterMs(['2', '9'], nowMs), 2000);
  });

  it('reads an HTTP date relative to now, clamping the past to 0', () => {
    assert.equal(parseRetryAfterMs('Fri, 01 May 2026 12:00:30 GMT', nowMs), 30_000);
    assert.equal(parseRetryAfterMs('Fri, 01 May 2026 11:00:00 GMT', nowMs), 0);
  });

  it('ignores garbage, negatives and values beyond a day', () => {
    for (const value of [undefined, null, '', 'soon', '-5', '1e3', 'Mon', String(MAX_RETRY_AFTER_MS / 1000 + 1)]) {
      assert.equal(parseRetryAfterMs(value, nowMs), undefined, String(value));
    }
    assert.equal(parseRetryAfterMs('Sat, 01 May 2027 12:00:00 GMT', nowMs), undefined);
  });
});

describe('normalizeCancelOutcome and toJobFailure', () => {
  it('accepts both spellings of the cancel outcomes', () => {
    assert.equal(normalizeCancelOutcome('cancelled'), 'cancelled');
    assert.equal(normalizeCancelOutcome('canceled'), 'cancelled');
    assert.equal(normalizeCancelOutcome('not_cancellable'), 'not_cancellable');
    assert.equal(normalizeCancelOutcome('Not-Cancelable'), 'not_cancellable');
    assert.equal(normalizeCancelOutcome('maybe'), undefined);
  });

  it('normalises the three error shapes of a failed result', () => {
    assert.deepEqual(toJobFailure('CUDA out of memory'), { message: 'CUDA out of memory', raw: 'CUDA out of memory' });
    const fromArray = toJobFailure([
      { errorCode: 'E001', error: 'Prompt outputs failed validation', debugInfo: {} },
      { errorCode: 'E002', error: 'KSampler: value not in list' },
    ]);
    assert.equal(fromArray.message, 'Prompt outputs failed validation; KSampler: value not in list');
    assert.equal(fromArray.code, 'E001');
    const fromObject = toJobFailure({ type: 'OutOfMemoryError', message: 'Allocation on device failed' });
    assert.equal(fromObject.message, 'Allocation on device failed');
    assert.equal(fromObject.type, 'OutOfMemoryError');
    assert.equal(toJobFailure({}).message, 'job failed without an error message');
  });
});

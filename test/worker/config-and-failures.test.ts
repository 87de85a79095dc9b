import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTransientJobFailure } from '../../src/activities/job-failure.js';
import { ConfigError, copiesWithinBudget, parseWorkerConfig } from '../../src/config.js';

const validEnv = {
  RUNCOMFY_TOKEN: 'rc-secret-token-value',
  R2_ENDPOINT: 'https://account.r2.cloudflarestorage.com',
  R2_BUCKET: 'outputs',
  R2_ACCESS_KEY_ID: 'key-id',
  R2_SECRET_ACCESS_KEY: 'r2-secret-value',
};

test('worker configuration: defaults, and copy concurrency bounded by the memory budget', () => {
  const config = parseWorkerConfig(validEnv);
  assert.equal(config.temporal.address, '127.0.0.1:7233');
  assert.equal(config.temporal.taskQueue, 'generation-pipelines');
  assert.equal(config.ambiguousSubmitPolicy, 'fail');
  assert.equal(config.store.partSizeBytes, 8 * 1024 * 1024);
  // 256 MiB ÷ (8 MiB × (4 + 1)) = 6 copies at once.
  assert.equal(config.maxConcurrentCopies, 6);
  assert.equal(copiesWithinBudget(10, 8, 4), 1, 'at least one copy, whatever the budget');
  assert.equal(parseWorkerConfig({ ...validEnv, TEMPORAL_API_KEY: 'k' }).temporal.tls, true, 'an API key implies TLS');
  assert.equal(config.worker.v8Flags, '--max-semi-space-size=4');
  assert.equal(parseWorkerConfig({ ...validEnv, WORKER_V8_FLAGS: 'none' }).worker.v8Flags, '', 'none: no flags');
  assert.equal(parseWorkerConfig({ ...validEnv, WORKER_V8_FLAGS: ' --optimize-for-size --max-semi-space-size=2 ' }).worker.v8Flags, '--optimize-for-size --max-semi-space-size=2');
});

test('a bad configuration names every variable and the reason, never a value', () => {
  assert.throws(
    () => parseWorkerConfig({ ...validEnv, RUNCOMFY_TOKEN: '', R2_ENDPOINT: 'ftp://nope', COPY_PART_SIZE_MB: '2', AMBIGUOUS_SUBMIT_POLICY: 'maybe', POLL_MAX_INTERVAL_MS: 'soon', WORKER_V8_FLAGS: 'optimize; rm -rf /' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, 'CONFIG_INVALID');
      const text = error.problems.join('\n');
      assert.match(text, /RUNCOMFY_TOKEN: is required/);
      assert.match(text, /R2_ENDPOINT: expected an http\(s\) URL/);
      assert.match(text, /COPY_PART_SIZE_MB: must be at least 5/);
      assert.match(text, /AMBIGUOUS_SUBMIT_POLICY: expected fail or resubmit/);
      assert.match(text, /POLL_MAX_INTERVAL_MS: expected a number/);
      assert.match(text, /WORKER_V8_FLAGS: must be none, or V8 flags/);
      assert.ok(!error.message.includes('r2-secret-value') && !error.message.includes('ftp://nope'), 'values are never echoed');
      return true;
    },
  );
});

test('job failures: resource trouble is transient, a bad graph or input is not', () => {
  for (const message of ['CUDA out of memory. Tried to allocate 2.00 GiB', 'worker lost during execution', 'instance preempted', 'Connection reset by peer']) {
    assert.equal(isTransientJobFailure(message), true, message);
  }
  for (const message of ['Prompt outputs failed validation', 'Value not in list: ckpt_name', 'Required input is missing: image', 'cannot identify image file', undefined]) {
    assert.equal(isTransientJobFailure(message), false, String(message));
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatDuration } from '../../src/format.js';

test('one duration format for the CLI, the demo and activity messages', () => {
  assert.equal(formatDuration(400), '400 ms');
  assert.equal(formatDuration(1_500), '1.5s');
  assert.equal(formatDuration(65_000), '1m05s');
  assert.equal(formatDuration(2 * 3_600_000 + 3 * 60_000), '2h03m');
  assert.equal(formatDuration(Number.NaN), '-');
});

test('one byte format: binary units, three significant digits', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1024 * 1024), '1.0 MiB');
  assert.equal(formatBytes(150 * 1024 * 1024), '150 MiB');
});

/*
 * The history a pipeline's waits can add is bounded by construction: every phase it could ever run
 * (queue and run, for every job attempt of every step) gets a share of one event budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENTS_PER_READ, readsPerPhase } from '../../src/workflows/job-wait.js';
import { maxJobAttemptsLimit } from '../../src/pipeline/registry.js';

const TEMPORAL_EVENT_LIMIT = 51_200;

test('a small pipeline reads as often as its intervals ask, up to its share and at most 400 reads a phase', () => {
  assert.equal(readsPerPhase([1, 1, 1, 1]), Math.min(400, Math.floor(25_000 / (EVENTS_PER_READ * 8))));
  assert.equal(readsPerPhase([1]), 400);
  assert.equal(readsPerPhase([3, 3, 3, 3]), Math.floor(25_000 / (EVENTS_PER_READ * 24)));
});

test('the largest allowed pipeline stays far below Temporal’s event limit', () => {
  for (const steps of [1, 4, 8, 16, 32]) {
    for (const attempts of [1, 2, 5, maxJobAttemptsLimit]) {
      const perStep = Array.from({ length: steps }, () => attempts);
      const reads = readsPerPhase(perStep);
      const phases = 2 * steps * attempts;
      // Submits, copies and their workflow tasks: generously 24 events per job attempt, 100 fixed.
      const bound = reads * EVENTS_PER_READ * phases + 24 * steps * attempts + 100;
      assert.ok(reads >= 4, `${steps}×${attempts}: at least the reads a phase needs (${reads})`);
      assert.ok(bound < TEMPORAL_EVENT_LIMIT * 0.8, `${steps} steps × ${attempts} attempts: at most ${bound} events`);
    }
  }
});

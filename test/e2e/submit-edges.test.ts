/*
 * Submit retries driven by the workflow: the server's Retry-After is honoured (the delay travels in
 * the failure's details, since nextRetryDelay does not reach workflow code), and only answers that
 * prove the job was refused are retried; a 500 with RunComfy's JSON error body is an unknown outcome.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { STEP_FAILURE_TYPES } from '../../src/contract/pipeline-contract.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack();
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

function t2iOnly(prefix: string): PipelineSpec {
  return { pipelineId: uniqueName(prefix), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a red kite', seed: 5 } }] };
}

test('submit retries wait as long as Retry-After asks (3 s), as the emulator saw them', async () => {
  const retryAfterSeconds = 3;
  const rule = await admin.addFault({ kind: 'rate_limit', deploymentId: t2i, operations: ['submit'], count: null, retryAfterSeconds });
  const since = Date.now();
  const handle = await stack.start(t2iOnly('retry-after'));
  let hitTimesMs: number[];
  try {
    hitTimesMs = await eventually(
      async () => {
        const current = (await admin.faults()).find((f) => f.id === rule.id);
        return current && current.hitTimesMs.length >= 3 ? current.hitTimesMs : undefined;
      },
      { timeoutMs: 60_000, what: 'three rate-limited submits' },
    );
  } finally {
    await admin.removeFault(rule.id);
  }
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const accepted = (await admin.jobs({ deploymentId: t2i })).filter((j) => j.submitted_at_ms >= since);
  assert.equal(accepted.length, 1, 'one paid job');
  // The rule was removed after three hits; a fourth may have raced the removal.
  const current = (await admin.faults()).find((f) => f.id === rule.id);
  const times = [...(current?.hitTimesMs ?? hitTimesMs), accepted[0]!.submitted_at_ms].sort((a, b) => a - b);
  const spacingsMs = times.slice(1).map((t, i) => t - times[i]!);
  console.log(`submit spacing seen by the emulator with Retry-After ${retryAfterSeconds} s: ${spacingsMs.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')}`);
  for (const ms of spacingsMs) assert.ok(ms >= retryAfterSeconds * 1000 - 50, `a retry came ${ms} ms after the previous submit, before Retry-After allowed`);
  await recordHistory(handle, 'edges-submit-retry-after');
});

test("a 500 with RunComfy's JSON error body on submit is an unknown outcome: not resubmitted, the step fails clearly", async () => {
  await admin.addFault({ kind: 'server_error', deploymentId: t2i, operations: ['submit'], count: 1, statusCode: 500 });
  const before = (await admin.counters(t2i)).total.submits;
  const handle = await stack.start(t2iOnly('submit-500'));
  const error = await handle.result().then(
    () => assert.fail('the pipeline should fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WorkflowFailedError);
  assert.ok(error.cause instanceof ApplicationFailure);
  const details = error.cause.details?.[0] as Record<string, unknown>;
  assert.equal(details['type'], STEP_FAILURE_TYPES.submitOutcomeUnknown);
  assert.equal(details['stepId'], 'image');
  assert.match(error.cause.message, /step "image" failed: the submit's outcome is unknown .*HTTP 500/);
  assert.equal((await admin.counters(t2i)).total.submits - before, 1, 'the submit was sent once');
  await admin.clearFaults();
});

/*
 * Billing stops, or someone is told: cancelling a RunComfy job is retried through RunComfy trouble for
 * a configurable budget and its outcome is recorded on the attempt and counted. Copies queue without
 * dying: a copy waiting for this worker's only memory slot (or for a slow first byte) heartbeats.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { cancelPipelineSignal } from '../../src/contract/pipeline-contract.js';
import { eventually, startPipelineStack, uniqueName, type PipelineStack } from '../support/pipeline-stack.js';

const stack: PipelineStack = await startPipelineStack({
  env: {
    // One copy at a time (40 MiB budget / (8 MiB parts × 5)), and a short heartbeat timeout.
    COPY_MEMORY_BUDGET_MB: '40',
    PERSIST_HEARTBEAT_TIMEOUT_MS: '1500',
    // Short for the test; the default is 45 minutes.
    CANCEL_RETRY_BUDGET_MS: '10000',
  },
});
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

function t2iOnly(prefix: string): PipelineSpec {
  return { pipelineId: uniqueName(prefix), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a tin robot', seed: 2 } }] };
}

async function runningJob(since: number) {
  return eventually(async () => (await admin.jobs({ deploymentId: t2i })).find((j) => j.state === 'in_progress' && j.submitted_at_ms >= since), { timeoutMs: 30_000, what: 'a running job' });
}

test('copies waiting for the only copy slot, behind a slow download, never time out', async () => {
  assert.equal(stack.config.maxConcurrentCopies, 1);
  // Each download answers after 4 s: far beyond the 1.5 s heartbeat timeout, with nothing copied yet.
  await admin.addFault({ kind: 'delay', deploymentId: t2i, operations: ['download'], count: null, delayMs: 4_000 });
  try {
    const handles = await Promise.all([stack.start(t2iOnly('slot-a')), stack.start(t2iOnly('slot-b')), stack.start(t2iOnly('slot-c'))]);
    const results = await Promise.all(handles.map((h) => h.result()));
    assert.deepEqual(results.map((r) => r.status), ['succeeded', 'succeeded', 'succeeded']);
    const persistAttempts: number[] = [];
    for (const handle of handles) {
      const events = (await handle.fetchHistory()).events ?? [];
      const persistScheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'persistOutputs').map((e) => String(e.eventId)));
      for (const e of events) {
        const started = e.activityTaskStartedEventAttributes;
        if (started && persistScheduled.has(String(started.scheduledEventId))) persistAttempts.push(started.attempt ?? 1);
      }
    }
    assert.deepEqual(persistAttempts, [1, 1, 1], 'every copy succeeded on its first attempt, none timed out while queued');
  } finally {
    await admin.clearFaults();
  }
});

test('a cancel that RunComfy answers with 503 six times is retried until confirmed, and recorded', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 60_000 } });
  try {
    const since = Date.now();
    const handle = await stack.start(t2iOnly('cancel-retried'));
    const job = await runningJob(since);
    await admin.addFault({ kind: 'server_error', deploymentId: t2i, operations: ['cancel'], count: 6, statusCode: 503 });
    const cancelsBefore = (await admin.counters(t2i)).total.cancels;
    await handle.signal(cancelPipelineSignal, { reason: 'stop' });
    const result = await handle.result();
    assert.equal(result.status, 'cancelled');
    assert.equal(result.steps[0]?.attempts[0]?.cancelOutcome, 'confirmed');
    assert.equal((await admin.job(job.request_id)).state, 'cancelled', 'the job stopped billing');
    assert.ok((await admin.counters(t2i)).total.cancels - cancelsBefore >= 7, 'six refused cancels, then one that worked');
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

test('a cancel RunComfy never accepts within the budget is recorded unconfirmed and counted', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 30_000 } });
  try {
    const since = Date.now();
    const handle = await stack.start(t2iOnly('cancel-unconfirmed'));
    await runningJob(since);
    await admin.addFault({ kind: 'server_error', deploymentId: t2i, operations: ['cancel'], count: null, statusCode: 503 });
    const startedAt = Date.now();
    await handle.signal(cancelPipelineSignal, { reason: 'stop' });
    const result = await handle.result();
    const waitedMs = Date.now() - startedAt;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.steps[0]?.attempts[0]?.cancelOutcome, 'unconfirmed');
    assert.ok(waitedMs >= 9_000, `the cancel was retried for its 10 s budget (took ${waitedMs} ms)`);
    const metrics = await stack.worker!.metrics.registry.metrics();
    assert.match(metrics, /^rcp_job_cancels_total\{outcome="unconfirmed"\} [1-9]/m);
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

/*
 * Waiting for a job holds no activity: status reads are short activities between durable
 * timers, and a `jobNudge` signal (what the webhook receiver sends) cuts a timer short. The
 * backstop interval here is long (30 s), so every read these tests see was prompted by a nudge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { jobNudgeSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { MAX_NUDGED_READS_PER_PHASE } from '../../src/workflows/job-wait.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack({ env: { POLL_INITIAL_INTERVAL_MS: '30000', POLL_MAX_INTERVAL_MS: '30000' } });
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

function t2iOnly(prefix: string): PipelineSpec {
  return { pipelineId: uniqueName(prefix), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 5 } }] };
}

async function submitted(handle: Awaited<ReturnType<typeof stack.start>>): Promise<string> {
  return eventually(async () => (await handle.query(pipelineProgressQuery)).steps[0]?.wait ? (await handle.query(pipelineProgressQuery)).steps[0]?.requestId : undefined, { timeoutMs: 60_000, what: 'the wait to start' });
}

test('a nudge wakes the wait at once; a nudge for another request is ignored; no activity is pending meanwhile', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 200 } });
  const handle = await stack.start(t2iOnly('nudge'));
  const requestId = await submitted(handle);
  const description = await stack.client.workflowService.describeWorkflowExecution({ namespace: stack.temporal.namespace, execution: { workflowId: handle.workflowId } });
  assert.equal(description.pendingActivities?.length ?? 0, 0, 'waiting holds no activity');
  await eventually(async () => ((await admin.job(requestId)).state === 'completed' ? true : undefined), { what: 'the job to end' });

  await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId: 'some-other-request', status: 'succeeded' });
  await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 2, requestId, status: 'succeeded' });
  const unread = await handle.query(pipelineProgressQuery);
  assert.equal(unread.steps[0]?.wait?.statusReads, 0, 'nudges for another request or attempt prompt no read');

  await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId, status: 'succeeded' });
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const attempt = result.steps[0]!.attempts[0]!;
  assert.equal(attempt.statusReads, 1, 'one read, prompted by the nudge, found the job ended');
  assert.equal(attempt.nudgedReads, 1);
  const history = await handle.fetchHistory();
  const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  assert.deepEqual(scheduled, ['submitJob', 'readJobStatus', 'persistOutputs'], 'the submit, the one short read, and the copy');
});

test('nudges that repeat what the wait knows are dropped, and a storm of them cannot multiply reads', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 120_000 } });
  try {
    const handle = await stack.start(t2iOnly('storm'));
    const requestId = await submitted(handle);
    await eventually(async () => ((await admin.job(requestId)).state === 'in_progress' ? true : undefined), { what: 'the job to run' });
    await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId, status: 'in_progress' });
    await eventually(async () => ((await handle.query(pipelineProgressQuery)).steps[0]?.state === 'running' ? true : undefined), { what: 'the run phase' });
    // Known to be running: repeats of in_progress change nothing.
    for (let i = 0; i < 10; i++) await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId, status: 'in_progress' });
    assert.equal((await handle.query(pipelineProgressQuery)).steps[0]?.wait?.statusReads, 1);
    // Nudges without a status word each prompt a read (nudges landing together share one), up to the per-phase cap.
    const readsNow = async () => (await handle.query(pipelineProgressQuery)).steps[0]?.wait?.statusReads ?? 0;
    // The read that saw the job running belonged to the queue phase: the run phase has its own cap.
    for (let i = 0; i < MAX_NUDGED_READS_PER_PHASE; i++) {
      const before = await readsNow();
      await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId });
      await eventually(async () => ((await readsNow()) > before ? true : undefined), { what: `read ${before + 1}` });
    }
    assert.equal(await readsNow(), 1 + MAX_NUDGED_READS_PER_PHASE, 'one read per nudge until the cap');
    for (let i = 0; i < 20; i++) await handle.signal(jobNudgeSignal, { stepId: 'image', attempt: 1, requestId });
    // The progress query runs after the signals in the same order: had they prompted reads, they would show.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await readsNow(), 1 + MAX_NUDGED_READS_PER_PHASE, 'past the cap, nudges prompt no read (the backstop still reads)');
    await handle.cancel();
    await assert.rejects(handle.result());
    assert.equal((await admin.job(requestId)).state, 'cancelled', 'a Temporal cancel during the wait cancels the job');
  } finally {
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

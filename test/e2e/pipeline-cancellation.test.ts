import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { cancelPipelineSignal } from '../../src/contract/pipeline-contract.js';
import { storeFaceImage } from '../support/face-image.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack();
const { admin } = stack.emulator;
const t2iDeployment = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');
const faceswapDeployment = stack.emulator.deploymentId('fofr_reactor_faceswap');

async function specFor(prefix: string) {
  const pipelineId = uniqueName(prefix);
  return defaultPipelineSpec({ pipelineId, prompt: 'a quiet harbour', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
}

async function jobOf(deploymentId: string, state: 'in_queue' | 'in_progress', since: number) {
  return eventually(async () => (await admin.jobs({ deploymentId })).find((j) => j.state === state && j.submitted_at_ms >= since), { what: `a ${state} job` });
}

async function assertNothingRunning(): Promise<void> {
  const live = (await admin.jobs()).filter((j) => j.state === 'in_queue' || j.state === 'in_progress');
  assert.deepEqual(live.map((j) => j.request_id), [], 'no job is left queued or running at RunComfy');
}

test('a cancel signal during the queue phase cancels the queued job and ends the pipeline cancelled', async () => {
  // One instance, busy with a long job: the next job waits in the queue.
  await admin.updateDeploymentConfig(t2iDeployment, { max_instances: 1, timing: { durationMs: 60_000 } });
  try {
    const since = Date.now();
    const blocker = await stack.start(await specFor('blocker'));
    await jobOf(t2iDeployment, 'in_progress', since);
    const spec = await specFor('cancel-queued');
    const handle = await stack.start(spec);
    const queued = await jobOf(t2iDeployment, 'in_queue', since);
    const cancelsBefore = (await admin.counters(t2iDeployment)).total.cancels;
    await handle.signal(cancelPipelineSignal, { reason: 'user changed their mind', requestedBy: 'e2e' });
    const result = await handle.result();
    assert.equal(result.status, 'cancelled');
    assert.equal(result.cancelReason, 'user changed their mind');
    assert.equal(result.steps[0]?.state, 'cancelled');
    assert.equal(result.steps[0]?.requestId, queued.request_id);
    assert.deepEqual(result.steps.slice(1).map((s) => s.state), ['skipped', 'skipped', 'skipped']);
    assert.equal((await admin.job(queued.request_id)).state, 'cancelled');
    assert.ok((await admin.counters(t2iDeployment)).total.cancels > cancelsBefore, 'a cancel reached RunComfy');
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    await recordHistory(handle, 'cancel-signal-queued');
    await blocker.signal(cancelPipelineSignal, { reason: 'test over' });
    assert.equal((await blocker.result()).status, 'cancelled');
    await assertNothingRunning();
  } finally {
    await admin.updateDeploymentConfig(t2iDeployment, { max_instances: 8, timing: { durationMs: 150 } });
  }
});

test('a cancel signal during the run phase cancels the running job and keeps what was persisted', async () => {
  await admin.updateDeploymentConfig(faceswapDeployment, { timing: { durationMs: 60_000 } });
  try {
    const since = Date.now();
    const spec = await specFor('cancel-running');
    const handle = await stack.start(spec);
    const running = await jobOf(faceswapDeployment, 'in_progress', since);
    await handle.signal(cancelPipelineSignal, { reason: 'budget cut' });
    const result = await handle.result();
    assert.equal(result.status, 'cancelled');
    const [t2i, faceswap] = result.steps;
    assert.equal(t2i?.state, 'succeeded');
    assert.ok((t2i?.outputs.length ?? 0) > 0, 'the text-to-image output is kept and reported');
    assert.equal(faceswap?.state, 'cancelled');
    assert.equal((await admin.job(running.request_id)).state, 'cancelled');
    await assertNothingRunning();
    await recordHistory(handle, 'cancel-signal-running');
  } finally {
    await admin.updateDeploymentConfig(faceswapDeployment, { timing: { durationMs: 150 } });
  }
});

test('a Temporal cancellation cancels the running job and ends the workflow cancelled', async () => {
  await admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 60_000 } });
  try {
    const since = Date.now();
    const spec = await specFor('cancel-temporal');
    const handle = await stack.start(spec);
    const running = await jobOf(t2iDeployment, 'in_progress', since);
    await handle.cancel();
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.ok(error.cause instanceof CancelledFailure);
      return true;
    });
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    assert.equal((await admin.job(running.request_id)).state, 'cancelled');
    await assertNothingRunning();
    await recordHistory(handle, 'cancel-temporal');
  } finally {
    await admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 150 } });
  }
});

test('a cancel that lands while a status read is in flight still ends the pipeline cancelled, not failed', async () => {
  // Every status read takes 3 s, so the poll is almost always inside one when the cancel arrives.
  await admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 60_000 } });
  await admin.addFault({ kind: 'delay', deploymentId: t2iDeployment, operations: ['status'], count: null, delayMs: 3_000 });
  try {
    const since = Date.now();
    const handle = await stack.start(await specFor('cancel-mid-read'));
    const running = await jobOf(t2iDeployment, 'in_progress', since);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await handle.signal(cancelPipelineSignal, { reason: 'mid-read' });
    const result = await handle.result();
    assert.equal(result.status, 'cancelled');
    assert.equal(result.steps[0]?.state, 'cancelled');
    assert.equal((await admin.job(running.request_id)).state, 'cancelled');
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 150 } });
  }
});

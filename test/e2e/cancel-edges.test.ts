/*
 * Cancellation at the edges of a step: while a step's outputs are copied (middle and last step),
 * while a submit is in flight, and between a job finishing and the next status read. Whatever the
 * edge: no paid job is submitted after the cancel reached the workflow, outputs of finished jobs are
 * kept and listed, and the pipeline ends cancelled (signal: result `cancelled`; Temporal: Canceled).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { cancelPipelineSignal, pipelineProgressQuery, type PipelineProgress } from '../../src/contract/pipeline-contract.js';
import { storeFaceImage } from '../support/face-image.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack();
const { admin } = stack.emulator;
const deployments = {
  t2i: stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i'),
  faceswap: stack.emulator.deploymentId('fofr_reactor_faceswap'),
  upscale: stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile'),
  i2v: stack.emulator.deploymentId('fofr_hunyuan_i2v'),
};

async function specFor(prefix: string) {
  const pipelineId = uniqueName(prefix);
  return defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
}

type Handle = Awaited<ReturnType<typeof stack.start>>;

async function stepState(handle: Handle, index: number, state: string): Promise<PipelineProgress> {
  return eventually(
    async () => {
      const progress = await handle.query(pipelineProgressQuery);
      return progress.steps[index]?.state === state ? progress : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 25, what: `step ${index} to be ${state}` },
  );
}

async function submitsTo(deploymentId: string): Promise<number> {
  return (await admin.counters(deploymentId)).total.submits;
}

async function assertNothingRunning(): Promise<void> {
  const live = (await admin.jobs()).filter((j) => j.state === 'in_queue' || j.state === 'in_progress');
  assert.deepEqual(live.map((j) => j.request_id), [], 'no job is left queued or running at RunComfy');
}

async function assertTemporalCancelled(handle: Handle): Promise<void> {
  await assert.rejects(handle.result(), (error: unknown) => {
    assert.ok(error instanceof WorkflowFailedError, String(error));
    assert.ok(error.cause instanceof CancelledFailure, `expected a cancellation, got ${String(error.cause)}`);
    return true;
  });
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
}

async function assertStored(progress: PipelineProgress, index: number): Promise<void> {
  const step = progress.steps[index]!;
  assert.equal(step.state, 'succeeded', `step ${step.id} kept its outputs`);
  assert.ok(step.outputs.length > 0, `step ${step.id} lists its outputs`);
  for (const output of step.outputs) assert.ok(await stack.store.head(output.key), `${output.key} is in the store`);
}

/** Every download of the deployment's outputs answers after `delayMs`: the copy is slow enough to cancel during it. */
async function slowCopies(deploymentId: string, delayMs = 5_000) {
  return admin.addFault({ kind: 'delay', deploymentId, operations: ['download'], count: null, delayMs });
}

for (const how of ['signal', 'temporal'] as const) {
  test(`a ${how} cancel during a middle step's copy keeps its outputs and submits no further job`, async () => {
    await slowCopies(deployments.faceswap);
    try {
      const handle = await stack.start(await specFor(`cancel-copy-mid-${how}`));
      await stepState(handle, 1, 'persisting');
      const upscaleSubmitsBefore = await submitsTo(deployments.upscale);
      const i2vSubmitsBefore = await submitsTo(deployments.i2v);
      if (how === 'signal') await handle.signal(cancelPipelineSignal, { reason: 'stop after this one' });
      else await handle.cancel();
      let progress: PipelineProgress;
      if (how === 'signal') {
        progress = await handle.result();
        assert.equal(progress.status, 'cancelled');
      } else {
        await assertTemporalCancelled(handle);
        progress = await handle.query(pipelineProgressQuery);
      }
      assert.equal(await submitsTo(deployments.upscale), upscaleSubmitsBefore, 'no submit after the cancel');
      assert.equal(await submitsTo(deployments.i2v), i2vSubmitsBefore, 'no submit after the cancel');
      await assertStored(progress, 1);
      assert.deepEqual(progress.steps.slice(2).map((s) => s.state), ['skipped', 'skipped']);
      await assertNothingRunning();
      await recordHistory(handle, `edges-cancel-${how}-mid-copy`);
    } finally {
      await admin.clearFaults();
    }
  });

  test(`a ${how} cancel during the last step's copy ends the pipeline cancelled with every output listed`, async () => {
    await slowCopies(deployments.i2v);
    try {
      const handle = await stack.start(await specFor(`cancel-copy-last-${how}`));
      await stepState(handle, 3, 'persisting');
      if (how === 'signal') await handle.signal(cancelPipelineSignal, { reason: 'too late, but asked' });
      else await handle.cancel();
      let progress: PipelineProgress;
      if (how === 'signal') {
        progress = await handle.result();
        assert.equal(progress.status, 'cancelled', 'a cancel accepted before the last output was kept ends the pipeline cancelled');
        assert.equal((await handle.describe()).status.name, 'COMPLETED');
      } else {
        await assertTemporalCancelled(handle);
        progress = await handle.query(pipelineProgressQuery);
      }
      for (const index of [0, 1, 2, 3]) await assertStored(progress, index);
      await recordHistory(handle, `edges-cancel-${how}-last-copy`);
    } finally {
      await admin.clearFaults();
    }
  });
}

test('a cancel while a submit is in flight lets it finish, cancels its job and submits nothing else', async () => {
  // The submit takes 8 s to be answered, and its job would then run for a minute.
  const fault = await admin.addFault({ kind: 'delay', deploymentId: deployments.faceswap, operations: ['submit'], count: 1, delayMs: 8_000 });
  await admin.updateDeploymentConfig(deployments.faceswap, { timing: { durationMs: 60_000 } });
  try {
    const handle = await stack.start(await specFor('cancel-in-flight-submit'));
    await stepState(handle, 1, 'submitting');
    await eventually(async () => ((await admin.faults()).find((f) => f.id === fault.id) ? undefined : true), { what: 'the submit to reach RunComfy' });
    const faceswapSubmitsBefore = await submitsTo(deployments.faceswap);
    const upscaleSubmitsBefore = await submitsTo(deployments.upscale);
    await handle.signal(cancelPipelineSignal, { reason: 'mid-submit' });
    const signalledAtMs = Date.now();
    const progress = await handle.result();
    assert.equal(progress.status, 'cancelled');
    const faceswap = progress.steps[1]!;
    assert.ok(faceswap.requestId && (await admin.job(faceswap.requestId)).submitted_at_ms > signalledAtMs, 'the cancel reached the server while the submit was in flight');
    assert.equal(faceswap.state, 'cancelled');
    assert.ok(faceswap.requestId, 'the in-flight submit finished and its request id is known');
    assert.equal((await admin.job(faceswap.requestId)).state, 'cancelled', 'its job was cancelled');
    assert.equal(faceswap.attempts[0]?.cancelOutcome, 'confirmed');
    assert.equal(await submitsTo(deployments.faceswap), faceswapSubmitsBefore, 'the submit was not repeated');
    assert.equal(await submitsTo(deployments.upscale), upscaleSubmitsBefore, 'no later step was submitted');
    await assertNothingRunning();
    await recordHistory(handle, 'edges-cancel-in-flight-submit');
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(deployments.faceswap, { timing: { durationMs: 150 } });
  }
});

test('a cancel landing after the job finished but before the next status read keeps the paid outputs', async () => {
  await admin.updateDeploymentConfig(deployments.t2i, { timing: { durationMs: 1_000 } });
  try {
    const since = Date.now();
    const handle = await stack.start(await specFor('cancel-after-finish'));
    const job = await eventually(async () => (await admin.jobs({ deploymentId: deployments.t2i })).find((j) => j.state === 'in_progress' && j.submitted_at_ms >= since), { what: 'the t2i job to run' });
    // The next status read is told to come back in 10 s: the job finishes in the meantime.
    await admin.addFault({ kind: 'rate_limit', deploymentId: deployments.t2i, operations: ['status'], count: 1, retryAfterSeconds: 10 });
    await eventually(async () => ((await admin.job(job.request_id)).state === 'completed' ? true : undefined), { what: 'the t2i job to finish' });
    const faceswapSubmitsBefore = await submitsTo(deployments.faceswap);
    await handle.signal(cancelPipelineSignal, { reason: 'raced the finish' });
    const progress = await handle.result();
    assert.equal(progress.status, 'cancelled');
    assert.equal(progress.steps[0]?.attempts[0]?.cancelOutcome, 'already-finished');
    await assertStored(progress, 0);
    assert.equal(await submitsTo(deployments.faceswap), faceswapSubmitsBefore, 'nothing submitted after the cancel');
    await recordHistory(handle, 'edges-cancel-after-finish');
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(deployments.t2i, { timing: { durationMs: 150 } });
  }
});

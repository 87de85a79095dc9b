import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeploymentRegistry } from '../../src/pipeline/registry.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { cancelPipelineSignal, STEP_FAILURE_TYPES } from '../../src/contract/pipeline-contract.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

// A second t2i deployment with a tiny run budget, for the over-budget case.
const stack = await startPipelineStack({
  registry: (registry: DeploymentRegistry) => {
    const flux = registry.deployments['flux-t2i']!;
    registry.deployments['flux-t2i-tight'] = { ...flux, budgets: { queueTimeoutMs: 60_000, runTimeoutMs: 400 } };
    registry.deployments['flux-t2i-short-queue'] = { ...flux, budgets: { queueTimeoutMs: 400, runTimeoutMs: 60_000 } };
    return registry;
  },
});
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

function t2iOnly(prefix: string, deployment = 'flux-t2i'): PipelineSpec {
  return { pipelineId: uniqueName(prefix), steps: [{ id: 'image', kind: 't2i', deployment, params: { prompt: 'a lantern', seed: 3 } }] };
}

async function stepFailure(run: Promise<unknown>): Promise<{ message: string; details: Record<string, unknown> }> {
  let caught: unknown;
  try {
    await run;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WorkflowFailedError, `expected the pipeline to fail, got ${String(caught)}`);
  const cause = caught.cause;
  assert.ok(cause instanceof ApplicationFailure);
  assert.equal(cause.type, 'PipelineStepFailed');
  return { message: cause.message, details: cause.details?.[0] as Record<string, unknown> };
}

async function countersDelta<T>(action: () => Promise<T>): Promise<{ value: T; submits: number; accepted: number }> {
  const before = (await admin.counters(t2i)).total;
  const value = await action();
  const after = (await admin.counters(t2i)).total;
  return { value, submits: after.submits - before.submits, accepted: after.acceptedJobs - before.acceptedJobs };
}

test('a job that fails for good fails the pipeline, naming the step, the request id and the remote error, without a second job', async () => {
  await admin.addFault({ kind: 'job_failure', deploymentId: t2i, count: 1, failure: { kind: 'permanent', message: 'Prompt outputs failed validation: ckpt_name not in list' } });
  const spec = t2iOnly('job-fails');
  const { value: failure, accepted } = await countersDelta(async () => {
    const handle = await stack.start(spec);
    const f = await stepFailure(handle.result());
    await recordHistory(handle, 'job-failed-permanent');
    return f;
  });
  assert.equal(accepted, 1, 'a validation failure is never retried');
  assert.match(failure.message, /step "image" failed \(RunComfy request [\w-]+\)/);
  assert.match(failure.message, /not in list/);
  assert.equal(failure.details['stepId'], 'image');
  assert.equal(failure.details['type'], STEP_FAILURE_TYPES.jobFailed);
  assert.match(String(failure.details['remoteError']), /failed validation/);
  const jobs = await admin.jobs({ deploymentId: t2i });
  assert.ok(jobs.some((j) => j.request_id === failure.details['requestId'] && j.outcome === 'failed'));
});

test('a job that fails for a transient cause is resubmitted after a backoff and the step succeeds', async () => {
  await admin.addFault({ kind: 'job_failure', deploymentId: t2i, count: 1, failure: { kind: 'transient', message: 'CUDA out of memory' } });
  const { value: result, accepted } = await countersDelta(() => stack.run(t2iOnly('job-transient')));
  assert.equal(result.status, 'succeeded');
  const step = result.steps[0]!;
  assert.equal(step.attempts.length, 2);
  assert.equal(step.attempts[0]!.status, 'failed');
  assert.match(step.attempts[0]!.error ?? '', /out of memory/);
  assert.equal(step.attempts[1]!.status, 'succeeded');
  assert.equal(accepted, 2, 'one paid job per attempt');
});

test('429 and 5xx storms on submit and status are ridden out, and a rejected submit never becomes a second job', async () => {
  await admin.addFault({ kind: 'rate_limit', deploymentId: t2i, operations: ['submit'], count: 3, retryAfterSeconds: 0 });
  await admin.addFault({ kind: 'server_error', deploymentId: t2i, operations: ['submit'], count: 2, statusCode: 503, retryAfterSeconds: 0 });
  await admin.addFault({ kind: 'server_error', deploymentId: t2i, operations: ['status'], count: 6, statusCode: 503 });
  await admin.addFault({ kind: 'rate_limit', deploymentId: t2i, operations: ['status', 'result'], count: 4, retryAfterSeconds: 0 });
  const { value: result, submits, accepted } = await countersDelta(() => stack.run(t2iOnly('storm')));
  assert.equal(result.status, 'succeeded');
  assert.equal(accepted, 1, 'exactly one job was accepted');
  assert.equal(submits, 6, 'five rejected submits and one accepted');
  assert.deepEqual(await admin.faults(), [], 'every injected fault was consumed');
});

test('a submit whose answer is lost is not blindly repeated: the step fails with an unknown outcome', async () => {
  await admin.addFault({ kind: 'lost_response', deploymentId: t2i, count: 1 });
  const spec = t2iOnly('lost-answer');
  const { value: failure, submits } = await countersDelta(async () => stepFailure((await stack.start(spec)).result()));
  assert.equal(submits, 1, 'no second paid job');
  assert.equal(failure.details['type'], STEP_FAILURE_TYPES.submitOutcomeUnknown);
  assert.match(failure.message, /outcome is unknown/);
});

test('an output URL that has expired fails the step with a clear error', async () => {
  await admin.addFault({ kind: 'error_response', deploymentId: t2i, operations: ['download'], count: null, statusCode: 404, errorCode: 404001, message: 'not found' });
  try {
    const failure = await stepFailure((await stack.start(t2iOnly('expired'))).result());
    assert.equal(failure.details['type'], STEP_FAILURE_TYPES.outputExpired);
    assert.match(failure.message, /gone at its source/);
  } finally {
    await admin.clearFaults();
  }
});

test('a step over its run budget is cancelled at RunComfy and fails with a clear error', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 30_000 } });
  try {
    const spec = t2iOnly('over-budget', 'flux-t2i-tight');
    const handle = await stack.start(spec);
    const failure = await stepFailure(handle.result());
    assert.equal(failure.details['type'], STEP_FAILURE_TYPES.runBudgetExceeded);
    assert.match(failure.message, /still running after .* run budget is 400 ms/);
    const job = await admin.job(String(failure.details['requestId']));
    assert.equal(job.state, 'cancelled', 'the job over budget was cancelled at RunComfy');
    await recordHistory(handle, 'run-budget-exceeded');
  } finally {
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

test('a step that waits in the queue beyond its queue budget is cancelled at RunComfy and fails with a clear error', async () => {
  // One instance, busy with a long job: the next job cannot leave the queue.
  await admin.updateDeploymentConfig(t2i, { max_instances: 1, timing: { durationMs: 60_000 } });
  const since = Date.now();
  const blocker = await stack.start(t2iOnly('queue-blocker'));
  try {
    await eventually(async () => (await admin.jobs({ deploymentId: t2i, state: 'in_progress' })).find((j) => j.submitted_at_ms >= since), { what: 'the blocking job to run' });
    const handle = await stack.start(t2iOnly('queue-budget', 'flux-t2i-short-queue'));
    const failure = await stepFailure(handle.result());
    assert.equal(failure.details['type'], STEP_FAILURE_TYPES.queueBudgetExceeded);
    assert.match(failure.message, /still queued after .* queue budget is 400 ms/);
    assert.equal((await admin.job(String(failure.details['requestId']))).state, 'cancelled', 'the queued job was cancelled');
  } finally {
    await blocker.signal(cancelPipelineSignal, { reason: 'test over' });
    await blocker.result();
    await admin.updateDeploymentConfig(t2i, { max_instances: 8, timing: { durationMs: 150 } });
  }
});

test('a spec that does not fit the registry fails before any job is submitted', async () => {
  const spec: PipelineSpec = { pipelineId: uniqueName('bad-param'), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x', sampler: 'euler' } }] };
  const { submits } = await countersDelta(async () => {
    const handle = await stack.start(spec);
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.ok(error.cause instanceof ApplicationFailure);
      assert.equal(error.cause.type, 'InvalidPipelineSpec');
      assert.match(error.cause.message, /sampler/);
      return true;
    });
  });
  assert.equal(submits, 0);
});

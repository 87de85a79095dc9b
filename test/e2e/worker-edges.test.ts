/*
 * Edges that involve the worker process itself: a cancel that arrives while the waiting worker is
 * dead (no poll activity has to time out first), and a graceful shutdown while a submit is
 * in flight (the POST finishes within the grace period instead of becoming an unknown outcome).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseWorkerConfig } from '../../src/config.js';
import { createPipelineWorker } from '../../src/worker/pipeline-worker.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { cancelPipelineSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const stack = await startPipelineStack({ noWorker: true });
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

function startWorkerProcess(env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { ...process.env, ...stack.env, LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', () => children.delete(child));
  children.add(child);
  return Object.assign(child, { output: () => output });
}

/**
 * An in-process worker on the test's task queue, built (workflows bundled) but not yet polling:
 * `run()` starts it at once, and returns how to stop it.
 */
async function prepareInProcessWorker(env: Record<string, string> = {}) {
  const worker = await createPipelineWorker({ config: parseWorkerConfig({ ...stack.env, ...env }), registry: stack.registry });
  return {
    run() {
      const running = worker.run();
      return async () => {
        worker.worker.shutdown();
        await running;
      };
    },
  };
}

function t2iOnly(prefix: string): PipelineSpec {
  return { pipelineId: uniqueName(prefix), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a paper boat', seed: 11 } }] };
}

test('a cancel while the waiting worker is dead ends the pipeline cancelled and cancels the job', async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 120_000 } });
  // A long heartbeat timeout (frozen into the pipeline by the worker that prepares it): the cancel
  // request reaches the server before the dead worker's poll times out.
  const first = startWorkerProcess({ POLL_HEARTBEAT_TIMEOUT_MS: '30000' });
  // Bundling takes seconds on a loaded machine: done before the kill, so the replacement polls at once.
  const second = await prepareInProcessWorker();
  let stopSecond: (() => Promise<void>) | undefined;
  try {
    const since = Date.now();
    const handle = await stack.start(t2iOnly('cancel-dead-worker'));
    const running = await eventually(async () => (await admin.jobs({ deploymentId: t2i })).find((j) => j.state === 'in_progress' && j.submitted_at_ms >= since), {
      timeoutMs: 60_000,
      what: 'the job to run',
    });
    // Only once the workflow knows the request and polls it: a kill during the submit is another case.
    await eventually(async () => ((await handle.query(pipelineProgressQuery)).steps[0]?.state === 'running' ? true : undefined), { timeoutMs: 60_000, what: 'the poll of the running job' });
    first.kill('SIGKILL');
    await once(first, 'exit');
    await handle.signal(cancelPipelineSignal, { reason: 'worker gone' });
    stopSecond = second.run();
    const result = await handle.result();
    assert.equal(result.status, 'cancelled', 'a timeout with a cancel requested is a cancellation, not a failure');
    assert.equal(result.steps[0]?.state, 'cancelled');
    assert.equal(result.steps[0]?.attempts[0]?.cancelOutcome, 'confirmed');
    assert.equal((await admin.job(running.request_id)).state, 'cancelled', 'the job stopped billing');
    const history = await handle.fetchHistory();
    // Nothing held an activity slot while the job ran: the cancel did not wait for a dead poll to time out.
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    assert.ok(!scheduled.includes('awaitJob'), `no poll activity was scheduled (${scheduled.join(', ')})`);
    await recordHistory(handle, 'edges-cancel-dead-worker');
  } finally {
    await stopSecond?.();
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

test('a graceful shutdown lets a submit in flight finish: one job, and the pipeline completes on the next worker', async () => {
  const fault = await admin.addFault({ kind: 'delay', deploymentId: t2i, operations: ['submit'], count: 1, delayMs: 2_500 });
  const first = startWorkerProcess({ SHUTDOWN_GRACE_MS: '15000' });
  const second = await prepareInProcessWorker();
  let stopSecond: (() => Promise<void>) | undefined;
  try {
    const before = (await admin.counters(t2i)).total;
    const handle = await stack.start(t2iOnly('shutdown-mid-submit'));
    await eventually(async () => ((await admin.faults()).some((f) => f.id === fault.id) ? undefined : true), { timeoutMs: 60_000, what: 'the submit to be in flight' });
    first.kill('SIGTERM');
    const [code] = (await once(first, 'exit')) as [number | null];
    assert.equal(code, 0, `the worker drained and exited cleanly:\n${first.output().slice(-2000)}`);
    stopSecond = second.run();
    const result = await handle.result();
    assert.equal(result.status, 'succeeded');
    assert.equal(result.steps[0]?.attempts.length, 1);
    const afterCounters = (await admin.counters(t2i)).total;
    assert.equal(afterCounters.submits - before.submits, 1, 'one submit');
    assert.equal(afterCounters.acceptedJobs - before.acceptedJobs, 1, 'one paid job');
  } finally {
    await stopSecond?.();
    await admin.clearFaults();
  }
});

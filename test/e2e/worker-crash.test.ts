import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { storeFaceImage } from '../support/face-image.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const stack = await startPipelineStack({ noWorker: true });
const { admin } = stack.emulator;
const workers = new Set<ChildProcess>();
after(() => {
  for (const worker of workers) worker.kill('SIGKILL');
});

/** The real worker entry point, as a process of its own (so it can be killed like a crashed pod). */
function startWorkerProcess(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { ...process.env, ...stack.env, LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', (code, signal) => {
    workers.delete(child);
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') console.error(`worker exited with ${code ?? signal}:\n${output}`);
  });
  workers.add(child);
  return child;
}

test('a worker killed with SIGKILL while polling is replaced and the pipeline completes with one submit per step', async () => {
  const upscale = stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile');
  await admin.updateDeploymentConfig(upscale, { timing: { durationMs: 6_000 } });
  const pipelineId = uniqueName('crash');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a storm over the sea', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const before = await admin.counters();
  const first = startWorkerProcess();
  const handle = await stack.start(spec);

  // Kill it mid-poll: the upscale job is running and the worker is waiting on it.
  const running = await eventually(async () => (await admin.jobs({ deploymentId: upscale })).find((j) => j.state === 'in_progress'), { timeoutMs: 60_000, what: 'the upscale job to run' });
  first.kill('SIGKILL');
  await once(first, 'exit');

  startWorkerProcess();
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const upscaleStep = result.steps.find((s) => s.kind === 'upscale');
  assert.equal(upscaleStep?.requestId, running.request_id, 'the new worker resumed the same request');
  assert.equal(upscaleStep?.attempts.length, 1);

  const afterCounters = await admin.counters();
  assert.equal(afterCounters.total.submits - before.total.submits, 4, 'exactly one submit per step');
  assert.equal(afterCounters.total.acceptedJobs - before.total.acceptedJobs, 4);
  await recordHistory(handle, 'worker-crash-resume');
});

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { getFreePort } from '../../src/devstack/ports.js';
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
function startWorkerProcess(extraEnv: Record<string, string> = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { ...process.env, ...stack.env, LOG_LEVEL: 'WARN', ...extraEnv },
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
  return Object.assign(child, { output: () => output });
}

test('a worker killed with SIGKILL while a job runs is replaced and the pipeline completes with one submit per step', async () => {
  const upscale = stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile');
  await admin.updateDeploymentConfig(upscale, { timing: { durationMs: 6_000 } });
  const pipelineId = uniqueName('crash');
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a storm over the sea', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
  const before = await admin.counters();
  const first = startWorkerProcess();
  const handle = await stack.start(spec);

  // Kill it mid-wait: the upscale job is running and the workflow is waiting on it.
  const running = await eventually(async () => (await admin.jobs({ deploymentId: upscale })).find((j) => j.state === 'in_progress'), { timeoutMs: 60_000, what: 'the upscale job to run' });
  // RunComfy running the job does not mean Temporal has recorded the submit: on a loaded machine the
  // worker can still be reporting it. Killed then, the submit is an unknown outcome (by policy a
  // failed step), which is not what this test is about: wait until the workflow waits on the job.
  await eventually(
    async () => {
      const progress = await handle.query(pipelineProgressQuery);
      return progress.steps.find((step) => step.kind === 'upscale')?.wait?.statusReads ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'the upscale job to be waited on' },
  );
  first.kill('SIGKILL');
  await once(first, 'exit');

  const metricsPort = await getFreePort();
  const second = startWorkerProcess({ METRICS_PORT: String(metricsPort), LOG_LEVEL: 'INFO' });
  const result = await handle.result().catch((error: unknown) => {
    const cause = (error as { cause?: { message?: string } }).cause;
    throw new Error(`the pipeline failed: ${cause?.message ?? String(error)}\nfirst worker:\n${first.output().slice(-3000)}\nsecond worker:\n${second.output().slice(-3000)}`);
  });
  assert.equal(result.status, 'succeeded');
  const upscaleStep = result.steps.find((s) => s.kind === 'upscale');
  assert.equal(upscaleStep?.requestId, running.request_id, 'the new worker resumed the same request');
  assert.equal(upscaleStep?.attempts.length, 1);

  const afterCounters = await admin.counters();
  assert.equal(afterCounters.total.submits - before.total.submits, 4, 'exactly one submit per step');
  assert.equal(afterCounters.total.acceptedJobs - before.total.acceptedJobs, 4);
  await recordHistory(handle, 'worker-crash-resume');

  // The replacement worker exports its own metrics and writes one JSON object per log line.
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^rcp_status_reads_total \d+/m);
  assert.match(metrics, /^rcp_bytes_copied_total [1-9]\d*/m);
  assert.match(metrics, /^rcp_step_duration_seconds_count\{kind="i2v"\} 1$/m);
  const logLines = second.output().split('\n').filter((line) => line.startsWith('{'));
  assert.ok(logLines.length > 0, 'the worker logged');
  for (const line of logLines) assert.doesNotThrow(() => JSON.parse(line));
  assert.ok(!second.output().includes(stack.env['RUNCOMFY_TOKEN']!), 'the token is never logged');

  // SIGTERM is a graceful shutdown: the worker drains and exits 0.
  second.kill('SIGTERM');
  const [code] = (await once(second, 'exit')) as [number | null];
  assert.equal(code, 0);
});

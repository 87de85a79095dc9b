/**
 * Signed callbacks, the backend's key layout and GPU facts, end to end: real Temporal, real S3,
 * the emulator, and a callback receiver on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import type { CallbackDeliveryRecord, PipelineEventData, StepEventData } from '../../src/callbacks/events.js';
import { callbackOutboxWorkflowId } from '../../src/callbacks/events.js';
import { InvalidPipelineSpecError, PipelineCancelledError, PipelineClient } from '../../src/client/index.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack } from '../support/pipeline-stack.js';
import { startCallbackReceiver } from './receiver.js';

const run = promisify(execFile);
const rcp = fileURLToPath(new URL('../../bin/rcp.js', import.meta.url));
const SECRET = 'whsec_' + Buffer.from('a test secret of enough length').toString('base64');
const receiver = await startCallbackReceiver(SECRET);
const stack = await startPipelineStack({
  env: {
    CALLBACK_SECRET: SECRET,
    CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
    CALLBACK_RETRY_WINDOW_MS: '60000',
    CALLBACK_TIMEOUT_MS: '2000',
    OUTPUT_KEY_PREFIXES: 'users/',
  },
});
const pipelines = new PipelineClient({ client: stack.client, taskQueue: stack.taskQueue, store: stack.store });
const t2iDeployment = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');
const TEMPLATE = 'users/{userId}/characters/{characterId}/{label:category}/{jobId}_{index}_{rand8}.{ext}';

function specFor(path: string, extra: Partial<PipelineSpec> = {}): PipelineSpec {
  return {
    pipelineId: randomUUID(),
    correlation: { userId: randomUUID(), characterId: randomUUID() },
    labels: { category: 'portrait' },
    outputKeyTemplate: TEMPLATE,
    callback: { url: receiver.url(path) },
    steps: [
      { id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a lighthouse at dusk', seed: 3 } },
      { id: 'upscale', kind: 'upscale', deployment: 'ultimate-upscale', params: { prompt: 'sharp', upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 't2i' } } },
    ],
    ...extra,
  };
}

/** The worker's Prometheus counter of GPU seconds on the t2i deployment (cumulative over this file's jobs). */
async function gpuSecondsCounted(): Promise<number> {
  const metric = await stack.worker!.metrics.registry.getSingleMetricAsString('rcp_gpu_seconds_total');
  return Number(new RegExp(`rcp_gpu_seconds_total\\{deployment="${t2iDeployment}"\\} ([0-9.e-]+)`).exec(metric)?.[1] ?? 0);
}

async function outboxRecords(pipelineId: string): Promise<CallbackDeliveryRecord[]> {
  return (await stack.client.workflow.getHandle(callbackOutboxWorkflowId(pipelineId)).result()) as CallbackDeliveryRecord[];
}

test('a pipeline sends signed callbacks in sequence, retried after a 503, and writes outputs under the template', async () => {
  const spec = specFor('/flaky');
  await pipelines.start(spec);
  const result = await pipelines.result(spec.pipelineId);
  const records = await outboxRecords(spec.pipelineId);
  const events = receiver.deliveredFor(spec.pipelineId);
  if (process.env.RCP_SHOW_CALLBACKS) for (const e of events) console.log(JSON.stringify(e));

  assert.ok(receiver.received.filter((r) => r.event.pipelineId === spec.pipelineId).every((r) => r.verified), 'every delivery is signed with the secret');
  assert.deepEqual(events.map((e) => e.sequence), [...events.map((e) => e.sequence)].sort((a, b) => a - b));
  assert.equal(new Set(events.map((e) => e.sequence)).size, events.length);
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'step.started');
  assert.equal(types.at(-1), 'pipeline.completed');
  for (const stepId of ['t2i', 'upscale']) {
    const ofStep = events.filter((e) => (e.data as StepEventData).stepId === stepId).map((e) => e.type);
    assert.equal(ofStep[0], 'step.started', `${stepId} starts first`);
    assert.equal(ofStep.at(-1), 'step.succeeded', `${stepId} ends succeeded`);
  }
  // Every delivered event was first answered 503 and redelivered with the same id.
  for (const event of events) {
    const deliveries = receiver.received.filter((r) => r.event.id === event.id);
    assert.deepEqual(deliveries.map((d) => d.answered), [503, 200], `event ${event.sequence} retried once`);
    assert.equal(deliveries[0]?.body, deliveries[1]?.body, 'a redelivery carries the same body');
  }
  assert.ok(records.every((r) => r.outcome === 'delivered' || r.outcome === 'superseded'));
  assert.ok(events.every((e) => e.correlation?.userId === spec.correlation?.userId));

  const keys = result.steps.flatMap((s) => s.outputs.map((o) => o.key));
  assert.ok(keys.length >= 2);
  const layout = new RegExp(`^users/${spec.correlation!.userId}/characters/${spec.correlation!.characterId}/portrait/${spec.pipelineId}_\\d{2}_[0-9a-f]{8}\\.[a-z0-9]+$`);
  for (const key of keys) assert.match(key, layout);
  assert.equal(new Set(keys).size, keys.length, 'every output has its own key');
  const terminal = events.at(-1)!.data as PipelineEventData;
  assert.deepEqual(terminal.outputs.map((o) => o.key).sort(), [...keys].sort());
  assert.deepEqual(terminal.gpu.totals.stepsWithGpu, ['t2i', 'upscale']);
  // The emulator's results carry created_at/finished_at, as RunComfy's do: the facts measure by them.
  assert.equal(terminal.gpu.timing, 'runcomfy-timestamps');
  assert.ok(terminal.gpu.steps.every((step) => step.attempts.every((attempt) => attempt.timing === 'runcomfy-timestamps')));
  assert.equal(events.at(-1)!.progress, 100);
  await recordHistory(stack.client.workflow.getHandle(`pipeline-${spec.pipelineId}`), 'callbacks-key-template');
  await recordHistory(stack.client.workflow.getHandle(callbackOutboxWorkflowId(spec.pipelineId)), 'callback-outbox-retried');
  const link = await pipelines.presignOutput(keys[0]!);
  assert.equal((await fetch(link)).status, 200, 'a key presigns on read');
});

test('a backend that is down never slows the pipeline; a 400 is recorded and not retried', async () => {
  const down = specFor('/down', { steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'x', seed: 1 } }] });
  const rejecting = specFor('/reject', { steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'y', seed: 2 } }] });
  await Promise.all([pipelines.start(down), pipelines.start(rejecting)]);
  const [downResult] = await Promise.all([pipelines.result(down.pipelineId), pipelines.result(rejecting.pipelineId)]);
  assert.equal(downResult.status, 'succeeded');
  // The pipeline ended while its outbox is still retrying the first event.
  const outbox = await stack.client.workflow.getHandle(callbackOutboxWorkflowId(down.pipelineId)).describe();
  assert.equal(outbox.status.name, 'RUNNING');
  await eventually(() => receiver.received.filter((r) => r.event.pipelineId === down.pipelineId).length >= 2 || undefined, { what: 'retries to a down backend' });
  await stack.client.workflow.getHandle(callbackOutboxWorkflowId(down.pipelineId)).terminate('test over');

  const records = await outboxRecords(rejecting.pipelineId);
  assert.ok(records.length >= 2);
  assert.ok(records.filter((r) => r.outcome !== 'superseded').every((r) => r.outcome === 'rejected' && r.httpStatus === 400 && r.attempts === 1), JSON.stringify(records));
  for (const record of records.filter((r) => r.outcome === 'rejected')) {
    assert.equal(receiver.received.filter((r) => r.event.id === record.id).length, 1, 'a rejected event is sent once');
  }
  assert.equal(records.at(-1)?.type, 'pipeline.completed');
});

test('a cancelled pipeline names the steps that spent GPU time, in its result and its terminal callback', async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 3_000 } });
  try {
    const spec = specFor('/ok');
    const countedBefore = await gpuSecondsCounted();
    await pipelines.start(spec);
    await eventually(async () => ((await pipelines.getStatus(spec.pipelineId)).steps[0]?.state === 'running' ? true : undefined), { what: 't2i running', intervalMs: 100 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await pipelines.cancel(spec.pipelineId, 'user cancelled');
    const cancelled = await pipelines.result(spec.pipelineId).then(
      () => assert.fail('the pipeline was expected to end cancelled'),
      (error: unknown) => error as PipelineCancelledError,
    );
    assert.ok(cancelled instanceof PipelineCancelledError);
    const gpu = (await pipelines.getStatus(spec.pipelineId)).gpu!;
    if (process.env.RCP_SHOW_CALLBACKS) console.log(JSON.stringify(gpu, null, 2));
    assert.deepEqual(gpu.totals.stepsWithGpu, ['t2i']);
    assert.deepEqual(gpu.totals.stepsWithoutGpu, ['upscale']);
    const t2i = gpu.steps[0]!;
    assert.equal(t2i.attempts[0]?.outcome, 'cancelled');
    assert.ok(t2i.runSeconds > 0.3 && t2i.runSeconds < 3, `run seconds ${t2i.runSeconds}`);
    assert.deepEqual(t2i.hardware, ['AMPERE_48']);
    // A job cancelled at RunComfy is measured by the status transitions the workflow saw.
    assert.equal(gpu.timing, 'status-transitions');
    const counted = (await gpuSecondsCounted()) - countedBefore;
    // The metric stops at the cancel request, the facts at RunComfy's confirmation: a lower bound of them.
    assert.ok(counted > 0.3 && counted <= t2i.runSeconds + 0.5, `Prometheus counts the cancelled job's GPU time on its deployment (${counted} s, facts ${t2i.runSeconds} s)`);
    await outboxRecords(spec.pipelineId);
    const events = receiver.deliveredFor(spec.pipelineId);
    if (process.env.RCP_SHOW_CALLBACKS) for (const r of receiver.received.filter((x) => x.event.pipelineId === spec.pipelineId)) console.log(`${r.answered} ${r.headers['webhook-id']} t=${r.headers['webhook-timestamp']} sig=${String(r.headers['webhook-signature']).slice(0, 16)}… ${r.body}`);
    assert.equal(events.at(-1)?.type, 'pipeline.cancelled');
    assert.deepEqual((events.at(-1)?.data as PipelineEventData).gpu.totals.stepsWithGpu, ['t2i']);
    assert.ok(events.some((e) => e.type === 'step.cancelled' && (e.data as StepEventData).gpu?.gpuSpent === true));
    await recordHistory(stack.client.workflow.getHandle(`pipeline-${spec.pipelineId}`), 'callbacks-cancel-signal-running');
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 150 } });
  }
});

test('an unlisted callback host, a template outside the prefixes, a non-UUID job id or an unknown field start nothing', async () => {
  const checked = new PipelineClient({ client: stack.client, taskQueue: stack.taskQueue, integration: { allowedKeyPrefixes: ['users/'], callbackHosts: ['127.0.0.1'] } });
  const cases: [Partial<PipelineSpec> | Record<string, unknown>, RegExp][] = [
    [{ callback: { url: 'https://backend.example.com/hooks' } }, /callback\.url host is not in the allowed callback hosts/],
    [{ outputKeyTemplate: 'tmp/{jobId}_{index}_{rand8}.{ext}' }, /outputKeyTemplate must start with one of the allowed prefixes: users\//],
    [{ outputKeyTemplate: 'users/../{jobId}_{index}.{ext}' }, /outputKeyTemplate must not contain/],
    [{ pipelineId: 'job-42' }, /pipeline id must be a UUID/],
    [{ correlation: { userId: randomUUID(), accountId: 'x' } }, /accountId/],
    [{ correlation: { userId: 'user-1' } }, /correlation\.userId must be a UUID/],
  ];
  for (const [change, message] of cases) {
    const spec = { ...specFor('/ok'), ...change };
    await assert.rejects(checked.start(spec), (error: unknown) => error instanceof InvalidPipelineSpecError && message.test(error.message));
    await assert.rejects(stack.client.workflow.getHandle(`pipeline-${spec.pipelineId}`).describe(), /not found/i, 'nothing started');
  }
  // The worker refuses it too, before any job, when a client did not check.
  const before = (await stack.emulator.admin.counters(t2iDeployment)).total.submits;
  const spec = specFor('/ok', { callback: { url: 'http://localhost:9/hooks' } });
  await pipelines.start(spec);
  await assert.rejects(pipelines.result(spec.pipelineId), /callback\.url host is not in the allowed callback hosts/);
  assert.equal((await stack.emulator.admin.counters(t2iDeployment)).total.submits, before, 'no job was submitted');
});

test('rcp list --user finds the pipelines of one backend user, with their correlation ids', async () => {
  const userId = randomUUID();
  const mine = [specFor('/ok'), specFor('/ok')].map((spec) => ({ ...spec, correlation: { userId, characterId: randomUUID() }, steps: [spec.steps[0]!] }));
  await Promise.all([...mine, specFor('/ok')].map((spec) => pipelines.start(spec)));
  const env = { PATH: process.env.PATH ?? '', TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: stack.temporal.namespace, TEMPORAL_TASK_QUEUE: stack.taskQueue };
  const listed = await eventually(async () => {
    const { stdout } = await run(process.execPath, [rcp, 'list', '--user', userId, '--json'], { env });
    const found = (JSON.parse(stdout) as { pipelines: { pipelineId: string; correlation?: { userId: string } }[] }).pipelines;
    return found.length === 2 ? found : undefined;
  }, { what: "the user's two pipelines", intervalMs: 200 });
  assert.deepEqual(listed.map((p) => p.pipelineId).sort(), mine.map((s) => s.pipelineId).sort());
  assert.ok(listed.every((p) => p.correlation?.userId === userId));
  await assert.rejects(run(process.execPath, [rcp, 'list', '--user', 'user-7', '--json'], { env }), (error: { code?: number; stdout?: string }) => error.code === 2 && /expected a UUID/.test(error.stdout ?? ''));
  await Promise.all(mine.map((spec) => pipelines.result(spec.pipelineId)));
});

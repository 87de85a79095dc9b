import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { inspect } from 'node:util';
import {
  InvalidPipelineSpecError,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineClient,
  PipelineFailedError,
  PipelineNotFoundError,
  type PipelineStatusView,
} from '../../src/client/index.js';
import { encodePngRgb } from '../../src/emulator/media/png.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { createPipelineWorker } from '../../src/worker/pipeline-worker.js';
import { STEP_FAILURE_TYPES } from '../../src/contract/pipeline-contract.js';
import { pipelineStatusSearchAttribute } from '../../src/contract/search-attributes.js';
import { storeFaceImage } from '../support/face-image.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

// The worker is run here rather than by the stack: the last test stops it to prove closed
// pipelines are described from Temporal alone.
const stack = await startPipelineStack({ noWorker: true, emulator: { timing: { durationMs: 100, jitterMs: 0, coldStartMs: 0 } } });
const worker = await createPipelineWorker({ config: stack.config, registry: stack.registry });
const workerRun = worker.run();
let workerStopped = false;
after(async () => {
  if (!workerStopped) worker.worker.shutdown();
  await workerRun;
});

const pipelines = await PipelineClient.connect({
  address: stack.temporal.address,
  namespace: stack.temporal.namespace,
  taskQueue: stack.taskQueue,
  store: { ...stack.s3 },
  registry: stack.registry,
  queryTimeoutMs: 1_500,
});
after(() => pipelines.close());

const t2iDeploymentId = stack.registry.deployments['flux-t2i']!.deploymentId;
const faceswapDeploymentId = stack.registry.deployments['reactor-faceswap']!.deploymentId;
const since = new Date(Date.now() - 2_000);
const ended = { succeeded: '', failed: '', cancelled: '' };

function imageSpec(pipelineId: string, prompt: string): PipelineSpec {
  return { pipelineId, steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt, seed: 7 } }] };
}

async function swapSpec(pipelineId: string): Promise<PipelineSpec> {
  const faceImageUrl = await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`);
  return {
    pipelineId,
    steps: [
      { id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a portrait', seed: 3 } },
      { id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl }, inputs: { targetImageUrl: { fromStep: 't2i' } } },
    ],
  };
}

test('start is idempotent by pipeline id: same spec → the existing pipeline, another spec → a typed error', async () => {
  const pipelineId = uniqueName('idem');
  const first = await pipelines.start(imageSpec(pipelineId, 'a lighthouse'));
  assert.equal(first.alreadyStarted, false);
  assert.equal(first.workflowId, `pipeline-${pipelineId}`);

  // Key order does not change a spec's identity.
  const reordered = { steps: [{ params: { seed: 7, prompt: 'a lighthouse' }, deployment: 'flux-t2i', kind: 't2i', id: 't2i' }], pipelineId };
  const again = await pipelines.start(reordered);
  assert.deepEqual(again, { ...first, alreadyStarted: true });

  await assert.rejects(pipelines.start(imageSpec(pipelineId, 'a different lighthouse')), (error: unknown) => {
    assert.ok(error instanceof PipelineAlreadyStartedError);
    assert.equal(error.code, 'PIPELINE_ALREADY_STARTED');
    assert.equal(error.pipelineId, pipelineId);
    assert.match(error.message, new RegExp(pipelineId));
    return true;
  });

  const result = await pipelines.result(pipelineId);
  assert.equal(result.status, 'succeeded');
  assert.equal(result.steps[0]?.outputs[0]?.media, 'image');
  // Closed pipelines are never started twice either.
  assert.deepEqual(await pipelines.start(imageSpec(pipelineId, 'a lighthouse')), { ...first, alreadyStarted: true });
  ended.succeeded = pipelineId;
});

test('an invalid spec is refused with field paths before anything starts', async () => {
  const pipelineId = uniqueName('invalid');
  await assert.rejects(pipelines.start({ pipelineId, steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { seed: 'seven' } }] }), (error: unknown) => {
    assert.ok(error instanceof InvalidPipelineSpecError);
    assert.equal(error.code, 'PIPELINE_SPEC_INVALID');
    const paths = error.issues.map((issue) => issue.path);
    assert.ok(paths.includes('steps[0].params'), `missing prompt is reported: ${paths.join(', ')}`);
    assert.ok(paths.includes('steps[0].params.seed'), `bad seed is reported: ${paths.join(', ')}`);
    return true;
  });
  await assert.rejects(pipelines.getStatus(pipelineId), PipelineNotFoundError);

  // The registry given to the client is checked too.
  await assert.rejects(pipelines.start({ pipelineId, steps: [{ id: 't2i', kind: 't2i', deployment: 'no-such-deployment', params: { prompt: 'x' } }] }), (error: unknown) => {
    assert.ok(error instanceof InvalidPipelineSpecError);
    assert.deepEqual(error.issues.map((issue) => issue.path), ['steps[0].deployment']);
    return true;
  });

  const hugeFace = `data:image/png;base64,${'A'.repeat(70_000)}`;
  const spec = await swapSpec(pipelineId);
  const swap = spec.steps[1]!;
  swap.params['faceImageUrl'] = hugeFace;
  await assert.rejects(pipelines.start(spec), (error: unknown) => {
    assert.ok(error instanceof InvalidPipelineSpecError);
    assert.equal(error.issues[0]?.path, 'steps[1].params.faceImageUrl');
    assert.match(error.message, /uploadInput\(\)/);
    return true;
  });
  await assert.rejects(pipelines.getStatus(pipelineId), PipelineNotFoundError, 'no workflow was started');
});

test('status while running shows the queue position of a waiting job; cancel then ends it as cancelled', async () => {
  // Long enough that a loaded machine cannot finish the first job before the second is observed queued.
  await stack.emulator.admin.updateDeploymentConfig(t2iDeploymentId, { timing: { durationMs: 60_000 }, max_instances: 1, min_instances: 1 });
  try {
    const first = uniqueName('busy');
    const second = uniqueName('queued');
    await pipelines.start(imageSpec(first, 'first in line'));
    await eventually(async () => (await stack.emulator.admin.jobs({ deploymentId: t2iDeploymentId, state: 'in_progress' })).length > 0 || undefined, { what: 'the first job to run' });
    await pipelines.start(imageSpec(second, 'second in line'));

    const queued = await eventually(async () => {
      const view = await pipelines.getStatus(second);
      return view.live?.['t2i']?.queuePosition !== undefined ? view : undefined;
    }, { what: 'a heartbeat with a queue position' });
    assert.equal(queued.runStatus, 'RUNNING');
    assert.equal(queued.source, 'query');
    assert.equal(queued.status, 'running');
    assert.equal(queued.steps[0]?.state, 'waiting');
    const live = queued.live!['t2i']!;
    // No activity holds a slot while the job waits: the view comes from the workflow's last status read.
    assert.equal(live.activity, 'waitForJob');
    assert.equal(live.activityState, 'timer');
    assert.ok((live.statusReads ?? 0) >= 1);
    assert.equal(live.remoteStatus, 'in_queue');
    assert.equal(live.requestId, queued.steps[0]?.requestId);
    // One job runs, this one waits first in line: the emulator counts from 0, as RunComfy does.
    assert.equal(live.queuePosition, (await stack.emulator.admin.job(live.requestId!)).queue_position);
    assert.equal(live.queuePosition, 0);
    assert.match(queued.webUiPath ?? '', new RegExp(`/workflows/pipeline-${second}/${queued.runId}/history$`));

    const running = await eventually(async () => {
      const view = await pipelines.getStatus(first);
      return view.live?.['t2i']?.remoteStatus === 'in_progress' ? view : undefined;
    }, { what: 'the running job' });
    assert.equal(running.steps[0]?.state, 'running');

    await pipelines.cancel(second, 'not needed any more', 'client-test');
    await assert.rejects(pipelines.result(second), (error: unknown) => {
      assert.ok(error instanceof PipelineCancelledError);
      assert.equal(error.code, 'PIPELINE_CANCELLED');
      assert.equal(error.reason, 'not needed any more');
      assert.deepEqual(error.outputs, []);
      return true;
    });
    const job = await stack.emulator.admin.job(queued.steps[0]!.requestId!);
    assert.equal(job.state, 'cancelled', 'the queued RunComfy job was cancelled');
    await pipelines.cancel(first, 'test over');
    await assert.rejects(pipelines.result(first), PipelineCancelledError);
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(t2iDeploymentId, { timing: { durationMs: 100 }, max_instances: 8 });
  }
});

test('a cancelled pipeline keeps the outputs already persisted', async () => {
  await stack.emulator.admin.updateDeploymentConfig(faceswapDeploymentId, { timing: { durationMs: 60_000 } });
  try {
    const pipelineId = uniqueName('cancel');
    await pipelines.start(await swapSpec(pipelineId));
    await eventually(async () => {
      const view = await pipelines.getStatus(pipelineId);
      return view.steps[1]?.requestId !== undefined && view.steps[0]?.state === 'succeeded' ? view : undefined;
    }, { what: 'the second step to be submitted' });
    await pipelines.cancel(pipelineId, 'user left', 'client-test');
    const error = await pipelines.result(pipelineId).then(
      () => assert.fail('result() must throw for a cancelled pipeline'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PipelineCancelledError);
    assert.equal(error.reason, 'user left');
    assert.ok(error.outputs.length > 0);
    assert.ok(error.outputs.every((output) => output.stepId === 't2i' && output.key.startsWith(`pipelines/${pipelineId}/t2i/`)));
    assert.equal(error.result?.steps[1]?.state, 'cancelled');
    assert.ok(await stack.store.head(error.outputs[0]!.key), 'the kept output is in the bucket');

    const view = await pipelines.getStatus(pipelineId);
    assert.equal(view.runStatus, 'COMPLETED');
    assert.equal(view.status, 'cancelled');
    assert.equal(view.cancelReason, 'user left');
    // Cancelling a pipeline that already ended changes nothing.
    await pipelines.cancel(pipelineId, 'again');
    assert.equal((await pipelines.getStatus(pipelineId)).cancelReason, 'user left');
    ended.cancelled = pipelineId;
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(faceswapDeploymentId, { timing: { durationMs: 100 } });
  }
});

test('watch yields progressive states and ends when the pipeline closes', async () => {
  const pipelineId = uniqueName('watch');
  await pipelines.start(await swapSpec(pipelineId));
  const views: PipelineStatusView[] = [];
  for await (const view of pipelines.watch(pipelineId, { intervalMs: 30 })) views.push(view);

  assert.ok(views.length >= 3, `saw ${views.length} views`);
  const last = views.at(-1)!;
  assert.equal(last.runStatus, 'COMPLETED');
  assert.equal(last.status, 'succeeded');
  assert.ok(views.slice(0, -1).every((view) => view.runStatus === 'RUNNING'));
  // Step states only move forward: the swap step was seen pending or in flight before it succeeded.
  const swapStates = views.map((view) => view.steps[1]?.state);
  assert.notEqual(swapStates[0], 'succeeded');
  assert.equal(swapStates.at(-1), 'succeeded');
  const firstSwapSuccess = swapStates.indexOf('succeeded');
  assert.ok(swapStates.slice(firstSwapSuccess).every((state) => state === 'succeeded'));

  // An aborted watch ends quietly.
  const controller = new AbortController();
  controller.abort();
  const none: PipelineStatusView[] = [];
  for await (const view of pipelines.watch(pipelineId, { signal: controller.signal })) none.push(view);
  assert.equal(none.length, 0);
});

test('a failed job fails the pipeline with its step, request id and RunComfy error', async () => {
  const pipelineId = uniqueName('failed');
  await stack.emulator.admin.addFault({ kind: 'job_failure', deploymentId: t2iDeploymentId, count: 1, failure: { kind: 'permanent', message: 'CLIPTextEncode: prompt rejected' } });
  await pipelines.start(imageSpec(pipelineId, 'doomed'));
  const error = await pipelines.result(pipelineId).then(
    () => assert.fail('result() must throw for a failed pipeline'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof PipelineFailedError);
  assert.equal(error.code, 'PIPELINE_FAILED');
  assert.equal(error.stepId, 't2i');
  assert.equal(error.failureType, STEP_FAILURE_TYPES.jobFailed);
  assert.match(error.remoteError ?? '', /prompt rejected/);
  assert.ok(error.requestId);
  const job = await stack.emulator.admin.job(error.requestId);
  assert.equal(job.outcome, 'failed', 'the request id is the failed RunComfy job');
  ended.failed = pipelineId;
});

test('list filters pipelines by status and start time', async () => {
  const ids = (summaries: { pipelineId: string }[]) => summaries.map((s) => s.pipelineId);
  await eventually(async () => {
    const [failed, succeeded, cancelled] = await Promise.all([
      pipelines.list({ status: 'failed', since }),
      pipelines.list({ status: 'succeeded', since }),
      pipelines.list({ status: 'cancelled', since }),
    ]);
    return ids(failed).includes(ended.failed) && ids(succeeded).includes(ended.succeeded) && ids(cancelled).includes(ended.cancelled) ? true : undefined;
  }, { what: 'visibility to catch up' });
  const failed = await pipelines.list({ status: 'failed', since });
  assert.ok(!ids(failed).includes(ended.succeeded) && !ids(failed).includes(ended.cancelled));
  const entry = failed.find((s) => s.pipelineId === ended.failed)!;
  assert.equal(entry.status, 'failed');
  assert.equal(entry.runStatus, 'FAILED');
  assert.equal(entry.taskQueue, stack.taskQueue);
  const succeeded = await pipelines.list({ status: 'succeeded', since });
  assert.ok(!ids(succeeded).includes(ended.failed) && !ids(succeeded).includes(ended.cancelled));
  assert.ok(succeeded.every((s) => s.status === 'succeeded' && Date.parse(s.startedAt) >= since.getTime()));
  assert.deepEqual(await pipelines.list({ since: new Date(Date.now() + 60_000) }), []);
  assert.equal((await pipelines.list({ since, limit: 2 })).length, 2);
});

test('uploadInput stores bytes or a file and returns a URL that downloads them', async () => {
  const png = encodePngRgb(2, 2, Buffer.alloc(12, 200));
  const fromBytes = await pipelines.uploadInput({ bytes: png });
  assert.equal(fromBytes.key, `inputs/${fromBytes.sha256}/input.png`, 'keys are addressed by content');
  assert.equal(fromBytes.contentType, 'image/png');
  const response = await fetch(fromBytes.url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await response.arrayBuffer()), Buffer.from(png));

  const dir = await mkdtemp(join(tmpdir(), 'rcp-upload-'));
  try {
    const path = join(dir, 'my face (1).png');
    await writeFile(path, png);
    const key = `inputs/${uniqueName('custom')}/face.png`;
    const fromFile = await pipelines.uploadInput({ path }, { key });
    assert.equal(fromFile.key, key);
    assert.equal(fromFile.sha256, fromBytes.sha256);
    assert.deepEqual(Buffer.from(await (await fetch(fromFile.url)).arrayBuffer()), Buffer.from(png));
    const byName = await pipelines.uploadInput({ path });
    assert.equal(byName.key, `inputs/${fromBytes.sha256}/my_face_1_.png`);
    // The same file again: the same key, so a spec built from it is the same spec.
    assert.equal((await pipelines.uploadInput({ path })).key, byName.key);
    assert.equal(await (await fetch(await pipelines.presignOutput(key))).arrayBuffer().then((b) => b.byteLength), png.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the client never shows credentials when logged', () => {
  const shown = `${inspect(pipelines, { depth: 10 })} ${JSON.stringify(pipelines)}`;
  assert.ok(!shown.includes(stack.s3.secretAccessKey));
  assert.match(shown, new RegExp(stack.taskQueue));
});

test('unknown pipelines answer PipelineNotFoundError everywhere', async () => {
  const pipelineId = uniqueName('missing');
  for (const call of [() => pipelines.getStatus(pipelineId), () => pipelines.result(pipelineId), () => pipelines.cancel(pipelineId, 'x')]) {
    await assert.rejects(call(), (error: unknown) => error instanceof PipelineNotFoundError && error.code === 'PIPELINE_NOT_FOUND' && error.pipelineId === pipelineId);
  }
});

test('with the worker stopped, closed pipelines are still described from Temporal alone', async () => {
  workerStopped = true;
  worker.worker.shutdown();
  await workerRun;

  const startedAt = Date.now();
  const succeeded = await pipelines.getStatus(ended.succeeded);
  assert.equal(succeeded.source, 'result');
  assert.equal(succeeded.status, 'succeeded');
  assert.ok((succeeded.steps[0]?.outputs.length ?? 0) > 0);

  const failed = await pipelines.getStatus(ended.failed);
  assert.equal(failed.runStatus, 'FAILED');
  assert.equal(failed.status, 'failed');
  assert.equal(failed.source, 'history');
  assert.equal(failed.failure?.stepId, 't2i');
  assert.equal(failed.failure?.failureType, STEP_FAILURE_TYPES.jobFailed);
  assert.equal(failed.failedStepId, 't2i');
  assert.equal(failed.steps[0]?.state, 'failed');
  assert.equal(failed.steps[0]?.requestId, failed.failure?.requestId);
  await assert.rejects(pipelines.result(ended.failed), PipelineFailedError);

  const cancelled = await pipelines.getStatus(ended.cancelled);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.steps[0]?.state, 'succeeded');
  // No query was needed: a query with no worker would have waited for its deadline.
  assert.ok(Date.now() - startedAt < 1_500, `took ${Date.now() - startedAt} ms`);

  // A running pipeline nobody works on is described from its history once the query times out.
  const orphan = uniqueName('orphan');
  await pipelines.start(imageSpec(orphan, 'nobody home'));
  const view = await pipelines.getStatus(orphan);
  assert.equal(view.runStatus, 'RUNNING');
  assert.equal(view.source, 'history');
  assert.equal(view.status, 'preparing');
  assert.deepEqual(view.steps.map((step) => [step.id, step.state]), [['t2i', 'pending']]);
  // Listed as running before any workflow task ran: the start itself set the search attribute.
  const description = await stack.client.workflow.getHandle(view.workflowId).describe();
  assert.equal(description.typedSearchAttributes.get(pipelineStatusSearchAttribute), 'running');
  assert.equal(description.historyLength, 2, 'only the start and its first workflow task are in history');
  await eventually(async () => ((await pipelines.list({ status: 'running', since })).some((s) => s.pipelineId === orphan) ? true : undefined), { what: 'the orphan in the listing' });
  await stack.client.workflow.getHandle(view.workflowId).terminate('test cleanup');
  const terminated = await pipelines.getStatus(orphan);
  assert.equal(terminated.status, 'failed');
  assert.equal(terminated.failure?.failureType, 'Terminated');
  assert.deepEqual(terminated.steps.map((step) => step.state), ['skipped']);
});

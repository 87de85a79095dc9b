/*
 * Copies that survive, against an S3 server (Ceph radosgw) of this file's own, so its gateway can be
 * stopped: a store outage during a copy is ridden out within the configured budget while the step
 * shows `waiting-for-store`; a misconfigured store fails at once and says what to check; a worker
 * killed mid-copy leaves nothing behind once the pipeline ends (no incomplete multipart upload, no
 * staging object), and staging keys name the pipeline and step; an object at an output key is
 * reused only when it was written from the same RunComfy request.
 */
import { ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { parseWorkerConfig } from '../../src/config.js';
import { startS3Server } from '../../src/devstack/ceph-s3-server.js';
import { createPipelineWorker } from '../../src/worker/pipeline-worker.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { PIPELINE_WORKFLOW_TYPE, pipelineProgressQuery, pipelineWorkflowId, STEP_FAILURE_TYPES } from '../../src/contract/pipeline-contract.js';
import { ObjectStore } from '../../src/storage/object-store.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import type { generationPipeline } from '../../src/workflows/generation-pipeline.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The outage drill's length: short in the suite; `STORE_OUTAGE_DRILL_MS=600000` runs a 10-minute drill.
const outageMs = Number(process.env.STORE_OUTAGE_DRILL_MS ?? 45_000);
const s3 = await startS3Server({ bucket: 'edges-outputs' });
after(() => s3.stop());
const stack = await startPipelineStack({
  noWorker: true,
  env: {
    R2_ENDPOINT: s3.endpoint,
    R2_BUCKET: s3.bucket,
    R2_ACCESS_KEY_ID: s3.accessKeyId,
    R2_SECRET_ACCESS_KEY: s3.secretAccessKey,
    // Short for the test; the defaults are 6 hours and 60 s.
    STORE_OUTAGE_BUDGET_MS: String(Math.max(300_000, outageMs * 2)),
    STORE_OUTAGE_MAX_BACKOFF_MS: '2000',
  },
});
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');
const s3Client = createObjectStoreClient({ ...s3 });
after(() => s3Client.destroy());
const store = new ObjectStore({ client: s3Client, bucket: s3.bucket });
const rawS3 = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
after(() => rawS3.destroy());

/** An in-process worker with the stack's settings plus `env`, on its own task queue unless told. */
async function startWorker(env: Record<string, string> = {}) {
  const config = parseWorkerConfig({ ...stack.env, ...env });
  const worker = await createPipelineWorker({ config, registry: stack.registry });
  const running = worker.run();
  after(async () => {
    if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
    await running;
  });
  return { taskQueue: config.temporal.taskQueue, metrics: worker.metrics, stop: async () => (worker.worker.shutdown(), await running) };
}

function t2iOnly(prefix: string, pipelineId = uniqueName(prefix)): PipelineSpec {
  return { pipelineId, steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a glass harbour', seed: 7 } }] };
}

function start(spec: PipelineSpec, taskQueue: string) {
  return stack.client.workflow.start<typeof generationPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue, workflowId: pipelineWorkflowId(spec.pipelineId), args: [{ spec }] });
}

async function leftovers(pipelineId: string): Promise<{ uploads: string[]; stagingObjects: string[] }> {
  const uploads = await rawS3.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  const objects = await rawS3.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: '.staging/' }));
  return {
    uploads: (uploads.Uploads ?? []).map((u) => u.Key ?? '').filter((k) => k.includes(pipelineId) || !k.includes('/pipelines/')),
    stagingObjects: (objects.Contents ?? []).map((o) => o.Key ?? ''),
  };
}

test('a store outage during a copy is ridden out: the step waits for the store, then the pipeline succeeds', async () => {
  const worker = await startWorker({ TEMPORAL_TASK_QUEUE: uniqueName('outage') });
  // The copy starts, then waits 3 s for the first byte: the gateway goes down in that window.
  await admin.addFault({ kind: 'delay', deploymentId: t2i, operations: ['download'], count: 1, delayMs: 3_000 });
  const handle = await start(t2iOnly('outage'), worker.taskQueue);
  await eventually(async () => (await handle.query(pipelineProgressQuery)).steps[0]?.state === 'persisting' || undefined, { timeoutMs: 60_000, what: 'the copy to start' });
  const downAt = Date.now();
  await s3.stopGateway();
  try {
    const waiting = await eventually(
      async () => {
        const step = (await handle.query(pipelineProgressQuery)).steps[0];
        return step?.state === 'waiting-for-store' ? step : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 200, what: 'the step to show it waits for the store' },
    );
    assert.match(waiting.attempts[0]?.error ?? '', /object store unavailable/);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageMs - (Date.now() - downAt))));
  } finally {
    await s3.startGateway();
  }
  const survivedMs = Date.now() - downAt;
  const result = await handle.result();
  console.log(`store outage survived: ${(survivedMs / 1000).toFixed(1)} s (gateway stopped, then restarted)`);
  assert.equal(result.status, 'succeeded');
  const output = result.steps[0]!.outputs[0]!;
  const head = await store.head(output.key);
  assert.equal(head?.sha256, output.sha256, 'the output is complete in the store');
  assert.equal(head?.requestId, result.steps[0]!.requestId, 'the object records the request that made it');
  await worker.stop();
});

test('a misconfigured store (bad credentials, missing bucket) fails the step at once and says what to check', async () => {
  for (const [what, env] of [
    ['bad credentials', { R2_SECRET_ACCESS_KEY: 'not-the-secret' }],
    ['no such bucket', { R2_BUCKET: 'no-such-bucket' }],
  ] as const) {
    const worker = await startWorker({ TEMPORAL_TASK_QUEUE: uniqueName('misconfigured'), ...env });
    const startedAt = Date.now();
    const handle = await start(t2iOnly('misconfigured'), worker.taskQueue);
    const error = await handle.result().then(
      () => assert.fail(`${what}: the pipeline should fail`),
      (e: unknown) => e,
    );
    const tookMs = Date.now() - startedAt;
    assert.ok(error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure, what);
    const details = error.cause.details?.[0] as Record<string, unknown>;
    assert.equal(details['type'], STEP_FAILURE_TYPES.storageMisconfigured, what);
    assert.match(error.cause.message, /step "image" failed \(RunComfy request [0-9a-f-]+\): the object store refused the copy; check the bucket name, the credentials/, what);
    assert.ok(!error.cause.message.includes('not-the-secret'), 'the secret is never shown');
    assert.ok(tookMs < 20_000, `${what}: failed at once (${tookMs} ms), not after an outage budget`);
    await worker.stop();
  }
});

test('a worker killed mid-copy: the retry resumes from the stored parts, and no incomplete upload or staging object remains', async () => {
  const taskQueue = uniqueName('crash-copy');
  // 40 MiB at 8 MiB/s: five 8 MiB parts over five seconds, so the kill lands mid-upload.
  await admin.updateDeploymentConfig(t2i, { outputSizeBytes: 40 * 1024 * 1024 });
  await admin.addFault({ kind: 'delay', deploymentId: t2i, operations: ['download'], count: 1, delayMs: 0, bytesPerSecond: 8 * 1024 * 1024 });
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { ...process.env, ...stack.env, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'WARN', METRICS_PORT: '0', TEMPORAL_METRICS_PORT: '0' },
    stdio: 'ignore',
  });
  after(() => child.kill('SIGKILL'));
  try {
    const spec = t2iOnly('crash-copy');
    const handle = await start(spec, taskQueue);
    const upload = await eventually(
      async () => {
        const listed = await rawS3.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: '.staging/' }));
        const mine = (listed.Uploads ?? []).find((u) => u.Key?.includes(spec.pipelineId));
        if (!mine) return undefined;
        const parts = await rawS3.send(new ListPartsCommand({ Bucket: s3.bucket, Key: mine.Key, UploadId: mine.UploadId }));
        return (parts.Parts ?? []).length >= 1 ? { key: mine.Key!, parts: parts.Parts!.length } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'a multipart upload with a stored part' },
    );
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.match(upload.key, new RegExp(`^\\.staging/pipelines/${spec.pipelineId}/image/`), 'the staging key names the pipeline and the step');
    const before = await leftovers(spec.pipelineId);
    assert.ok(before.uploads.length >= 1, 'the killed worker left an incomplete upload');

    const worker = await startWorker({ TEMPORAL_TASK_QUEUE: taskQueue, PERSIST_HEARTBEAT_TIMEOUT_MS: '2000' });
    const result = await handle.result();
    assert.equal(result.status, 'succeeded');
    const output = result.steps[0]!.outputs[0]!;
    assert.equal(output.bytes, 40 * 1024 * 1024);
    assert.equal((await store.head(output.key))?.sha256, output.sha256);
    const left = await leftovers(spec.pipelineId);
    const reused = Number(/^rcp_copy_resumed_bytes_total (\d+)/m.exec(await worker.metrics.registry.metrics())?.[1] ?? 0);
    console.log(`killed mid-copy with ${upload.parts} part(s) stored; resumed with ${reused} bytes not sent again; leftovers after the pipeline: ${left.uploads.length} incomplete upload(s), ${left.stagingObjects.length} staging object(s)`);
    assert.ok(reused >= 8 * 1024 * 1024, `the copy resumed from the stored parts (${reused} bytes reused)`);
    assert.deepEqual(left, { uploads: [], stagingObjects: [] });
    await worker.stop();
  } finally {
    await admin.clearFaults();
    await admin.updateDeploymentConfig(t2i, { outputSizeBytes: null });
  }
});

test('an object at an output key is reused only when the same RunComfy request wrote it', async () => {
  const worker = await startWorker({ TEMPORAL_TASK_QUEUE: uniqueName('reuse') });
  const pipelineId = uniqueName('reuse');
  const first = await (await start(t2iOnly('reuse-first'), worker.taskQueue)).result();
  const firstKey = first.steps[0]!.outputs[0]!.key;
  // The emulator numbers files like ComfyUI (ComfyUI_00005_.png): the next job's key is predictable.
  // Old bytes of another job sit there already (a reset, a pipeline id reused past retention, two
  // environments on one bucket), complete with their hash, as this store writes them.
  const counter = Number(/_(\d+)_\.png$/.exec(firstKey)?.[1]);
  assert.ok(Number.isInteger(counter), firstKey);
  const planted = new Map<string, string>();
  for (let n = counter + 1; n <= counter + 3; n++) {
    const key = firstKey.replace(first.steps[0]!.outputs[0]!.key.split('/')[1]!, pipelineId).replace(/_\d+_\.png$/, `_${String(n).padStart(5, '0')}_.png`);
    const stored = await store.putObjectFromStream({ key, body: Readable.from([Buffer.from(`bytes of an older job ${n}`)]), contentType: 'image/png' });
    planted.set(key, stored.sha256);
  }
  const second = await (await start(t2iOnly('reuse', pipelineId), worker.taskQueue)).result();
  const output = second.steps[0]!.outputs[0]!;
  assert.ok(planted.has(output.key), `the new output landed on a key holding older bytes (${output.key})`);
  assert.notEqual(output.sha256, planted.get(output.key), "the new job's bytes were stored, not the old ones reused");
  const head = await store.head(output.key);
  assert.equal(head?.sha256, output.sha256);
  assert.equal(head?.requestId, second.steps[0]!.requestId, 'the object records the request that wrote it');
  await worker.stop();
});

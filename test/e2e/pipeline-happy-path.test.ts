import { GetObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { storeFaceImage } from '../support/face-image.js';
import { recordHistory } from '../support/histories.js';
import { EMULATOR_TOKEN, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack();
const s3 = createObjectStoreClient({ ...stack.s3 });

async function storedSha256(key: string): Promise<{ sha256: string; bytes: number; contentType: string | undefined }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: stack.s3.bucket, Key: key }));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of object.Body as Readable) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes, contentType: object.ContentType };
}

test('the default 4-step chain persists an image, a face swap, an upscale and a video, byte for byte', async () => {
  const pipelineId = uniqueName('chain');
  const faceImageUrl = await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`);
  const spec = defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl });
  const before = await stack.emulator.admin.counters();
  const chainHandle = await stack.start(spec);
  const result = await chainHandle.result();
  await recordHistory(chainHandle, 'default-chain');

  assert.equal(result.status, 'succeeded');
  assert.deepEqual(result.steps.map((s) => [s.id, s.kind, s.state]), spec.steps.map((s) => [s.id, s.kind, 'succeeded']));
  const media = result.steps.map((s) => s.outputs[0]?.media);
  assert.deepEqual(media, ['image', 'image', 'image', 'video']);

  for (const step of result.steps) {
    assert.equal(step.attempts.length, 1, `${step.id} ran one job`);
    const requestId = step.requestId!;
    const emulated = await stack.emulator.admin.jobOutputs(requestId);
    assert.ok(step.outputs.length > 0);
    for (const output of step.outputs) {
      assert.ok(output.key.startsWith(`pipelines/${pipelineId}/${step.id}/`), output.key);
      const source = emulated.find((file) => file.node_id === output.nodeId && file.filename === output.filename);
      assert.ok(source, `the emulator produced ${output.filename}`);
      const stored = await storedSha256(output.key);
      assert.equal(stored.sha256, source.sha256, `${output.key} is the emulator's file`);
      assert.equal(output.sha256, source.sha256, 'the reported hash is the file hash');
      assert.equal(stored.bytes, source.size_bytes);
      assert.equal(output.bytes, source.size_bytes);
      assert.equal(stored.contentType, output.contentType);
    }
  }

  // Each step was one paid job: four submits in all, and every job succeeded.
  const after = await stack.emulator.admin.counters();
  assert.equal(after.total.acceptedJobs - before.total.acceptedJobs, 4);
  assert.equal(after.total.submits - before.total.submits, 4);

  // Later steps received the persisted outputs of earlier steps (presigned URLs into the bucket), and the
  // emulator downloaded them when the job started.
  const faceswapJob = await stack.emulator.admin.job(result.steps[1]!.requestId!);
  const targetUrl = JSON.stringify(faceswapJob.overrides);
  assert.match(targetUrl, new RegExp(`pipelines/${pipelineId}/t2i/`));
  assert.equal(faceswapJob.outcome, 'succeeded');

  // Nothing secret in the history.
  const history = JSON.stringify(await stack.client.workflow.getHandle(`pipeline-${pipelineId}`).fetchHistory());
  assert.ok(!history.includes(EMULATOR_TOKEN), 'the RunComfy token is not in history');
  assert.ok(!history.includes(stack.s3.secretAccessKey), 'the S3 secret is not in history');
  assert.ok(!/X-Amz-Signature=/i.test(history.replace(faceImageUrl, '')), 'no presigned URL made by the worker is in history');
});

test('a DAG with two parallel branches runs both branches at once and joins them', async () => {
  const pipelineId = uniqueName('dag');
  const faceImageUrl = await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`);
  await stack.emulator.admin.updateDeploymentConfig(stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile'), { timing: { durationMs: 600 } });
  const spec: PipelineSpec = {
    pipelineId,
    steps: [
      { id: 'base', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a red fox', seed: 7 } },
      { id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl }, inputs: { targetImageUrl: { fromStep: 'base' } } },
      { id: 'upscale-base', kind: 'upscale', deployment: 'ultimate-upscale', params: { prompt: 'sharp', upscaleBy: 2 }, inputs: { imageUrl: { fromStep: 'base' } } },
      { id: 'video', kind: 'i2v', deployment: 'wan-i2v', params: { prompt: 'the fox runs' }, inputs: { imageUrl: { fromStep: 'swap' } } },
    ],
  };
  const handle = await stack.start(spec);
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const byId = Object.fromEntries(result.steps.map((s) => [s.id, s]));
  // The upscale branch and the swap → video branch overlapped in time.
  const upscale = byId['upscale-base']!;
  const swap = byId['swap']!;
  // Workflow time moves per workflow task, and quick reads share one: overlapping stamps may be equal.
  assert.ok(Date.parse(upscale.startedAt!) <= Date.parse(swap.finishedAt!) && Date.parse(swap.startedAt!) <= Date.parse(upscale.finishedAt!), 'branches overlapped');
  assert.ok(Date.parse(byId['video']!.startedAt!) >= Date.parse(swap.finishedAt!), 'video waited for its input');
  await recordHistory(handle, 'parallel-branches');
  const progress = await handle.query(pipelineProgressQuery);
  assert.equal(progress.status, 'succeeded');
  await stack.emulator.admin.updateDeploymentConfig(stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile'), { timing: { durationMs: 150 } });
});

/**
 * Section 4, copy: a one-step pipeline whose job produces one multi-GiB file; the worker streams it
 * from the emulator into the (file-backed) S3 server. Measured: the persist activity's time (from
 * history), split into the streaming phase (download + hash + multipart upload to the staging key)
 * and the server-side copy to the final key by watching the bucket, and the worker's RSS growth.
 * Against: the emulator's raw download speed, and a raw upload of the same bytes from a local file
 * with lib-storage's Upload (same part size and queue size) in its own process.
 */
import { CopyObjectCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { runToCompletion } from '../src/devstack/supervised-process.js';
import { resolveCephBinaries } from '../src/devstack/tool-paths.js';
import type { PipelineSpec } from '../src/pipeline/spec.js';
import { pipelineWorkflowId, PIPELINE_WORKFLOW_TYPE, type PipelineResult } from '../src/contract/pipeline-contract.js';
import type { generationPipeline } from '../src/workflows/generation-pipeline.js';
import { DEFAULT_STAGING_PREFIX } from '../src/storage/object-store.js';
import { resetEmulator, type BenchContext } from './context.js';
import { startUsage, type StackUsage } from './measure.js';
import { round } from './proc-stats.js';
import type { RawUploadInput, RawUploadOutput } from './raw-upload.js';
import { REPO_ROOT } from './stack.js';
import { GIB, MIB, sleep } from './stats.js';
import { activityTimes } from './temporal-pipelines.js';

export interface CopyMeasurement {
  bytes: number;
  worker: {
    /** persistOutputs activity: started → completed (history). */
    persistMs: number;
    persistMiBps: number;
    /** Activity start → staging object complete (download, SHA-256, multipart upload). */
    streamPhaseMs: number | null;
    streamMiBps: number | null;
    /** Staging complete → final key present (server-side CopyObject / UploadPartCopy). */
    serverCopyMs: number | null;
    /** Final key present → activity completed (staging delete, result). */
    finishMs: number | null;
    /** The same server-side CopyObject timed alone by the driver (the bucket watch has ~50 ms resolution). */
    copyObjectMs: number;
    /** Worker CPU over the whole pipeline ÷ GiB copied. */
    cpuSecondsPerGiB: number | null;
    usage: StackUsage;
  };
  /** The driver downloading the same file from the emulator to a local file. */
  sourceDownload: { ms: number; MiBps: number };
  raw: { ms: number; MiBps: number; rssGrowthBytes: number; cpuSeconds: number; cpuSecondsPerGiB: number; s3ServerCores: number | null; machineBusyCores: number | null };
  /** worker persist throughput ÷ raw upload throughput. */
  persistOverRaw: number;
  streamOverRaw: number | null;
}

export interface CopyResult {
  settings: { sizesBytes: number[]; partSizeMib: number; queueSize: number; workerSettings: Record<string, string> };
  sizes: CopyMeasurement[];
}

/** Watches the bucket for the staging object and the final object of one copy. */
function watchBucket(context: BenchContext, finalPrefix: string, intervalMs: number): { stop(): Promise<{ stagingSeenAtMs?: number; finalSeenAtMs?: number }> } {
  const { stack } = context;
  let stagingSeenAtMs: number | undefined;
  let finalSeenAtMs: number | undefined;
  let running = true;
  const list = async (prefix: string): Promise<number> =>
    (await stack.s3Client.send(new ListObjectsV2Command({ Bucket: stack.s3.bucket, Prefix: prefix, MaxKeys: 5 }))).KeyCount ?? 0;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const [staging, final] = await Promise.all([stagingSeenAtMs === undefined ? list(DEFAULT_STAGING_PREFIX) : 1, finalSeenAtMs === undefined ? list(finalPrefix) : 1]);
        if (stagingSeenAtMs === undefined && staging > 0) stagingSeenAtMs = at;
        if (finalSeenAtMs === undefined && final > 0) finalSeenAtMs = at;
      } catch {
        // a listing that failed under load is simply retried
      }
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ...(stagingSeenAtMs === undefined ? {} : { stagingSeenAtMs }), ...(finalSeenAtMs === undefined ? {} : { finalSeenAtMs }) };
    },
  };
}

async function measureSize(context: BenchContext, bytes: number, index: number): Promise<CopyMeasurement> {
  const { options, stack } = context;
  await resetEmulator(context, 500);
  const worker = await context.worker('default');
  const t2i = context.registry.deployments['flux-t2i']!;
  await stack.emulator.admin.updateDeploymentConfig(t2i.deploymentId, { outputSizeBytes: bytes });
  const pipelineId = `bench-${context.runId}-copy-${index}`;
  const spec: PipelineSpec = { pipelineId, steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a very large picture', seed: index + 1 } }] };

  context.log(`copy: ${Math.round(bytes / MIB)} MiB through the worker`);
  const usage = startUsage(stack, worker, options.sampleMs);
  const watcher = watchBucket(context, `pipelines/${pipelineId}/`, 50);
  // One pipeline: wait on its result, not on a visibility count (on a loaded machine a count read
  // right after the start can miss the new execution and report the batch drained).
  const handle = await stack.client.workflow.start<typeof generationPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue: worker.taskQueue, workflowId: pipelineWorkflowId(pipelineId), args: [{ spec }] });
  const result = (await handle.result()) as PipelineResult;
  const seen = await watcher.stop();
  const workerUsage = usage.stop();
  const output = result.steps[0]?.outputs[0];
  if (!output || result.status !== 'succeeded') throw new Error(`the copy pipeline ended ${result.status}`);
  const persist = await activityTimes(stack.client, pipelineWorkflowId(pipelineId), 'persistOutputs');
  if (!persist) throw new Error('persistOutputs is missing from the history');
  const persistMs = persist.closedAtMs - persist.startedAtMs;
  const streamPhaseMs = seen.stagingSeenAtMs === undefined ? null : seen.stagingSeenAtMs - persist.startedAtMs;
  const serverCopyMs = seen.stagingSeenAtMs === undefined || seen.finalSeenAtMs === undefined ? null : seen.finalSeenAtMs - seen.stagingSeenAtMs;
  const finishMs = seen.finalSeenAtMs === undefined ? null : persist.closedAtMs - seen.finalSeenAtMs;

  // The server-side copy again, timed alone: the same CopyObject the store makes (metadata replaced),
  // from the final object to a scratch key.
  const scratchKey = `bench-copy-check/${context.runId}/${index}`;
  const copyStartedAt = performance.now();
  await stack.s3Client.send(
    new CopyObjectCommand({ Bucket: stack.s3.bucket, Key: scratchKey, CopySource: `${stack.s3.bucket}/${output.key.split('/').map(encodeURIComponent).join('/')}`, MetadataDirective: 'REPLACE', Metadata: { check: '1' } }),
  );
  const copyObjectMs = Math.round(performance.now() - copyStartedAt);

  // Room for the raw upload: on a memory-backed store the copy's bytes stay in RAM until radosgw's
  // garbage collection runs, which by default waits hours.
  await deleteAndCollect(context, [output.key, scratchKey]);

  // The same bytes: download the job's file again, to a local file.
  const localFile = join(stack.workDir, `copy-${index}.bin`);
  context.log(`copy: downloading the same ${Math.round(bytes / MIB)} MiB to a local file`);
  const downloadStartedAt = performance.now();
  const response = await fetch(output.sourceUrl);
  if (!response.ok || !response.body) throw new Error(`downloading the source answered ${response.status}`);
  await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(localFile));
  const downloadMs = performance.now() - downloadStartedAt;

  context.log('copy: raw upload of the local file');
  const rawKey = `bench-raw/${context.runId}/${index}.bin`;
  const rawInput: RawUploadInput = { s3: stack.s3, file: localFile, key: rawKey, partSizeBytes: options.copy.partSizeMib * MIB, queueSize: options.copy.queueSize };
  let raw: RawUploadOutput;
  const rawUsage = startUsage(stack, undefined, options.sampleMs);
  let rawStackUsage: StackUsage;
  try {
    const stdout = await runToCompletion(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/raw-upload.ts'), JSON.stringify(rawInput)], { timeoutMs: 30 * 60_000, cwd: REPO_ROOT });
    raw = JSON.parse(stdout.trim().split('\n').at(-1)!) as RawUploadOutput;
  } finally {
    rawStackUsage = rawUsage.stop();
    rmSync(localFile, { force: true });
  }
  await deleteAndCollect(context, [rawKey]);

  const mibps = (ms: number | null): number | null => (ms === null || ms <= 0 ? null : round(bytes / MIB / (ms / 1000), 1));
  const rawMiBps = mibps(raw.elapsedMs)!;
  const persistMiBps = mibps(persistMs)!;
  const streamMiBps = mibps(streamPhaseMs);
  return {
    bytes,
    worker: {
      persistMs,
      persistMiBps,
      streamPhaseMs,
      streamMiBps,
      serverCopyMs,
      finishMs,
      copyObjectMs,
      cpuSecondsPerGiB: workerUsage.worker.cpu ? round(workerUsage.worker.cpu.cpuSeconds / (bytes / GIB), 2) : null,
      usage: workerUsage,
    },
    sourceDownload: { ms: Math.round(downloadMs), MiBps: mibps(downloadMs)! },
    raw: {
      ms: raw.elapsedMs,
      MiBps: rawMiBps,
      rssGrowthBytes: raw.peakRssBytes - raw.startRssBytes,
      cpuSeconds: raw.cpuSeconds,
      cpuSecondsPerGiB: round(raw.cpuSeconds / (bytes / GIB), 2),
      s3ServerCores: rawStackUsage.s3Server?.cores ?? null,
      machineBusyCores: rawStackUsage.machine?.cores ?? null,
    },
    persistOverRaw: round(persistMiBps / rawMiBps, 3),
    streamOverRaw: streamMiBps === null ? null : round(streamMiBps / rawMiBps, 3),
  };
}

/** Deletes objects and, on a server started here, runs radosgw's garbage collection at once. */
async function deleteAndCollect(context: BenchContext, keys: string[]): Promise<void> {
  const { stack } = context;
  for (const key of keys) await stack.s3Client.send(new DeleteObjectCommand({ Bucket: stack.s3.bucket, Key: key })).catch(() => undefined);
  if (!stack.s3CephConfPath) return;
  try {
    await runToCompletion(resolveCephBinaries()['radosgw-admin'], ['-c', stack.s3CephConfPath, 'gc', 'process', '--include-all'], { timeoutMs: 120_000 });
  } catch (error) {
    context.log(`radosgw garbage collection failed: ${(error as Error).message.split('\n')[0]}`);
  }
}

export async function runCopySection(context: BenchContext): Promise<CopyResult> {
  const sizes: CopyMeasurement[] = [];
  for (const [index, bytes] of context.options.copy.sizesBytes.entries()) sizes.push(await measureSize(context, bytes, index));
  const { options } = context;
  return { settings: { sizesBytes: options.copy.sizesBytes, partSizeMib: options.copy.partSizeMib, queueSize: options.copy.queueSize, workerSettings: context.workerSettings('default') }, sizes };
}

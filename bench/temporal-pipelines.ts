/**
 * Starts a batch of pipelines on the worker's task queue, waits for all of them without adding load
 * (one visibility count per second instead of a long poll per pipeline), and reads back each
 * pipeline's timestamps: start and close from the server, per-step times from the result.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { Readable } from 'node:stream';
import { encodePngRgb } from '../src/emulator/media/png.js';
import type { PipelineSpec } from '../src/pipeline/spec.js';
import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId, type PipelineResult } from '../src/contract/pipeline-contract.js';
import type { ObjectStore } from '../src/storage/object-store.js';
import type { generationPipeline } from '../src/workflows/generation-pipeline.js';
import type { ChainTiming } from './chain-analysis.js';
import { mapLimited, sleep } from './stats.js';

/** Stores a small real PNG (the face to swap in) under `key` (in `inputs/`) and returns its r2:// reference for specs. */
export async function storeFaceImage(store: ObjectStore, key: string): Promise<string> {
  const side = 32;
  const rgb = Buffer.alloc(side * side * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 53) % 241;
  await store.putObjectFromStream({ key, body: Readable.from([encodePngRgb(side, side, rgb)]), contentType: 'image/png' });
  return `r2://${key}`;
}

/** One pipeline of a batch, once finished. */
export interface PipelineExecution {
  pipelineId: string;
  workflowId: string;
  startedAtMs: number;
  closedAtMs: number | undefined;
  status: string;
  result: PipelineResult | undefined;
}

export interface PipelineBatch {
  /** When the first start call was sent. */
  firstStartSentAtMs: number;
  /** When the last start call returned. */
  allStartedAtMs: number;
  /** When the driver saw no pipeline of the batch running any more. */
  drainedAtMs: number;
  timedOut: boolean;
  executions: PipelineExecution[];
}

export interface RunBatchOptions {
  client: Client;
  taskQueue: string;
  specs: readonly PipelineSpec[];
  /** Start calls in flight at once. */
  startConcurrency: number;
  /** Paces the starts at this many per second; all at once when undefined. */
  startRatePerSecond?: number;
  /** Gives up (and terminates what still runs) after this long. */
  timeoutMs: number;
  /** Called about once a second with the number still running. */
  onProgress?: (running: number, elapsedMs: number) => void;
}

function timestampMs(date: Date | undefined): number | undefined {
  return date ? date.getTime() : undefined;
}

/** Starts every spec as a pipeline workflow, waits for all to close, and collects their results. */
export async function runPipelineBatch(options: RunBatchOptions): Promise<PipelineBatch> {
  const { client, taskQueue, specs } = options;
  const ids = new Set(specs.map((spec) => pipelineWorkflowId(spec.pipelineId)));
  const firstStartSentAtMs = Date.now();
  await mapLimited(specs, options.startConcurrency, async (spec, index) => {
    if (options.startRatePerSecond !== undefined) {
      const dueAtMs = firstStartSentAtMs + (index * 1000) / options.startRatePerSecond;
      if (dueAtMs > Date.now()) await sleep(dueAtMs - Date.now());
    }
    return client.workflow.start<typeof generationPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue, workflowId: pipelineWorkflowId(spec.pipelineId), args: [{ spec }] });
  });
  const allStartedAtMs = Date.now();

  // Earlier batches on this queue are closed, so whatever runs on it belongs to this batch.
  const runningQuery = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`;
  const deadline = firstStartSentAtMs + options.timeoutMs;
  let timedOut = false;
  for (;;) {
    const running = (await client.workflow.count(runningQuery)).count;
    options.onProgress?.(running, Date.now() - firstStartSentAtMs);
    if (running === 0) break;
    if (Date.now() > deadline) {
      timedOut = true;
      await mapLimited([...ids], 16, async (workflowId) => {
        try {
          await client.workflow.getHandle(workflowId).terminate('benchmark time limit reached');
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError) && !String(error).includes('already completed')) throw error;
        }
      });
      break;
    }
    await sleep(1_000);
  }
  const drainedAtMs = Date.now();

  // Visibility trails the close by a moment: read until every execution shows its close time.
  const infos = new Map<string, { startedAtMs: number; closedAtMs: number | undefined; status: string }>();
  for (let attempt = 0; attempt < 20; attempt++) {
    for await (const info of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
      if (!ids.has(info.workflowId)) continue;
      infos.set(info.workflowId, { startedAtMs: info.startTime.getTime(), closedAtMs: timestampMs(info.closeTime), status: info.status.name });
    }
    if (infos.size === ids.size && [...infos.values()].every((info) => info.closedAtMs !== undefined)) break;
    await sleep(500);
  }

  const executions = await mapLimited(specs, 16, async (spec): Promise<PipelineExecution> => {
    const workflowId = pipelineWorkflowId(spec.pipelineId);
    const info = infos.get(workflowId);
    let result: PipelineResult | undefined;
    if (info?.status === 'COMPLETED') {
      result = (await client.workflow.getHandle<typeof generationPipeline>(workflowId).result()) as PipelineResult;
    }
    return { pipelineId: spec.pipelineId, workflowId, startedAtMs: info?.startedAtMs ?? Number.NaN, closedAtMs: info?.closedAtMs, status: info?.status ?? 'UNKNOWN', result };
  });
  return { firstStartSentAtMs, allStartedAtMs, drainedAtMs, timedOut, executions };
}

/** The per-step timestamps a pipeline's result carries, in the shape the analysis compares. */
export function chainTimingFromExecution(execution: PipelineExecution): ChainTiming {
  const result = execution.result;
  const steps = (result?.steps ?? []).map((step) => {
    const lastAttempt = step.attempts.at(-1);
    const detectedAtMs = lastAttempt?.finishedAt ? Date.parse(lastAttempt.finishedAt) : undefined;
    const persistedAtMs = step.finishedAt ? Date.parse(step.finishedAt) : undefined;
    return {
      stepId: step.id,
      requestId: step.requestId ?? '',
      ...(detectedAtMs === undefined ? {} : { detectedAtMs }),
      ...(persistedAtMs === undefined ? {} : { persistedAtMs }),
    };
  });
  return {
    pipelineId: execution.pipelineId,
    startedAtMs: execution.startedAtMs,
    closedAtMs: execution.closedAtMs ?? Number.NaN,
    succeeded: result?.status === 'succeeded',
    steps,
  };
}

/** Start and completion times of one activity type in a closed workflow's history. */
export async function activityTimes(client: Client, workflowId: string, activityType: string): Promise<{ scheduledAtMs: number; startedAtMs: number; closedAtMs: number } | undefined> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const toMs = (time: { seconds?: unknown; nanos?: number | null } | null | undefined): number => Number(time?.seconds ?? 0) * 1000 + Math.round((time?.nanos ?? 0) / 1e6);
  const events = history.events ?? [];
  const scheduled = events.find((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  if (!scheduled) return undefined;
  const scheduledId = Number(scheduled.eventId);
  const started = events.find((event) => Number(event.activityTaskStartedEventAttributes?.scheduledEventId ?? -1) === scheduledId);
  const closed = events.find((event) => Number(event.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1) === scheduledId);
  if (!started || !closed) return undefined;
  return { scheduledAtMs: toMs(scheduled.eventTime), startedAtMs: toMs(started.eventTime), closedAtMs: toMs(closed.eventTime) };
}

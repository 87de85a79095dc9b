/**
 * Section 2, scale: batches of default-chain pipelines (500 by default, 60 s jobs, started 5/s) on
 * ONE worker, once per wait mode (polling only; webhooks on), with fixed job times and enough
 * emulator instances that nothing queues at "RunComfy".
 * Per level: completion, step overhead, end-to-end ÷ job time, CPU of worker / dev server /
 * emulator / S3, the worker's peak RSS, and Temporal's own view (task slots, schedule-to-start
 * latencies, sticky cache) from the worker's metrics.
 */
import { defaultPipelineSpec } from '../src/pipeline/default-pipeline.js';
import { analyzeChains, type ChainAnalysis } from './chain-analysis.js';
import { emulatorJobs, resetEmulator, workerProfile, type BenchContext } from './context.js';
import { readsPerJobMinute } from './mode-figures.js';
import type { WaitMode } from './options.js';
import { startWebhookTraffic, type WebhookTraffic } from './webhook-mode.js';
import { countersDelta, countersNow, startServerMetrics, startUsage, startWorkerMetrics, type CountersDelta, type ServerMetricsReport, type StackUsage, type WorkerMetricsReport } from './measure.js';
import { round } from './proc-stats.js';
import { chainTimingFromExecution, runPipelineBatch } from './temporal-pipelines.js';

export interface ScaleLevel {
  pipelines: number;
  /** How the worker learned of a job's end. */
  mode: WaitMode;
  timedOut: boolean;
  /** First start call → last start call returned. */
  startPhaseMs: number;
  /** First start call → no pipeline of the level running. */
  wallMs: number;
  succeeded: number;
  /** succeeded ÷ started. */
  completionRatio: number;
  /** Pipelines completed per minute over the level's wall time. */
  pipelinesPerMinute: number;
  analysis: ChainAnalysis;
  usage: StackUsage;
  /**
   * CPU milliseconds per completed pipeline: the worker, the dev server, and the whole stack
   * (worker + dev server + emulator + S3 + driver). With C cores to spare, the stack completes at
   * most C ÷ stack pipelines per second, however many are in flight.
   */
  cpuMsPerPipeline: { worker: number | null; temporalServer: number | null; stack: number };
  /** Status reads ÷ minutes the level's jobs ran. */
  statusReadsPerJobMinute: number;
  /** Webhooks sent and received (webhooks mode). */
  webhooks?: WebhookTraffic;
  workerMetrics: WorkerMetricsReport;
  /** The dev server's own metrics (null with an external server). */
  serverMetrics: ServerMetricsReport | null;
  counters: CountersDelta;
}

export interface ScaleResult {
  settings: { levels: number[]; modes: WaitMode[]; jobMs: number; pollIntervalMs: number | 'default'; startRatePerSecond: number | 'all at once'; workerSettings: Record<string, string>; webhookWorkerSettings?: Record<string, string> };
  levels: ScaleLevel[];
  /** Largest level that met the target (p99 step overhead < 2 s, every pipeline succeeded). */
  largestLevelMeetingTarget: number | null;
}

export const SCALE_TARGET_P99_STEP_OVERHEAD_MS = 2_000;

function cpuPerPipeline(usage: StackUsage, pipelines: number): ScaleLevel['cpuMsPerPipeline'] {
  const per = (cpuSeconds: number | undefined): number | null => (cpuSeconds === undefined || pipelines === 0 ? null : Math.round((cpuSeconds * 1000) / pipelines));
  const stack = [usage.worker.cpu, usage.temporalServer, usage.emulator, usage.s3Server, usage.driver].reduce((sum, w) => sum + (w?.cpuSeconds ?? 0), 0);
  return { worker: per(usage.worker.cpu?.cpuSeconds), temporalServer: per(usage.temporalServer?.cpuSeconds), stack: per(stack) ?? 0 };
}

export async function runScaleSection(context: BenchContext): Promise<ScaleResult> {
  const { options, stack } = context;
  const levels: ScaleLevel[] = [];
  const runs = options.scale.levels.flatMap((count) => options.modes.map((mode) => ({ count, mode })));
  for (const { count, mode } of runs) {
    await resetEmulator(context, options.scale.jobMs);
    const worker = await context.worker(workerProfile(options.scale.workerProfile, mode));
    const specs = Array.from({ length: count }, (_, i) =>
      defaultPipelineSpec({ pipelineId: `bench-${context.runId}-scale${count}${mode[0]}-${i}`, prompt: `a harbour in fog, ${i}`, faceImageUrl: context.faceImageUrl }, context.registry),
    );
    context.log(`scale: ${count} pipelines in flight (${mode})`);
    const countersBefore = await countersNow(stack.emulator.admin);
    const webhookTraffic = mode === 'webhooks' ? startWebhookTraffic(worker) : undefined;
    const usage = startUsage(stack, worker, options.sampleMs);
    const metrics = startWorkerMetrics(worker);
    const serverMetrics = startServerMetrics(stack.temporal.metricsUrl);
    let lastReport = 0;
    const batch = await runPipelineBatch({
      client: stack.client,
      taskQueue: worker.taskQueue,
      specs,
      startConcurrency: options.scale.startConcurrency,
      ...(options.scale.startRatePerSecond === undefined ? {} : { startRatePerSecond: options.scale.startRatePerSecond }),
      timeoutMs: options.scale.timeoutMs,
      onProgress: (running, elapsedMs) => {
        if (elapsedMs - lastReport < 10_000) return;
        lastReport = elapsedMs;
        context.log(`scale ${count} (${mode}): ${running} running after ${Math.round(elapsedMs / 1000)} s`);
      },
    });
    const stackUsage = usage.stop();
    const workerMetrics = await metrics.stop();
    const serverReport = await serverMetrics.stop();
    const counters = countersDelta(countersBefore, await countersNow(stack.emulator.admin));
    const webhooks = await webhookTraffic?.stop(counters);
    const { gaps: _gaps, ...analysis } = analyzeChains(batch.executions.map(chainTimingFromExecution), await emulatorJobs(context));
    const wallMs = batch.drainedAtMs - batch.firstStartSentAtMs;
    levels.push({
      pipelines: count,
      mode,
      timedOut: batch.timedOut,
      startPhaseMs: batch.allStartedAtMs - batch.firstStartSentAtMs,
      wallMs,
      succeeded: analysis.succeeded,
      completionRatio: round(analysis.succeeded / count, 4),
      pipelinesPerMinute: round((analysis.succeeded / wallMs) * 60_000, 1),
      analysis,
      usage: stackUsage,
      cpuMsPerPipeline: cpuPerPipeline(stackUsage, analysis.succeeded),
      workerMetrics: { ...workerMetrics, availableNames: levels.length === 0 ? workerMetrics.availableNames : [] },
      serverMetrics: serverReport,
      counters,
      statusReadsPerJobMinute: readsPerJobMinute(counters.total.statusReads, analysis.jobTimeMs.mean * analysis.jobTimeMs.count),
      ...(webhooks ? { webhooks } : {}),
    });
    context.log(
      `scale ${count} (${mode}): ${analysis.succeeded}/${count} succeeded in ${Math.round(wallMs / 1000)} s, step overhead p50 ${analysis.stepOverheadMs.p50} ms p99 ${analysis.stepOverheadMs.p99} ms, ` +
        `worker ${stackUsage.worker.cpu?.cores ?? '?'} cores, dev server ${stackUsage.temporalServer?.cores ?? '?'} cores`,
    );
  }
  const meeting = levels.filter((level) => level.completionRatio === 1 && level.analysis.stepOverheadMs.p99 < SCALE_TARGET_P99_STEP_OVERHEAD_MS);
  return {
    settings: {
      levels: options.scale.levels,
      modes: options.modes,
      jobMs: options.scale.jobMs,
      pollIntervalMs: options.scale.workerProfile === 'fixed-poll' ? options.overhead.pollIntervalMs : 'default',
      startRatePerSecond: options.scale.startRatePerSecond ?? 'all at once',
      workerSettings: context.workerSettings(options.scale.workerProfile),
      ...(options.modes.includes('webhooks') ? { webhookWorkerSettings: context.workerSettings(workerProfile(options.scale.workerProfile, 'webhooks')) } : {}),
    },
    levels,
    largestLevelMeetingTarget: meeting.length > 0 ? Math.max(...meeting.map((level) => level.pipelines)) : null,
  };
}

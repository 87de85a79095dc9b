/**
 * Section 3, steady state: keeps N pipelines (1,000 by default) waiting on 10-minute jobs on ONE
 * freshly started worker, long enough to read what holding them costs: the worker's RSS and CPU
 * while nothing but waiting happens, the Temporal server's CPU, status reads per job-minute and
 * the worker's task slots in use. Pipelines are started at a sustainable rate, the sample starts
 * once every pipeline's first job runs at the emulator, and every pipeline is terminated at the end.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../src/contract/pipeline-contract.js';
import { defaultPipelineSpec } from '../src/pipeline/default-pipeline.js';
import type { generationPipeline } from '../src/workflows/generation-pipeline.js';
import { resetEmulator, workerProfile, type BenchContext } from './context.js';
import { countersDelta, countersNow, startServerMetrics, startUsage, startWorkerMetrics, type GaugeRange, type StackUsage } from './measure.js';
import { readsPerJobMinute } from './mode-figures.js';
import type { WaitMode } from './options.js';
import { processMemory, round, startMemoryWindow } from './proc-stats.js';
import { mapLimited, median, sleep } from './stats.js';
import { startWebhookTraffic, type WebhookTraffic } from './webhook-mode.js';

export interface SteadyResult {
  settings: { pipelines: number; jobMs: number; startRatePerSecond: number; settleMs: number; sampleMs: number; mode: WaitMode; workerSettings: Record<string, string> };
  /** The fresh worker's RSS before its first pipeline. */
  idleWorkerRssBytes: number | null;
  /** First start call → last start call returned. */
  startPhaseMs: number;
  /** First start call → every pipeline's first job running at the emulator (null: not reached in time). */
  allWaitingAfterMs: number | null;
  /** The worker's peak RSS from before the first start to the end of the sample (kernel high-water mark). */
  workerPeakRssBytes: number | null;
  /** The sample window, every pipeline waiting on its first job. */
  steady: {
    windowSeconds: number;
    /** First jobs in progress at the emulator when the window opened and closed. */
    jobsInFlight: { start: number; end: number };
    workerRssBytes: { min: number; median: number; max: number } | null;
    workerCpuPercent: number | null;
    temporalServerCpuPercent: number | null;
    emulatorCpuPercent: number | null;
    statusReads: number;
    statusReadsPerJobMinute: number;
    /** The worker's task slots in use (Temporal core metrics), by worker type. */
    slotsUsed: Record<string, GaugeRange>;
    eventLoopLagMaxSeconds: number | null;
    usage: StackUsage;
  };
  /** Webhook traffic over the whole section (webhooks mode). */
  webhooks?: WebhookTraffic;
  cleanup: { terminated: number; ms: number };
}

async function jobsInProgress(context: BenchContext): Promise<number> {
  return (await context.stack.emulator.admin.jobs({ state: 'in_progress' })).length;
}

export async function runSteadySection(context: BenchContext): Promise<SteadyResult> {
  const { options, stack } = context;
  const settings = options.steady;
  const profile = workerProfile('default', settings.mode);
  await resetEmulator(context, settings.jobMs);
  // A fresh process: its idle RSS and peak are not inflated by what earlier sections ran.
  const worker = await context.worker(profile, { restart: true });
  await sleep(2_000);
  const idleWorkerRssBytes = processMemory(worker.pid)?.rssBytes ?? null;
  const memory = startMemoryWindow(worker.pid, options.sampleMs);
  const webhookTraffic = settings.mode === 'webhooks' ? startWebhookTraffic(worker) : undefined;
  const countersAtStart = await countersNow(stack.emulator.admin);

  const ids = Array.from({ length: settings.pipelines }, (_, i) => `bench-${context.runId}-steady-${i}`);
  context.log(`steady: starting ${ids.length} pipelines at ${settings.startRatePerSecond}/s, ${settings.jobMs / 1000} s jobs (${settings.mode})`);
  const firstStartAtMs = Date.now();
  let started = 0;
  try {
    await mapLimited(ids, 16, async (pipelineId, index) => {
      const dueAtMs = firstStartAtMs + (index * 1000) / settings.startRatePerSecond;
      if (dueAtMs > Date.now()) await sleep(dueAtMs - Date.now());
      const spec = defaultPipelineSpec({ pipelineId, prompt: `a quiet valley, ${index}`, faceImageUrl: context.faceImageUrl }, context.registry);
      await stack.client.workflow.start<typeof generationPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue: worker.taskQueue, workflowId: pipelineWorkflowId(pipelineId), args: [{ spec }] });
      if (++started % 100 === 0) context.log(`steady: ${started} started`);
    });
    const startPhaseMs = Date.now() - firstStartAtMs;

    // Waiting starts when each pipeline's first job runs at the emulator.
    let allWaitingAfterMs: number | null = null;
    const waitDeadline = Date.now() + settings.waitTimeoutMs;
    let lastLog = 0;
    for (;;) {
      // The counters are cheap to read every second; the job list (1,000 entries) only to confirm.
      const submitted = countersDelta(countersAtStart, await countersNow(stack.emulator.admin)).total.acceptedJobs;
      const running = submitted >= ids.length ? await jobsInProgress(context) : submitted;
      if (running >= ids.length) {
        allWaitingAfterMs = Date.now() - firstStartAtMs;
        break;
      }
      if (Date.now() > waitDeadline) {
        context.log(`steady: only ${running} of ${ids.length} first jobs run after ${Math.round(settings.waitTimeoutMs / 1000)} s; sampling anyway`);
        break;
      }
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        context.log(`steady: ${running} of ${ids.length} first jobs running`);
      }
      await sleep(1_000);
    }
    await sleep(settings.settleMs);
    if (Date.now() - firstStartAtMs + settings.sampleMs > settings.jobMs) {
      context.log('steady: the first jobs may end inside the sample window; use a longer --steady-job-ms');
    }

    context.log(`steady: sampling for ${Math.round(settings.sampleMs / 1000)} s`);
    const jobsAtStart = await jobsInProgress(context);
    const countersBefore = await countersNow(stack.emulator.admin);
    const usage = startUsage(stack, worker, options.sampleMs);
    const metrics = startWorkerMetrics(worker);
    const serverMetrics = startServerMetrics(stack.temporal.metricsUrl);
    const rssSamples: number[] = [];
    const sampleEnd = Date.now() + settings.sampleMs;
    while (Date.now() < sampleEnd) {
      const now = processMemory(worker.pid);
      if (now) rssSamples.push(now.rssBytes);
      await sleep(Math.min(1_000, Math.max(0, sampleEnd - Date.now())));
    }
    const windowUsage = usage.stop();
    const workerMetrics = await metrics.stop();
    await serverMetrics.stop();
    const reads = countersDelta(countersBefore, await countersNow(stack.emulator.admin)).total.statusReads;
    const jobsAtEnd = await jobsInProgress(context);
    const peak = memory.stop();
    const webhooks = await webhookTraffic?.stop(countersDelta(countersAtStart, await countersNow(stack.emulator.admin)));
    const percent = (cores: number | undefined): number | null => (cores === undefined ? null : round(cores * 100, 1));
    const slotsUsed = Object.fromEntries(Object.entries(workerMetrics.gauges).filter(([name]) => name.includes('slots_used')));
    const lag = workerMetrics.gauges['rcp_worker_nodejs_eventloop_lag_max_seconds']?.max;
    const result: Omit<SteadyResult, 'cleanup'> = {
      settings: { pipelines: settings.pipelines, jobMs: settings.jobMs, startRatePerSecond: settings.startRatePerSecond, settleMs: settings.settleMs, sampleMs: settings.sampleMs, mode: settings.mode, workerSettings: context.workerSettings(profile) },
      idleWorkerRssBytes,
      startPhaseMs,
      allWaitingAfterMs,
      workerPeakRssBytes: peak?.peakRssBytes ?? null,
      steady: {
        windowSeconds: windowUsage.driver.wallSeconds,
        jobsInFlight: { start: jobsAtStart, end: jobsAtEnd },
        workerRssBytes: rssSamples.length === 0 ? null : { min: Math.min(...rssSamples), median: median(rssSamples), max: Math.max(...rssSamples) },
        workerCpuPercent: percent(windowUsage.worker.cpu?.cores),
        temporalServerCpuPercent: percent(windowUsage.temporalServer?.cores),
        emulatorCpuPercent: percent(windowUsage.emulator?.cores),
        statusReads: reads,
        // Every in-flight job ran for the whole window.
        statusReadsPerJobMinute: readsPerJobMinute(reads, Math.max(1, jobsAtStart) * windowUsage.driver.wallSeconds * 1000),
        slotsUsed,
        eventLoopLagMaxSeconds: lag ?? null,
        usage: windowUsage,
      },
      ...(webhooks ? { webhooks } : {}),
    };
    context.log(
      `steady: worker RSS ${Math.round((result.steady.workerRssBytes?.median ?? 0) / 2 ** 20)} MiB (peak ${Math.round((result.workerPeakRssBytes ?? 0) / 2 ** 20)}, idle ${Math.round((idleWorkerRssBytes ?? 0) / 2 ** 20)}), ` +
        `worker CPU ${result.steady.workerCpuPercent}%, server CPU ${result.steady.temporalServerCpuPercent}%, ${result.steady.statusReadsPerJobMinute} reads/job-min`,
    );
    return { ...result, cleanup: await terminateAll(context, ids) };
  } catch (error) {
    await terminateAll(context, ids).catch(() => undefined);
    throw error;
  }
}

/** Terminates every pipeline of the section and forgets the emulator's jobs. */
async function terminateAll(context: BenchContext, ids: readonly string[]): Promise<SteadyResult['cleanup']> {
  const startedAt = Date.now();
  let terminated = 0;
  context.log(`steady: terminating ${ids.length} pipelines`);
  await mapLimited(ids, 16, async (pipelineId) => {
    try {
      await context.stack.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).terminate('benchmark steady-state sample done');
      terminated++;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError) && !String(error).includes('already completed')) throw error;
    }
  });
  await context.stack.emulator.admin.reset();
  return { terminated, ms: Date.now() - startedAt };
}

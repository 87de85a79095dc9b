/**
 * Section 3, API economy: how many status reads the worker spends per job and per minute of job
 * time (the emulator's counters), against the fewest reads that still notice a finished job within
 * the configured detection latency (job time ÷ longest poll interval + 1). Runs pipelines with
 * longer jobs on the worker's DEFAULT poll settings, and also reports the other sections' runs.
 */
import type { JobSummary } from '../src/emulator/index.js';
import { workerEnvSchema } from '../src/config.js';
import { defaultPipelineSpec } from '../src/pipeline/default-pipeline.js';
import type { DeploymentRegistry } from '../src/pipeline/registry.js';
import { emulatorJobs, resetEmulator, type BenchContext } from './context.js';
import { countersDelta, countersNow, type CountersDelta } from './measure.js';
import { round } from './proc-stats.js';
import type { BenchReport } from './run.js';
import { chainTimingFromExecution, runPipelineBatch } from './temporal-pipelines.js';

/** The worker's await-job pacing (src/activities/await-job.ts): start quick, grow 1.5×, cap by the budget. */
const INTERVAL_GROWTH = 1.5;
const BUDGET_FRACTION_PER_POLL = 1 / 40;

/** Longest pause between two reads of a running job: the detection latency the worker is configured for. */
export function effectiveMaxIntervalMs(initialMs: number, maxMs: number, runBudgetMs: number): number {
  return Math.max(initialMs, Math.min(maxMs, runBudgetMs * BUDGET_FRACTION_PER_POLL));
}

/**
 * Reads the worker's schedule makes for a job that starts at once and runs `jobMs`: one read in the
 * queue phase (it sees the job running), then the run phase reads at 0, i, i + 1.5i, … (capped)
 * until a read falls at or after the end.
 */
export function scheduledReadsPerJob(jobMs: number, initialMs: number, maxIntervalMs: number): number {
  let reads = 2;
  let at = 0;
  let interval = initialMs;
  while (at < jobMs) {
    at += interval;
    reads++;
    interval = Math.min(interval * INTERVAL_GROWTH, maxIntervalMs);
  }
  return reads;
}

/** The fewest reads that notice the end within `maxIntervalMs`: job ÷ interval, plus the first read. */
export function minimumReadsPerJob(jobMs: number, maxIntervalMs: number): number {
  return jobMs / maxIntervalMs + 1;
}

/** Status reads of one group of jobs against what they needed. */
export interface EconomyRow {
  label: string;
  jobs: number;
  statusReads: number;
  readsPerJob: number;
  /** Sum of the jobs' run times, in minutes. */
  jobMinutes: number;
  readsPerJobMinute: number;
  /** Longest configured pause between reads of a running job. */
  detectionIntervalMs: number;
  /** Mean over the jobs of job time ÷ detection interval + 1. */
  minimumReadsPerJob: number;
  /** readsPerJob ÷ minimumReadsPerJob. */
  readsOverMinimum: number;
  /** Reads the worker's schedule predicts per job (null for the baseline's fixed loop). */
  scheduleReadsPerJob: number | null;
}

export interface ApiResult {
  settings: { pipelines: number; jobMs: number; pollInitialIntervalMs: number; pollMaxIntervalMs: number };
  /** The api run, per step kind (one deployment each). */
  byStep: EconomyRow[];
  /** Totals of the api run and of the other sections' runs. */
  runs: EconomyRow[];
  /** The schedule's reads for longer jobs (a model, not a measurement), per step kind. */
  model: { stepKind: string; jobMinutes: number; scheduleReadsPerJob: number; minimumReadsPerJob: number; ratio: number }[];
}

function deploymentKeyById(registry: DeploymentRegistry): Map<string, { key: string; kind: string; runBudgetMs: number }> {
  return new Map(Object.entries(registry.deployments).map(([key, entry]) => [entry.deploymentId, { key, kind: entry.kind, runBudgetMs: entry.budgets.runTimeoutMs }]));
}

function economyRow(label: string, jobs: readonly JobSummary[], statusReads: number, intervalOf: (job: JobSummary) => number, schedule: ((job: JobSummary) => number) | null): EconomyRow {
  const ran = jobs.filter((job) => job.started_at_ms != null && job.finished_at_ms != null);
  const runMs = (job: JobSummary): number => job.finished_at_ms! - job.started_at_ms!;
  const jobMinutes = ran.reduce((sum, job) => sum + runMs(job), 0) / 60_000;
  const minimum = ran.reduce((sum, job) => sum + minimumReadsPerJob(runMs(job), intervalOf(job)), 0) / Math.max(1, ran.length);
  const readsPerJob = statusReads / Math.max(1, ran.length);
  const intervals = [...new Set(ran.map(intervalOf))];
  return {
    label,
    jobs: ran.length,
    statusReads,
    readsPerJob: round(readsPerJob, 2),
    jobMinutes: round(jobMinutes, 2),
    readsPerJobMinute: round(statusReads / Math.max(jobMinutes, 1e-9), 1),
    detectionIntervalMs: intervals.length === 1 ? intervals[0]! : Math.max(...intervals),
    minimumReadsPerJob: round(minimum, 2),
    readsOverMinimum: round(readsPerJob / minimum, 2),
    scheduleReadsPerJob: schedule ? round(ran.reduce((sum, job) => sum + schedule(job), 0) / Math.max(1, ran.length), 2) : null,
  };
}

/** Economy of a run of the other sections, from its counters and the jobs it ran. */
function rowFromCounters(label: string, counters: CountersDelta, jobCount: number, jobMs: number, intervalMs: number, schedule: number | null): EconomyRow {
  const jobMinutes = (jobCount * jobMs) / 60_000;
  const readsPerJob = counters.total.statusReads / Math.max(1, jobCount);
  const minimum = minimumReadsPerJob(jobMs, intervalMs);
  return {
    label,
    jobs: jobCount,
    statusReads: counters.total.statusReads,
    readsPerJob: round(readsPerJob, 2),
    jobMinutes: round(jobMinutes, 2),
    readsPerJobMinute: round(counters.total.statusReads / Math.max(jobMinutes, 1e-9), 1),
    detectionIntervalMs: intervalMs,
    minimumReadsPerJob: round(minimum, 2),
    readsOverMinimum: round(readsPerJob / minimum, 2),
    scheduleReadsPerJob: schedule,
  };
}

export async function runApiSection(context: BenchContext, report: BenchReport): Promise<ApiResult> {
  const { options, stack } = context;
  const defaults = workerEnvSchema.parse({ RUNCOMFY_TOKEN: 'x', R2_ENDPOINT: 'http://127.0.0.1', R2_BUCKET: 'bench', R2_ACCESS_KEY_ID: 'x', R2_SECRET_ACCESS_KEY: 'x' });
  const initialMs = defaults.POLL_INITIAL_INTERVAL_MS;
  const maxMs = defaults.POLL_MAX_INTERVAL_MS;
  const byId = deploymentKeyById(context.registry);
  const intervalOf = (job: JobSummary): number => effectiveMaxIntervalMs(initialMs, maxMs, byId.get(job.deployment_id)?.runBudgetMs ?? Number.POSITIVE_INFINITY);

  await resetEmulator(context, options.api.jobMs);
  const worker = await context.worker('default');
  const specs = Array.from({ length: options.api.pipelines }, (_, i) =>
    defaultPipelineSpec({ pipelineId: `bench-${context.runId}-api-${i}`, prompt: `a quiet library, ${i}`, faceImageUrl: context.faceImageUrl }, context.registry),
  );
  context.log(`api: ${specs.length} pipelines with ${options.api.jobMs} ms jobs on the default poll settings`);
  const before = await countersNow(stack.emulator.admin);
  const batch = await runPipelineBatch({ client: stack.client, taskQueue: worker.taskQueue, specs, startConcurrency: 8, timeoutMs: 30 * 60_000 });
  const counters = countersDelta(before, await countersNow(stack.emulator.admin));
  const jobs = await emulatorJobs(context);
  const requestIds = new Set(batch.executions.map(chainTimingFromExecution).flatMap((chain) => chain.steps.map((step) => step.requestId)));
  const apiJobs = [...jobs.values()].filter((job) => requestIds.has(job.request_id));

  const schedule = (job: JobSummary): number => scheduledReadsPerJob(job.finished_at_ms! - job.started_at_ms!, initialMs, intervalOf(job));
  const byStep: EconomyRow[] = [];
  for (const [deploymentId, deploymentCounters] of Object.entries(counters.deployments)) {
    const info = byId.get(deploymentId);
    byStep.push(economyRow(`${info?.kind ?? deploymentId} (${info?.key ?? '?'})`, apiJobs.filter((job) => job.deployment_id === deploymentId), deploymentCounters.statusReads, intervalOf, schedule));
  }
  const runs: EconomyRow[] = [economyRow(`api: ${options.api.jobMs / 1000} s jobs, default polling`, apiJobs, counters.total.statusReads, intervalOf, schedule)];

  const fixed = options.overhead.pollIntervalMs;
  if (report.overhead) {
    for (const orchestrator of ['temporal', 'baseline'] as const) {
      // The fixed-interval model describes polling only; webhooks runs read on nudges.
      const of = report.overhead.runs.filter((run) => run.orchestrator === orchestrator && run.mode !== 'webhooks');
      if (of.length === 0) continue;
      const merged: CountersDelta = { total: { ...of[0]!.counters.total, statusReads: of.reduce((sum, run) => sum + run.counters.total.statusReads, 0) }, deployments: {} };
      const jobCount = of.reduce((sum, run) => sum + run.counters.total.acceptedJobs, 0);
      const jobMs = report.overhead.settings.jobMs;
      const model = orchestrator === 'temporal' ? scheduledReadsPerJob(jobMs, fixed, fixed) : scheduledReadsPerJob(jobMs, fixed, fixed) - 1;
      runs.push(rowFromCounters(`overhead: ${orchestrator === 'temporal' ? 'worker' : 'baseline'}, ${jobMs / 1000} s jobs, ${fixed} ms fixed`, merged, jobCount, jobMs, fixed, model));
    }
  }
  // Scale levels on the default poll settings have no fixed interval to compare with.
  for (const level of report.scale?.settings.pollIntervalMs === 'default' ? [] : (report.scale?.levels ?? []).filter((level) => level.mode !== 'webhooks')) {
    const jobMs = report.scale!.settings.jobMs;
    runs.push(rowFromCounters(`scale ${level.pipelines}: ${jobMs / 1000} s jobs, ${fixed} ms fixed`, level.counters, level.counters.total.acceptedJobs, jobMs, fixed, scheduledReadsPerJob(jobMs, fixed, fixed)));
  }

  const model: ApiResult['model'] = [];
  for (const entry of Object.values(context.registry.deployments)) {
    const interval = effectiveMaxIntervalMs(initialMs, maxMs, entry.budgets.runTimeoutMs);
    for (const minutes of [1, 5, 20]) {
      if (minutes * 60_000 > entry.budgets.runTimeoutMs) continue;
      const jobMs = minutes * 60_000;
      const reads = scheduledReadsPerJob(jobMs, initialMs, interval);
      const minimum = minimumReadsPerJob(jobMs, interval);
      model.push({ stepKind: entry.kind, jobMinutes: minutes, scheduleReadsPerJob: reads, minimumReadsPerJob: round(minimum, 2), ratio: round(reads / minimum, 2) });
    }
  }
  return { settings: { pipelines: options.api.pipelines, jobMs: options.api.jobMs, pollInitialIntervalMs: initialMs, pollMaxIntervalMs: maxMs }, byStep, runs, model };
}

/**
 * Turns what a run of chained jobs left behind (the emulator's job timestamps and each pipeline's own
 * timestamps) into overhead figures that mean the same for the Temporal pipeline and the baseline.
 */
import type { JobSummary } from '../src/emulator/index.js';
import { summarize, type Summary } from './stats.js';

/** One step of one pipeline as seen by its orchestrator. */
export interface ChainStepTiming {
  stepId: string;
  requestId: string;
  /** When the orchestrator learned the job had ended (the workflow's time after the poll returned, or the baseline's read). */
  detectedAtMs?: number;
  /** When the step's outputs were stored. */
  persistedAtMs?: number;
}

/** One pipeline run, by either orchestrator. */
export interface ChainTiming {
  pipelineId: string;
  /** Workflow start (server time) or the baseline's start of the chain. */
  startedAtMs: number;
  /** Workflow close (server time) or the baseline's end after the last copy. */
  closedAtMs: number;
  succeeded: boolean;
  steps: ChainStepTiming[];
}

/** The overhead between two consecutive jobs, cut into where the time went. */
export interface GapSample {
  /** e.g. `t2i→faceswap`, or `i2v→close` after the last job. */
  transition: string;
  /** Job completion at the emulator → next job's submit at the emulator (or the pipeline's close). */
  totalMs: number;
  /** Job completion → the orchestrator knows (poll phase, activity completion, workflow task). */
  detectMs?: number;
  /** Known → outputs persisted (result read, copies, task hand-offs). */
  persistMs?: number;
  /** Persisted → next submit reaches the emulator (or the close). */
  handoffMs?: number;
}

export interface ChainAnalysis {
  pipelines: number;
  succeeded: number;
  /** Pipelines whose jobs could not all be found at the emulator (excluded). */
  incomplete: number;
  /** Start → first submit at the emulator. */
  startToFirstSubmitMs: Summary;
  endToEndMs: Summary;
  /** Sum of the emulator's run times (finished − started) of a pipeline's jobs. */
  jobTimeMs: Summary;
  /** Time jobs waited in the emulator's queue (should be ~0: enough instances). */
  queueWaitMs: Summary;
  /** End-to-end ÷ job time, per pipeline. */
  endToEndOverJobTime: Summary;
  /** Every gap of every pipeline pooled. */
  stepOverheadMs: Summary;
  /** persist + hand-off of every gap pooled: the orchestration after the job's end was noticed, without the poll's alignment. */
  afterDetectMs: Summary;
  /** The parts of every gap pooled: detect (job end → known), persist (known → stored), hand-off (stored → next submit). */
  partsMs: { detectMs: Summary; persistMs: Summary; handoffMs: Summary };
  /** Per transition: total and its parts. */
  byTransition: Record<string, { totalMs: Summary; detectMs: Summary; persistMs: Summary; handoffMs: Summary }>;
}

export function analyzeChains(chains: readonly ChainTiming[], jobs: ReadonlyMap<string, JobSummary>): ChainAnalysis & { gaps: GapSample[] } {
  const gaps: GapSample[] = [];
  const startToFirst: number[] = [];
  const endToEnd: number[] = [];
  const jobTime: number[] = [];
  const queueWait: number[] = [];
  const ratio: number[] = [];
  let incomplete = 0;
  for (const chain of chains) {
    if (!chain.succeeded) continue;
    const chainJobs = chain.steps.map((step) => jobs.get(step.requestId));
    if (chainJobs.some((job) => job?.finished_at_ms == null || job.started_at_ms == null)) {
      incomplete++;
      continue;
    }
    const done = chainJobs as (JobSummary & { started_at_ms: number; finished_at_ms: number })[];
    startToFirst.push(done[0]!.submitted_at_ms - chain.startedAtMs);
    const e2e = chain.closedAtMs - chain.startedAtMs;
    const ran = done.reduce((sum, job) => sum + (job.finished_at_ms - job.started_at_ms), 0);
    endToEnd.push(e2e);
    jobTime.push(ran);
    queueWait.push(done.reduce((sum, job) => sum + (job.started_at_ms - job.submitted_at_ms), 0));
    ratio.push(e2e / ran);
    for (const [index, job] of done.entries()) {
      const step = chain.steps[index]!;
      const next = done[index + 1];
      const nextAtMs = next ? next.submitted_at_ms : chain.closedAtMs;
      const gap: GapSample = { transition: `${step.stepId}→${next ? chain.steps[index + 1]!.stepId : 'close'}`, totalMs: nextAtMs - job.finished_at_ms };
      if (step.detectedAtMs !== undefined) gap.detectMs = step.detectedAtMs - job.finished_at_ms;
      if (step.detectedAtMs !== undefined && step.persistedAtMs !== undefined) gap.persistMs = step.persistedAtMs - step.detectedAtMs;
      if (step.persistedAtMs !== undefined) gap.handoffMs = nextAtMs - step.persistedAtMs;
      gaps.push(gap);
    }
  }
  const byTransition: ChainAnalysis['byTransition'] = {};
  for (const transition of [...new Set(gaps.map((gap) => gap.transition))]) {
    const of = gaps.filter((gap) => gap.transition === transition);
    const pick = (field: 'detectMs' | 'persistMs' | 'handoffMs'): number[] => of.map((gap) => gap[field]).filter((v): v is number => v !== undefined);
    byTransition[transition] = { totalMs: summarize(of.map((gap) => gap.totalMs), 0), detectMs: summarize(pick('detectMs'), 0), persistMs: summarize(pick('persistMs'), 0), handoffMs: summarize(pick('handoffMs'), 0) };
  }
  return {
    pipelines: chains.length,
    succeeded: chains.filter((chain) => chain.succeeded).length,
    incomplete,
    startToFirstSubmitMs: summarize(startToFirst, 0),
    endToEndMs: summarize(endToEnd, 0),
    jobTimeMs: summarize(jobTime, 0),
    queueWaitMs: summarize(queueWait, 0),
    endToEndOverJobTime: summarize(ratio, 3),
    stepOverheadMs: summarize(gaps.map((gap) => gap.totalMs), 0),
    partsMs: {
      detectMs: summarize(gaps.map((gap) => gap.detectMs).filter((v): v is number => v !== undefined), 0),
      persistMs: summarize(gaps.map((gap) => gap.persistMs).filter((v): v is number => v !== undefined), 0),
      handoffMs: summarize(gaps.map((gap) => gap.handoffMs).filter((v): v is number => v !== undefined), 0),
    },
    afterDetectMs: summarize(gaps.filter((gap) => gap.persistMs !== undefined && gap.handoffMs !== undefined).map((gap) => gap.persistMs! + gap.handoffMs!), 0),
    byTransition,
    gaps,
  };
}

/** Jobs by request id. */
export function jobsById(jobs: readonly JobSummary[]): Map<string, JobSummary> {
  return new Map(jobs.map((job) => [job.request_id, job]));
}

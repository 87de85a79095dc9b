/**
 * Which steps spent GPU time, and how much: what the backend needs to refund credits for work that
 * failed or was cancelled. Computed from a pipeline's progress (pure and sandbox-safe, so the
 * workflow puts the same facts in its callbacks that the client shows in status and result).
 *
 * Times come from RunComfy's own timestamps when its result gave them (`created_at` → `finished_at`:
 * the job's whole time by its clock; run seconds are that less the queue time observed, so the end
 * is exact and the start accurate to one poll interval), else from the status transitions the
 * workflow observed (submit accepted → first seen running → terminal or cancelled), accurate to one
 * poll interval at both ends. Each attempt says which (`timing`), the pipeline sums it up.
 */

/** The parts of a job attempt's progress the facts are computed from (see the pipeline contract's JobAttempt). */
interface JobAttempt {
  attempt: number;
  requestId?: string;
  submittedAt?: string;
  runStartedAt?: string;
  finishedAt?: string;
  remoteCreatedAt?: string;
  remoteFinishedAt?: string;
  status: string;
}

/** The parts of a step's progress the facts are computed from (see the pipeline contract's StepProgress). */
interface StepProgress {
  id: string;
  kind: string;
  deploymentKey: string;
  deploymentId?: string;
  hardware?: string[];
  state: string;
  finishedAt?: string;
  attempts: JobAttempt[];
}

interface PipelineProgress {
  steps: StepProgress[];
}

/** One RunComfy job of a step. */
export interface AttemptGpuFacts {
  attempt: number;
  requestId?: string;
  /** succeeded, failed, cancelled, not-submitted, or unknown (the submit's outcome was lost). */
  outcome: string;
  /** True when the job reached a GPU (seen running, or finished at RunComfy). */
  gpuSpent: boolean;
  /** From accepted to first seen running (or to its end, when it never ran). */
  queueSeconds: number;
  /** From first seen running to its end (0 when it never ran). */
  runSeconds: number;
  /** `runcomfy-timestamps`: the end (and the whole) from RunComfy's result; `status-transitions`: as observed. */
  timing: AttemptTiming;
}

/** How one attempt's times were measured. */
export type AttemptTiming = 'runcomfy-timestamps' | 'status-transitions';

/** A step's GPU facts, per attempt and in total. */
export interface StepGpuFacts {
  stepId: string;
  kind: string;
  deploymentKey: string;
  deploymentId?: string;
  /** RunComfy hardware SKUs of the deployment, from the registry's deployment at RunComfy. */
  hardware?: string[];
  state: string;
  gpuSpent: boolean;
  queueSeconds: number;
  runSeconds: number;
  attempts: AttemptGpuFacts[];
}

/** The pipeline's GPU facts. */
export interface PipelineGpuFacts {
  steps: StepGpuFacts[];
  totals: {
    runSeconds: number;
    queueSeconds: number;
    jobs: number;
    jobsWithGpu: number;
    /** Ids of steps that spent GPU time (charge these). */
    stepsWithGpu: string[];
    /** Ids of steps that spent none (refund these). */
    stepsWithoutGpu: string[];
  };
  /** How times were measured: every job by RunComfy's timestamps, every one by status transitions, or some of each. */
  timing: AttemptTiming | 'mixed';
}

function seconds(fromIso: string | undefined, toIso: string | undefined): number {
  if (!fromIso || !toIso) return 0;
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) / 1000 : 0;
}

function attemptOutcome(attempt: JobAttempt, step: StepProgress, isLast: boolean): string {
  if (attempt.status === 'succeeded' || attempt.status === 'failed' || attempt.status === 'cancelled' || attempt.status === 'unknown') return attempt.status;
  if (attempt.requestId === undefined) return 'not-submitted';
  // Still queued or running when the step ended: the step's end decides (cancelled, or failed on a budget).
  if (isLast && (step.state === 'cancelled' || step.state === 'failed')) return step.state;
  return attempt.status;
}

/** GPU facts of one step; `nowIso` ends the measurement of a job still running. */
export function stepGpuFacts(step: StepProgress, nowIso?: string): StepGpuFacts {
  const attempts = step.attempts.map((attempt, index): AttemptGpuFacts => {
    const isLast = index === step.attempts.length - 1;
    const outcome = attemptOutcome(attempt, step, isLast);
    const end = attempt.finishedAt ?? (isLast ? (step.finishedAt ?? nowIso) : undefined);
    const ran = attempt.runStartedAt !== undefined;
    const observedQueue = seconds(attempt.submittedAt, attempt.runStartedAt ?? end);
    const remoteTotal = attempt.remoteCreatedAt !== undefined && attempt.remoteFinishedAt !== undefined ? seconds(attempt.remoteCreatedAt, attempt.remoteFinishedAt) : undefined;
    // Differences within one clock only: RunComfy's total, less the queue time the workflow saw.
    const queueSeconds = remoteTotal !== undefined ? Math.min(observedQueue, remoteTotal) : observedQueue;
    const runSeconds = !ran ? 0 : remoteTotal !== undefined ? round(remoteTotal - queueSeconds) : seconds(attempt.runStartedAt, end);
    return {
      attempt: attempt.attempt,
      ...(attempt.requestId !== undefined ? { requestId: attempt.requestId } : {}),
      outcome,
      // A job RunComfy finished (succeeded or failed) ran on a GPU even if no poll saw it running.
      gpuSpent: ran || outcome === 'succeeded' || (outcome === 'failed' && attempt.status === 'failed'),
      queueSeconds,
      runSeconds,
      timing: remoteTotal !== undefined ? 'runcomfy-timestamps' : 'status-transitions',
    };
  });
  return {
    stepId: step.id,
    kind: step.kind,
    deploymentKey: step.deploymentKey,
    ...(step.deploymentId !== undefined ? { deploymentId: step.deploymentId } : {}),
    ...(step.hardware !== undefined ? { hardware: [...step.hardware] } : {}),
    state: step.state,
    gpuSpent: attempts.some((a) => a.gpuSpent),
    queueSeconds: round(attempts.reduce((sum, a) => sum + a.queueSeconds, 0)),
    runSeconds: round(attempts.reduce((sum, a) => sum + a.runSeconds, 0)),
    attempts,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** GPU facts of every step of a pipeline, with totals. */
export function gpuFactsOf(progress: Pick<PipelineProgress, 'steps'>, nowIso?: string): PipelineGpuFacts {
  const steps = progress.steps.map((step) => stepGpuFacts(step, nowIso));
  const attempts = steps.flatMap((s) => s.attempts);
  return {
    steps,
    totals: {
      runSeconds: round(steps.reduce((sum, s) => sum + s.runSeconds, 0)),
      queueSeconds: round(steps.reduce((sum, s) => sum + s.queueSeconds, 0)),
      jobs: attempts.filter((a) => a.requestId !== undefined).length,
      jobsWithGpu: attempts.filter((a) => a.gpuSpent).length,
      stepsWithGpu: steps.filter((s) => s.gpuSpent).map((s) => s.stepId),
      stepsWithoutGpu: steps.filter((s) => !s.gpuSpent).map((s) => s.stepId),
    },
    timing: timingOf(attempts.filter((a) => a.requestId !== undefined)),
  };
}

function timingOf(jobs: readonly AttemptGpuFacts[]): PipelineGpuFacts['timing'] {
  const remote = jobs.filter((a) => a.timing === 'runcomfy-timestamps').length;
  if (remote === 0) return 'status-transitions';
  return remote === jobs.length ? 'runcomfy-timestamps' : 'mixed';
}

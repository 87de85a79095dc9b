import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { readySteps, blockedSteps } from '../pipeline/plan.js';
import { validatePipelineSpec, type PipelineSpec, type PipelineStep } from '../pipeline/spec.js';
import { orderStepOutputs } from '../pipeline/registry.js';
import { defaultStepOutputSelector, pickStepOutput } from '../pipeline/step-kinds.js';
import type { FetchJobResultOutput, JobOutputRef, PreparedPipeline, StepInputRef } from '../contract/activity-contract.js';
import {
  cancelPipelineSignal,
  invalidSpecFailure,
  PIPELINE_FAILURE_TYPES,
  pipelineProgressQuery,
  STEP_FAILURE_TYPES,
  type CancelPipelineRequest,
  type JobAttempt,
  type PipelineResult,
  type PipelineStatus,
  type PipelineWorkflowInput,
  type StepError,
  type StepProgress,
} from '../contract/pipeline-contract.js';
import type { ActivityOptions } from '@temporalio/common';
import { pipelineStatusSearchAttribute as pipelineStatusKey } from '../contract/search-attributes.js';
import { outputLayout, PipelineHooks } from './pipeline-hooks.js';
import { ProgressBook } from './pipeline-progress.js';
import { DEFAULT_PERSIST_CANCEL_GRACE_MS, protectedCopy } from './protected-copy.js';
import { stopIfRequested, type RunControl } from './run-control.js';
import { stopJob } from './stop-job.js';
import { stepActivities, type StepActivities } from './step-activities.js';
import { waitInQueue } from './queue-phase.js';
import { persistThroughOutages } from './store-outage.js';
import { NudgeBoard, pauseBeforeFirstRead, readsPerPhase, SLOT_FREE_WAITING_PATCH } from './job-wait.js';
import { StepFailure, StepFailureWithStep } from './step-failure.js';
import { submitOnce } from './submit-once.js';
import { waitPhase, waitWithoutSlot } from './step-wait.js';
import { asCancellation, describeFailure, failureType } from './workflow-failures.js';

// Preparing only reads RunComfy and the registry: safe to retry, bounded all the same.
const prepareOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 8, nonRetryableErrorTypes: [PIPELINE_FAILURE_TYPES.invalidSpec, PIPELINE_FAILURE_TYPES.invalidDeployment] },
};
const { preparePipeline } = proxyActivities<PipelineActivities>(prepareOptions);
// Slot-free runs prepare in the workflow's own task: no task-queue hop before the first submit.
const { preparePipeline: preparePipelineLocally } = proxyLocalActivities<PipelineActivities>({ ...prepareOptions, localRetryThreshold: '10 seconds' });

/** Patch id (wire name, never renamed): the wait activity returns the job's result. */
const WAIT_RETURNS_RESULT_PATCH = 'wait-returns-result';
/**
 * Patch id (wire name, never renamed): a later step receives the source deployment's preferred
 * output (`outputs.preferNodeIds`); older runs keep the plain node-id order they chose by.
 */
const PREFER_OUTPUT_NODES_PATCH = 'prefer-output-nodes';
/**
 * Patch id (wire name, never renamed), decided once at the start of a run: no new submit once a cancel
 * reached the workflow, a cancel before the last output is persisted ends the pipeline cancelled,
 * a finished job's outputs are kept when a cancel races its end, submit retries honour Retry-After,
 * copies ride out store outages, and cancelling a job is retried for a long budget.
 */
const EDGES_PATCH = 'cancel-and-outage-edges';

/** RunComfy's timestamps of a finished job, for its GPU facts (progress only: no command depends on them). */
function keepRemoteTimes(record: JobAttempt, result: { remoteTimes?: { createdAt: string; finishedAt: string } }): void {
  if (!result.remoteTimes) return;
  record.remoteCreatedAt = result.remoteTimes.createdAt;
  record.remoteFinishedAt = result.remoteTimes.finishedAt;
}

function nowIso(): string {
  return new Date().toISOString();
}

/**
 * A generation pipeline: a small DAG of RunComfy jobs. Each step submits one job, waits for it
 * (queue and run phases, each with its own budget), reads its result and copies its outputs to R2;
 * later steps receive those outputs as inputs. A `cancelPipeline` signal or a Temporal cancellation
 * cancels every accepted job at RunComfy and keeps what was already persisted.
 */
export async function generationPipeline(input: PipelineWorkflowInput): Promise<PipelineResult> {
  const hooks = new PipelineHooks();
  // The terminal callback is handed to the outbox on every way out (succeeded, failed, cancelled).
  return runPipeline(input, hooks).then(
    async (result) => {
      await hooks.close();
      return result;
    },
    async (error: unknown) => {
      await hooks.close(error);
      throw error;
    },
  );
}

async function runPipeline(input: PipelineWorkflowInput, hooks: PipelineHooks): Promise<PipelineResult> {
  // Cheap re-validation: the client validated too, but history must never run a malformed spec.
  const validation = validatePipelineSpec(input?.spec);
  if (!validation.ok) {
    throw invalidSpecFailure(validation.issues);
  }
  const spec = validation.spec;
  const book = new ProgressBook(spec, nowIso());
  setHandler(pipelineProgressQuery, () => book.snapshot());
  hooks.attach(spec, book);

  let cancelRequest: CancelPipelineRequest | undefined;
  const work = new CancellationScope();
  setHandler(cancelPipelineSignal, (request) => {
    if (cancelRequest || book.status === 'succeeded' || book.status === 'failed' || book.status === 'cancelled') return;
    cancelRequest = { reason: String(request?.reason ?? 'no reason given').slice(0, 500), ...(request?.requestedBy ? { requestedBy: String(request.requestedBy).slice(0, 200) } : {}) };
    log.info('pipeline cancel requested', { reason: cancelRequest.reason });
    book.markCancelling(cancelRequest.reason);
    work.cancel();
  });

  // Registered in every run: a nudge for a run that does not wait on them is recorded and ignored.
  const nudges = new NudgeBoard();
  const control: RunControl = {
    edges: patched(EDGES_PATCH),
    ...(patched(SLOT_FREE_WAITING_PATCH) ? { slotFree: nudges } : {}),
    stopRequested: () => cancelRequest !== undefined || work.consideredCancelled,
  };

  const setStatus = (status: PipelineStatus): void => {
    book.setStatus(status);
    upsertSearchAttributes([{ key: pipelineStatusKey, value: status }]);
  };
  upsertSearchAttributes([{ key: pipelineStatusKey, value: 'running' }]);

  try {
    await hooks.open(control.slotFree !== undefined);
    const prepared = await work.run(() => (control.slotFree ? preparePipelineLocally({ spec }) : preparePipeline({ spec })));
    await hooks.prepared(prepared);
    if (book.status === 'preparing') book.setStatus('running');
    await work.run(() => runSteps(spec, prepared, book, control));
    // A cancel that arrived while the last outputs were being persisted still wins: the outputs
    // are listed, and the pipeline ends as the caller asked.
    stopIfRequested(control, 'while its last outputs were persisted');
    book.finish('succeeded', nowIso());
    setStatus('succeeded');
    return book.snapshot();
  } catch (error) {
    if (isCancellation(error)) {
      book.finish('cancelled', nowIso());
      setStatus('cancelled');
      // A cancel signal ends the pipeline with a result listing what was kept; a Temporal
      // cancellation must end as cancelled in Temporal's own terms.
      if (cancelRequest) return book.snapshot();
      throw error;
    }
    if (error instanceof StepFailureWithStep) {
      book.finish('failed', nowIso(), error.stepId);
      setStatus('failed');
      const { stepId, error: stepError } = error;
      throw ApplicationFailure.create({
        type: PIPELINE_FAILURE_TYPES.stepFailed,
        message: `step "${stepId}" failed${stepError.requestId ? ` (RunComfy request ${stepError.requestId})` : ''}: ${stepError.message}`,
        details: [{ stepId, ...stepError }],
        nonRetryable: true,
      });
    }
    book.finish('failed', nowIso());
    setStatus('failed');
    if (error instanceof ActivityFailure && error.cause instanceof ApplicationFailure) {
      // Preparation failures (invalid spec for the registry, bindings that do not fit the graph).
      const cause = error.cause;
      throw ApplicationFailure.create({ type: cause.type ?? PIPELINE_FAILURE_TYPES.invalidDeployment, message: cause.message, details: cause.details ? [...cause.details] : [], nonRetryable: true });
    }
    throw error;
  }
}

type StepOutcome = { stepId: string; ok: true } | { stepId: string; ok: false; error: unknown };

/** Runs every step as soon as its inputs exist; the first failure cancels the steps still running. */
async function runSteps(spec: PipelineSpec, prepared: PreparedPipeline, book: ProgressBook, control: RunControl): Promise<void> {
  const done = new Set<string>();
  const running = new Map<string, Promise<StepOutcome>>();
  const branches = new CancellationScope();
  let firstFailure: StepOutcome | undefined;

  const launch = (step: PipelineStep): void => {
    const outcome = branches
      .run(() => runStep(step, spec, prepared, book, control))
      .then(
        (): StepOutcome => ({ stepId: step.id, ok: true }),
        (error: unknown): StepOutcome => ({ stepId: step.id, ok: false, error }),
      );
    running.set(step.id, outcome);
  };

  for (;;) {
    // Once a cancel arrived no step starts: starting one would mean a paid submit.
    const launching = !firstFailure && !(control.edges && control.stopRequested());
    if (launching) for (const step of readySteps(spec, done, new Set(running.keys()))) launch(step);
    if (running.size === 0) break;
    const outcome = await Promise.race(running.values());
    running.delete(outcome.stepId);
    if (outcome.ok) {
      done.add(outcome.stepId);
      continue;
    }
    if (!firstFailure) {
      firstFailure = outcome;
      // Fail fast: nobody wants the other branches' GPU time once the pipeline cannot succeed.
      if (!isCancellation(outcome.error)) branches.cancel();
    }
  }
  if (firstFailure && !firstFailure.ok) {
    for (const id of blockedSteps(spec, new Set([firstFailure.stepId]))) {
      const step = book.step(id);
      if (step.state === 'pending') step.state = 'skipped';
    }
    const error = firstFailure.error;
    if (error instanceof StepFailure) throw new StepFailureWithStep(firstFailure.stepId, error.error);
    throw error;
  }
}

/** submit → wait (queue, then run) → result → persist, with job-level retries for transient failures. */
async function runStep(step: PipelineStep, spec: PipelineSpec, prepared: PreparedPipeline, book: ProgressBook, control: RunControl): Promise<void> {
  const resolved = prepared.steps[step.id];
  if (!resolved) throw new StepFailure({ type: PIPELINE_FAILURE_TYPES.invalidDeployment, message: `step "${step.id}" was not prepared` });
  const { timings } = prepared;
  const deploymentId = resolved.deployment.deploymentId;
  const progress = book.step(step.id);
  progress.startedAt = nowIso();
  // For the step's GPU facts: where its jobs ran (query and result only; no command changes).
  progress.deploymentId = deploymentId;
  const hardware = prepared.hardware?.[step.id];
  if (hardware && hardware.length > 0) progress.hardware = [...hardware];
  const stepStartedAtMs = Date.now();
  const acts = stepActivities(prepared, step.id, control.edges);

  const inputs: Record<string, StepInputRef> = {};
  for (const [param, source] of Object.entries(step.inputs ?? {})) {
    const from = book.step(source.fromStep);
    const candidates = patched(PREFER_OUTPUT_NODES_PATCH) ? orderStepOutputs(prepared.steps[source.fromStep]?.deployment, from.outputs) : from.outputs;
    const chosen = pickStepOutput(candidates, source.output ?? defaultStepOutputSelector, (o) => o.media);
    if (!chosen) {
      throw new StepFailure({ type: STEP_FAILURE_TYPES.noOutputs, message: `input "${param}" needs a${source.output === 'video' ? ' video' : source.output === 'first' ? 'ny file' : 'n image'} from step "${source.fromStep}", which produced none` });
    }
    inputs[param] = { fromStep: source.fromStep, key: chosen.key, sourceUrl: chosen.sourceUrl };
  }

  let liveRequestId: string | undefined;
  let liveAttempt: { attempt: number; record: JobAttempt } | undefined;
  const persist = async (requestId: string, attempt: number, outputs: JobOutputRef[], record: JobAttempt): Promise<void> => {
    progress.state = 'persisting';
    const layout = outputLayout(spec);
    // A cancel gives a running copy a short grace, then stops it: a hostile source cannot hold the worker.
    const guard = { outer: CancellationScope.current(), stopRequested: control.stopRequested };
    const graceMs = timings.persistCancelGraceMs ?? DEFAULT_PERSIST_CANCEL_GRACE_MS;
    const copy = () =>
      protectedCopy(graceMs, guard, () => acts.persistOutputs({ pipelineId: spec.pipelineId, stepId: step.id, requestId, outputs, attempt, stepKind: step.kind, stepStartedAtMs, ...layout }));
    // A finished job's outputs are paid for: their copy completes even while the pipeline is cancelled.
    const persisted = control.edges
      ? await persistThroughOutages(copy, { timings, progress, record, jobFinishedAtMs: Date.now() })
      : await CancellationScope.nonCancellable(copy);
    progress.outputs = persisted.outputs;
    progress.state = 'succeeded';
    progress.finishedAt = nowIso();
  };
  try {
    for (let attempt = 1; ; attempt++) {
      stopIfRequested(control, `before step "${step.id}" submitted a job`);
      const record = book.newAttempt(step.id, attempt);
      progress.state = 'submitting';
      // Polling alone: the first read's pause runs alongside the submit (see pauseBeforeFirstRead).
      const firstPause = control.slotFree ? pauseBeforeFirstRead(timings, step.id) : undefined;
      let finished: FetchJobResultOutput | undefined;
      let requestId: string;
      try {
        requestId = await submitOnce(step, spec, prepared, attempt, inputs, record, control, acts);
        liveRequestId = requestId;
        liveAttempt = { attempt, record };
        progress.requestId = requestId;
        record.requestId = requestId;
        record.submittedAt = nowIso();
        record.status = 'queued';
        progress.state = 'waiting';
        // The submit was in flight when a cancel arrived: its job exists, and is cancelled below.
        stopIfRequested(control, `while step "${step.id}" submitted a job`);

        if (control.slotFree) {
          const { queueTimeoutMs: queueBudgetMs, runTimeoutMs: runBudgetMs } = resolved.deployment.budgets;
          const readsLimit = readsPerPhase(Object.values(prepared.steps).map((s) => s.maxJobAttempts));
          const job = { stepId: step.id, attempt, deploymentId, requestId, stepKind: step.kind, queueBudgetMs, runBudgetMs, timings, readsPerPhase: readsLimit, ...(firstPause ? { firstPause } : {}) };
          finished = await waitWithoutSlot(acts, control.slotFree, job, progress, record, () => setCurrentDetails(book.waitingDetails()));
        } else {
          finished = await waitWithPollActivities(acts, { deploymentId, requestId, stepKind: step.kind, budgets: resolved.deployment.budgets, timings }, progress, record, control);
        }
      } finally {
        // Unused when the submit failed or a cancel came first: its timer must not wake the run later.
        firstPause?.drop();
      }
      // Terminal at RunComfy: nothing left to cancel for this job.
      liveRequestId = undefined;
      record.finishedAt = nowIso();
      progress.state = 'fetching-result';
      const result = finished ?? (control.edges ? await CancellationScope.nonCancellable(() => acts.fetchJobResult({ deploymentId, requestId, stepKind: step.kind })) : await acts.fetchJobResult({ deploymentId, requestId, stepKind: step.kind }));
      record.status = result.outcome;
      keepRemoteTimes(record, result);
      if (result.outcome === 'succeeded') {
        if (result.outputs.length === 0) {
          throw new StepFailure({ type: STEP_FAILURE_TYPES.noOutputs, message: 'the job succeeded but produced no output files', requestId });
        }
        await persist(requestId, attempt, result.outputs, record);
        // Outputs kept and listed; a cancel that arrived meanwhile still ends the pipeline cancelled.
        stopIfRequested(control, `while step "${step.id}" persisted its outputs`);
        return;
      }
      if (result.outcome === 'cancelled') {
        throw new StepFailure({ type: STEP_FAILURE_TYPES.jobCancelledRemotely, message: 'the job was cancelled at RunComfy', requestId });
      }
      record.error = result.error;
      if (result.transient && attempt < resolved.maxJobAttempts) {
        stopIfRequested(control, `before step "${step.id}" resubmitted a failed job`);
        progress.state = 'retry-backoff';
        await sleep(timings.jobRetryBackoffMs * 2 ** (attempt - 1));
        continue;
      }
      throw new StepFailure({
        type: STEP_FAILURE_TYPES.jobFailed,
        message: `the job failed${attempt > 1 ? ` (attempt ${attempt} of ${resolved.maxJobAttempts})` : ''}: ${result.error ?? 'no error given'}`,
        requestId,
        ...(result.error ? { remoteError: result.error } : {}),
      });
    }
  } catch (caught) {
    const error = control.edges ? asCancellation(caught) : caught;
    if (liveRequestId !== undefined) {
      const requestId = liveRequestId;
      // Cancellation must not stop the cleanup that stops the billing.
      const kept = await CancellationScope.nonCancellable(() => stopJob(acts, { stepId: step.id, deploymentId, requestId, timings, control, record: liveAttempt?.record }));
      // The job finished before the cancel reached it: its outputs are paid for, keep them.
      if (kept && liveAttempt && isCancellation(error)) {
        try {
          const result = await CancellationScope.nonCancellable(() => acts.fetchJobResult({ deploymentId, requestId, stepKind: step.kind }));
          liveAttempt.record.status = result.outcome;
          keepRemoteTimes(liveAttempt.record, result);
          if (result.outcome === 'succeeded' && result.outputs.length > 0) {
            await CancellationScope.nonCancellable(() => persist(requestId, liveAttempt!.attempt, result.outputs, liveAttempt!.record));
          }
        } catch (keepError) {
          log.error('could not keep the outputs of a job that finished as the pipeline was cancelled', { stepId: step.id, requestId, error: describeFailure(keepError) });
        }
      }
    }
    if (progress.state !== 'succeeded') progress.finishedAt = nowIso();
    delete progress.queuePosition;
    if (isCancellation(error)) {
      // A step whose outputs were all kept stays succeeded; the pipeline still ends cancelled.
      if (progress.state !== 'succeeded') progress.state = 'cancelled';
      throw error;
    }
    progress.state = 'failed';
    const stepError: StepError =
      error instanceof StepFailure
        ? error.error
        : { type: failureType(error) ?? STEP_FAILURE_TYPES.remoteApi, message: describeFailure(error), ...(progress.requestId ? { requestId: progress.requestId } : {}) };
    progress.error = stepError;
    const last = progress.attempts.at(-1);
    if (last && !last.error) last.error = stepError.message;
    throw new StepFailure(stepError);
  }
}

/** The wait of pipelines started before slot-free waiting: one long poll activity per phase. */
async function waitWithPollActivities(
  acts: StepActivities,
  job: { deploymentId: string; requestId: string; stepKind: string; budgets: { queueTimeoutMs: number; runTimeoutMs: number }; timings: PreparedPipeline['timings'] },
  progress: StepProgress,
  record: JobAttempt,
  control: RunControl,
): Promise<FetchJobResultOutput | undefined> {
  const { deploymentId, requestId, timings } = job;
  // The wait returns the result itself (one activity less per step); older histories fetched it separately.
  const waitReturnsResult = patched(WAIT_RETURNS_RESULT_PATCH);
  const polling = { deploymentId, requestId, initialIntervalMs: timings.pollInitialIntervalMs, maxIntervalMs: timings.pollMaxIntervalMs, ...(waitReturnsResult ? { includeResult: true, stepKind: job.stepKind } : {}) };
  const queueInput = { ...polling, phase: 'queue' as const, budgetMs: job.budgets.queueTimeoutMs, phaseStartedAtMs: Date.now() };
  const queue = await waitInQueue((wait) => waitPhase(acts, wait, control), queueInput, (position) => (progress.queuePosition = position));
  delete progress.queuePosition;
  if (queue.status !== 'running') return queue.result;
  record.status = 'running';
  record.runStartedAt = nowIso();
  progress.state = 'running';
  // The job was just seen running: the first read of the run phase can wait one interval.
  const run = await waitPhase(acts, { ...polling, phase: 'run', budgetMs: job.budgets.runTimeoutMs, phaseStartedAtMs: Date.now(), ...(waitReturnsResult ? { firstReadDelayMs: timings.pollInitialIntervalMs } : {}) }, control);
  return run.result;
}

/**
 * Reads a pipeline's event history: which step each activity belongs to, and enough of each step's
 * story (requests submitted, outputs persisted) to describe a pipeline that cannot answer a query,
 * such as a failed run with no worker running. Payloads are decoded with the client's converter.
 */
import type { LoadedDataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads, decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import type { temporal } from '@temporalio/proto';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { JobAttempt, PersistedOutput, PipelineProgress, PipelineStatus, StepProgress } from '../contract/pipeline-contract.js';
import type { PipelineFailureInfo } from './errors.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** What the history says about one step. */
interface StepFacts {
  requestIds: string[];
  outputs?: PersistedOutput[];
  firstScheduledAt?: string;
  persistedAt?: string;
  persistScheduled: boolean;
}

/** What a pipeline's history says, decoded. */
export interface PipelineHistoryFacts {
  spec?: PipelineSpec;
  /** Activity id → step id (from each activity's summary, else from its input). */
  activitySteps: Map<string, string>;
  steps: Map<string, StepFacts>;
  cancelReason?: string;
}

function eventTimeIso(event: HistoryEvent): string | undefined {
  const time = event.eventTime;
  if (!time) return undefined;
  const ms = Number(String(time.seconds ?? 0)) * 1000 + Math.floor((time.nanos ?? 0) / 1_000_000);
  return new Date(ms).toISOString();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The step id an activity input names, for activities scheduled without a summary. */
function stepIdFromInput(input: unknown): string | undefined {
  if (!isRecord(input)) return undefined;
  if (typeof input.stepId === 'string') return input.stepId;
  if (isRecord(input.step) && typeof input.step.id === 'string') return input.step.id;
  return undefined;
}

function requestIdFromInput(input: unknown): string | undefined {
  return isRecord(input) && typeof input.requestId === 'string' ? input.requestId : undefined;
}

/** Decodes the facts of a pipeline's history. Unknown or undecodable events are skipped, never fatal. */
export async function readPipelineHistory(events: readonly HistoryEvent[], converter: LoadedDataConverter): Promise<PipelineHistoryFacts> {
  const facts: PipelineHistoryFacts = { activitySteps: new Map(), steps: new Map() };
  const scheduled = new Map<string, { activityId: string; type: string; stepId: string | undefined }>();
  const stepOfRequest = new Map<string, string>();
  const stepFacts = (stepId: string): StepFacts => {
    let entry = facts.steps.get(stepId);
    if (!entry) {
      entry = { requestIds: [], persistScheduled: false };
      facts.steps.set(stepId, entry);
    }
    return entry;
  };
  const decodeFirst = async (payloads: temporal.api.common.v1.IPayloads | null | undefined): Promise<unknown> => {
    try {
      return (await decodeArrayFromPayloads(converter, payloads?.payloads ?? []))[0];
    } catch {
      return undefined;
    }
  };

  for (const event of events) {
    const eventId = String(event.eventId ?? '');
    const started = event.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = await decodeFirst(started.input);
      if (isRecord(input) && isRecord(input.spec)) facts.spec = input.spec as unknown as PipelineSpec;
      continue;
    }
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (signaled) {
      if (signaled.signalName === 'cancelPipeline' && facts.cancelReason === undefined) {
        const request = await decodeFirst(signaled.input);
        facts.cancelReason = isRecord(request) && typeof request.reason === 'string' ? request.reason : 'no reason given';
      }
      continue;
    }
    const scheduledAttributes = event.activityTaskScheduledEventAttributes;
    if (scheduledAttributes) {
      const activityId = scheduledAttributes.activityId ?? '';
      const type = scheduledAttributes.activityType?.name ?? '';
      let stepId: string | undefined;
      try {
        const summary = await decodeOptionalSinglePayload<unknown>(converter, event.userMetadata?.summary);
        if (typeof summary === 'string' && summary !== '') stepId = summary;
      } catch {
        // fall back on the input below
      }
      if (stepId === undefined) {
        const input = await decodeFirst(scheduledAttributes.input);
        stepId = stepIdFromInput(input) ?? stepOfRequest.get(requestIdFromInput(input) ?? '');
      }
      scheduled.set(eventId, { activityId, type, stepId });
      if (stepId !== undefined) {
        facts.activitySteps.set(activityId, stepId);
        const step = stepFacts(stepId);
        step.firstScheduledAt ??= eventTimeIso(event);
        if (type === 'persistOutputs') step.persistScheduled = true;
      }
      continue;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const origin = scheduled.get(String(completed.scheduledEventId ?? ''));
      if (!origin?.stepId) continue;
      const step = stepFacts(origin.stepId);
      const result = await decodeFirst(completed.result);
      if (origin.type === 'submitJob' && isRecord(result) && typeof result.requestId === 'string') {
        step.requestIds.push(result.requestId);
        stepOfRequest.set(result.requestId, origin.stepId);
      } else if (origin.type === 'persistOutputs' && isRecord(result) && Array.isArray(result.outputs)) {
        step.outputs = result.outputs as PersistedOutput[];
        step.persistedAt = eventTimeIso(event);
      }
    }
  }
  return facts;
}

/** Every output the history shows as persisted, with its step. */
export function persistedOutputsOf(facts: PipelineHistoryFacts): (PersistedOutput & { stepId: string })[] {
  const outputs: (PersistedOutput & { stepId: string })[] = [];
  for (const [stepId, step] of facts.steps) for (const output of step.outputs ?? []) outputs.push({ stepId, ...output });
  return outputs;
}

/** How the run ended (or that it has not), as far as the rebuilt progress is concerned. */
export interface HistoryRunOutcome {
  pipelineId: string;
  running: boolean;
  status: PipelineStatus;
  startedAt: string;
  finishedAt?: string;
  failure?: PipelineFailureInfo;
}

/**
 * A best-effort {@link PipelineProgress} rebuilt from history, for when the workflow cannot be
 * queried. Step states are coarse: succeeded (outputs persisted), failed (the failure names it),
 * waiting/persisting (running pipelines), cancelled (work started, pipeline ended) or skipped.
 */
export function progressFromHistory(facts: PipelineHistoryFacts, outcome: HistoryRunOutcome): PipelineProgress {
  const specSteps = facts.spec?.steps ?? [];
  const steps: StepProgress[] = specSteps.map((specStep) => {
    const known = facts.steps.get(specStep.id);
    const requestIds = known?.requestIds ?? [];
    const failedHere = outcome.failure?.stepId === specStep.id;
    let state: StepProgress['state'];
    if (known?.outputs) state = 'succeeded';
    else if (failedHere) state = 'failed';
    else if (!known) state = outcome.running ? 'pending' : 'skipped';
    else if (!outcome.running) state = 'cancelled';
    else if (known.persistScheduled) state = 'persisting';
    else state = requestIds.length > 0 ? 'waiting' : 'submitting';

    const attempts: JobAttempt[] = requestIds.map((requestId, index) => {
      const last = index === requestIds.length - 1;
      const status = !last ? 'failed' : state === 'succeeded' ? 'succeeded' : state === 'failed' ? 'failed' : state === 'cancelled' ? 'cancelled' : 'unknown';
      return { attempt: index + 1, requestId, status };
    });
    const requestId = requestIds.at(-1) ?? (failedHere ? outcome.failure?.requestId : undefined);
    return {
      id: specStep.id,
      kind: specStep.kind,
      deploymentKey: specStep.deployment,
      state,
      attempts,
      ...(requestId !== undefined ? { requestId } : {}),
      ...(known?.firstScheduledAt !== undefined ? { startedAt: known.firstScheduledAt } : {}),
      // A step cut short by the pipeline's end finished when the pipeline did.
      ...(known?.persistedAt !== undefined ? { finishedAt: known.persistedAt } : known && !outcome.running && outcome.finishedAt !== undefined ? { finishedAt: outcome.finishedAt } : {}),
      outputs: known?.outputs ?? [],
      ...(failedHere && outcome.failure
        ? {
            error: {
              type: outcome.failure.failureType,
              message: outcome.failure.message,
              ...(outcome.failure.requestId !== undefined ? { requestId: outcome.failure.requestId } : {}),
              ...(outcome.failure.remoteError !== undefined ? { remoteError: outcome.failure.remoteError } : {}),
            },
          }
        : {}),
    };
  });
  return {
    pipelineId: facts.spec?.pipelineId ?? outcome.pipelineId,
    status: outcome.status,
    startedAt: outcome.startedAt,
    ...(outcome.finishedAt !== undefined ? { finishedAt: outcome.finishedAt } : {}),
    ...(facts.cancelReason !== undefined ? { cancelReason: facts.cancelReason } : {}),
    ...(outcome.failure?.stepId !== undefined ? { failedStepId: outcome.failure.stepId } : {}),
    steps,
  };
}

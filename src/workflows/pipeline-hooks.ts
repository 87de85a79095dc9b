import { ApplicationFailure, CancellationScope, condition, log, ParentClosePolicy, ChildWorkflowCancellationType, patched, proxyActivities, proxyLocalActivities, startChild, workflowInfo, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { callbackEventSignal, callbackOutboxWorkflowId, eventProgress, isTerminalEvent, pipelineEvent, stepEvents, type CallbackEvent, type CallbackEventType, type StepMemory } from '../callbacks/events.js';
import type { PipelineSpec } from '../pipeline/spec.js';
import type { CallbackTarget, PersistOutputsInput, PreparedPipeline } from '../contract/activity-contract.js';
import { pipelineCallbacks } from './callback-outbox.js';
import type { ProgressBook } from './pipeline-progress.js';

/** Patch id (wire name): outputs go where the spec's outputKeyTemplate says. */
const OUTPUT_KEY_TEMPLATE_PATCH = 'output-key-template';

/** The persist activity's key layout for a spec with an outputKeyTemplate (none for older runs). */
export function outputLayout(spec: PipelineSpec): Pick<PersistOutputsInput, 'keyTemplate'> {
  if (spec.outputKeyTemplate === undefined || !patched(OUTPUT_KEY_TEMPLATE_PATCH)) return {};
  return { keyTemplate: { template: spec.outputKeyTemplate, ...(spec.correlation ? { correlation: spec.correlation } : {}), ...(spec.labels ? { labels: spec.labels } : {}) } };
}

/** Patch id (wire name): pipelines with a callback target send signed callbacks through an outbox workflow. */
const SIGNED_CALLBACKS_PATCH = 'signed-callbacks';
/**
 * Patch id (wire name): the outbox opens before preparation, so a pipeline refused by the worker
 * (invalid spec, registry mismatch) or cancelled while it is prepared still gets its terminal
 * callback; a failed pipeline's terminal event names the failure and whether a retry may help.
 */
const EARLY_CALLBACKS_PATCH = 'callbacks-before-preparation';

// Reads worker settings only: quick, and retried a little in case the worker was restarting.
const targetOptions = { startToCloseTimeout: '30 seconds', retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 } } as const;
const { callbackTarget } = proxyActivities<PipelineActivities>(targetOptions);
// A read of the worker's configuration: run in the workflow's own task, it costs no task-queue hop.
const { callbackTarget: callbackTargetLocally } = proxyLocalActivities<PipelineActivities>(targetOptions);

/**
 * Watches a pipeline's progress and turns every change into callback events for its outbox
 * workflow. The pipeline never waits on the backend: it only signals the outbox (a Temporal
 * command, answered by Temporal), and the outbox delivers with its own retries.
 */
export class PipelineHooks {
  #book: ProgressBook | undefined;
  #spec: PipelineSpec | undefined;
  #outbox: ChildWorkflowHandle<typeof pipelineCallbacks> | undefined;
  #sequence = 0;
  #sent: Promise<void> = Promise.resolve();
  #memory = new Map<string, StepMemory>();
  #closed = false;
  #early = false;

  /** The pipeline's progress book, once it exists. */
  attach(spec: PipelineSpec, book: ProgressBook): void {
    this.#spec = spec;
    this.#book = book;
  }

  /**
   * Before preparation (new runs): opens the outbox when the worker has a callback target for the
   * pipeline. `locally`: learn the target in a local activity (runs started after slot-free waiting).
   */
  async open(locally = false): Promise<void> {
    const spec = this.#spec;
    if (!spec || !patched(EARLY_CALLBACKS_PATCH)) return;
    this.#early = true;
    let target: CallbackTarget | null = null;
    try {
      // Not cancellable: a pipeline cancelled right away still owes its backend the terminal callback.
      const input = spec.callback ? { callbackUrl: spec.callback.url } : {};
      target = await CancellationScope.nonCancellable(() => (locally ? callbackTargetLocally(input) : callbackTarget(input)));
    } catch (error) {
      log.warn('could not learn where callbacks go; this pipeline sends none', { error: error instanceof Error ? error.message : String(error) });
    }
    if (target) await this.#openOutbox(spec, target);
  }

  /** After preparation (runs started before {@link open} existed): opens the outbox when the pipeline has a callback target. */
  async prepared(prepared: PreparedPipeline): Promise<void> {
    const spec = this.#spec;
    if (this.#early || !prepared.callbacks || !spec || !patched(SIGNED_CALLBACKS_PATCH)) return;
    await this.#openOutbox(spec, prepared.callbacks);
  }

  async #openOutbox(spec: PipelineSpec, target: CallbackTarget): Promise<void> {
    // Outlives the pipeline (ABANDON) and is never cancelled with it: the terminal event must go out.
    this.#outbox = await CancellationScope.nonCancellable(() =>
      startChild(pipelineCallbacks, {
        workflowId: callbackOutboxWorkflowId(spec.pipelineId),
        args: [{ pipelineId: spec.pipelineId, target }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        taskQueue: workflowInfo().taskQueue,
        staticSummary: `callbacks of pipeline ${spec.pipelineId}`,
      }),
    );
    // Not cancellable: nobody awaits this loop, so a Temporal cancel rejecting its pending condition
    // was an unhandled rejection that failed every workflow task from then on (the run never closed).
    // close() ends it; until then it reports the steps' changes while the cancellation cleans up.
    // No patch: the scope adds no command, and no history has a workflow task completed after such a
    // cancel, so old histories replay the same and runs stuck that way go on once this is deployed.
    void CancellationScope.nonCancellable(() => this.#watch());
  }

  async #watch(): Promise<void> {
    const book = this.#book!;
    let lastKey = '';
    for (;;) {
      await condition(() => this.#closed || changeKey(book) !== lastKey);
      if (this.#closed) return;
      lastKey = changeKey(book);
      this.#emitStepChanges();
    }
  }

  #emitStepChanges(): void {
    const progress = this.#book!.snapshot();
    const at = new Date().toISOString();
    for (const step of progress.steps) {
      for (const event of stepEvents(step, this.#memory.get(step.id), at)) this.#emit(event.type, event.data, progress, at);
      this.#memory.set(step.id, { state: step.state, attempts: step.attempts.length, ...(step.queuePosition !== undefined ? { queuePosition: step.queuePosition } : {}) });
    }
  }

  #emit(type: CallbackEventType, data: CallbackEvent['data'], progress: ReturnType<ProgressBook['snapshot']>, at: string): void {
    const outbox = this.#outbox;
    const spec = this.#spec;
    if (!outbox || !spec) return;
    const sequence = ++this.#sequence;
    const event: CallbackEvent = {
      id: `evt-${spec.pipelineId}-${sequence}`,
      type,
      sequence,
      pipelineId: spec.pipelineId,
      ...(spec.correlation ? { correlation: spec.correlation } : {}),
      ...(spec.labels ? { labels: spec.labels } : {}),
      occurredAt: at,
      progress: eventProgress(progress, isTerminalEvent(type)),
      data,
    };
    // Signals go out one after the other so the outbox sees them in order; a failed signal is logged, never fatal.
    this.#sent = this.#sent.then(() =>
      CancellationScope.nonCancellable(() => outbox.signal(callbackEventSignal, event)).catch((error: unknown) => {
        log.warn('could not hand a callback to the outbox', { sequence, type, error: error instanceof Error ? error.message : String(error) });
      }),
    );
  }

  /** At the pipeline's end: the last step changes and the terminal event, then waits until the outbox has them. */
  async close(failure?: unknown): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#outbox || !this.#book) return;
    this.#emitStepChanges();
    const progress = this.#book.snapshot();
    // Older runs sent no failure in their terminal event; their signals stay as they were.
    const failed = this.#early && failure instanceof ApplicationFailure && failure.type ? { type: failure.type, message: failure.message } : undefined;
    const terminal = pipelineEvent(progress, failed);
    this.#emit(terminal.type, terminal.data, progress, progress.finishedAt ?? new Date().toISOString());
    await CancellationScope.nonCancellable(() => this.#sent);
  }
}

function changeKey(book: ProgressBook): string {
  return book.stepStates();
}

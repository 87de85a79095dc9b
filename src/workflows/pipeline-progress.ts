import type { PipelineSpec } from '../pipeline/spec.js';
import type { JobAttempt, PipelineProgress, PipelineStatus, StepProgress } from '../contract/pipeline-contract.js';

/** The pipeline's observable state, owned by the workflow and served by the progress query. */
export class ProgressBook {
  private readonly progress: PipelineProgress;
  private readonly byId = new Map<string, StepProgress>();

  constructor(spec: PipelineSpec, startedAt: string) {
    this.progress = {
      pipelineId: spec.pipelineId,
      status: 'preparing',
      startedAt,
      steps: spec.steps.map((step) => ({ id: step.id, kind: step.kind, deploymentKey: step.deployment, state: 'pending', attempts: [], outputs: [] })),
      // Only specs that carry them (never recorded histories' specs): status and result name the backend's ids.
      ...(spec.correlation ? { correlation: { ...spec.correlation } } : {}),
    };
    for (const step of this.progress.steps) this.byId.set(step.id, step);
  }

  step(id: string): StepProgress {
    const step = this.byId.get(id);
    if (!step) throw new TypeError(`no progress entry for step "${id}"`);
    return step;
  }

  get status(): PipelineStatus {
    return this.progress.status;
  }

  setStatus(status: PipelineStatus): void {
    this.progress.status = status;
  }

  markCancelling(reason: string): void {
    this.progress.cancelReason = reason;
    if (this.progress.status === 'preparing' || this.progress.status === 'running') this.progress.status = 'cancelling';
  }

  finish(status: PipelineStatus, at: string, failedStepId?: string): void {
    this.progress.status = status;
    this.progress.finishedAt = at;
    if (failedStepId !== undefined) this.progress.failedStepId = failedStepId;
    for (const step of this.progress.steps) {
      if (step.state === 'pending') step.state = 'skipped';
    }
  }

  newAttempt(stepId: string, attempt: number): JobAttempt {
    const record: JobAttempt = { attempt, status: 'submitting' };
    this.step(stepId).attempts.push(record);
    return record;
  }

  /** A short fingerprint of every step's state and attempt count: changes when a callback may be due. */
  stepStates(): string {
    return this.progress.steps.map((step) => `${step.state}:${step.attempts.length}:${step.queuePosition ?? ''}`).join(',');
  }

  /**
   * What the Web UI shows as the run's current details (markdown): each step waiting for its job,
   * as of its last status read. Empty once nothing waits.
   */
  waitingDetails(): string {
    const lines: string[] = [];
    for (const step of this.progress.steps) {
      const wait = step.wait;
      if (!wait) continue;
      const where = wait.remoteStatus ? `${wait.remoteStatus}${step.queuePosition !== undefined ? ` (queue position ${step.queuePosition})` : ''}` : 'submitted';
      const next = wait.nextReadBy ? ` · next read by ${wait.nextReadBy}` : '';
      lines.push(`**${step.id}** waits for RunComfy request \`${step.requestId ?? '?'}\`: ${where} · ${wait.statusReads} status reads${next} · ${wait.webhooks ? 'webhooks on' : 'polling'}`);
    }
    return lines.join('\n\n');
  }

  /** A copy, so a query never hands out the live object. */
  snapshot(): PipelineProgress {
    return structuredCloneJson(this.progress);
  }
}

function structuredCloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

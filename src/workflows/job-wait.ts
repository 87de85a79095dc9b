import { ApplicationFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import type { FetchJobResultOutput, PipelineTimings, ReadJobInput, ReadJobResult } from '../contract/activity-contract.js';
import { jobNudgeSignal, STEP_FAILURE_TYPES, type JobNudge } from '../contract/pipeline-contract.js';
import { formatDuration } from '../format.js';

/**
 * Patch id (wire name, never renamed), decided once at the start of a run: a step waits for its job
 * on durable timers with short status reads (local activities) instead of a poll activity that held
 * a slot and a heartbeat stream for the job's whole length; a webhook's `jobNudge` signal wakes the
 * wait early, and preparation runs as a local activity.
 */
export const SLOT_FREE_WAITING_PATCH = 'slot-free-waiting';

/** Longest pause between reads relative to the phase's budget (polling only): a 30-minute video is read less often than a 2-minute image. */
const BUDGET_FRACTION_PER_READ = 1 / 40;
const INTERVAL_GROWTH = 1.5;
/** Timed reads per phase never exceed this, however long the budget: it bounds the history a wait can add. */
const MAX_TIMED_READS_PER_PHASE = 400;
/** Reads a webhook may prompt per phase; past it only the backstop reads (duplicates and replays cost nothing more). */
export const MAX_NUDGED_READS_PER_PHASE = 16;
/**
 * The server rounds durable timers shorter than a second up to a second: a shorter pause is taken
 * inside the next read (a local activity) instead, so quick polls stay quick.
 */
const MIN_TIMER_MS = 1_000;
/** Past this many history events, waits stretch their pauses so the run stays far from Temporal's limits. */
const HISTORY_SOFT_LIMIT = 20_000;

/** RunComfy's webhook status words that only repeat what a waiting step may already know. */
const HINTS: Record<string, 'queued' | 'running'> = { in_queue: 'queued', queued: 'queued', in_progress: 'running', running: 'running' };

/**
 * Webhook nudges, kept per step attempt until that attempt's wait takes them. A nudge only prompts a
 * status read through the API; its payload decides nothing, except that a nudge repeating what the
 * wait already knows (still queued, still running) is dropped.
 */
export class NudgeBoard {
  readonly #pending = new Map<string, JobNudge>();
  readonly #known = new Map<string, 'queued' | 'running'>();

  constructor() {
    setHandler(jobNudgeSignal, (nudge) => this.#receive(nudge));
  }

  #receive(nudge: JobNudge): void {
    if (typeof nudge?.stepId !== 'string' || !Number.isSafeInteger(nudge.attempt)) return;
    const key = nudgeKey(nudge.stepId, nudge.attempt);
    const hint = typeof nudge.status === 'string' ? HINTS[nudge.status.toLowerCase()] : undefined;
    if (hint !== undefined && this.#known.get(key) === hint) return;
    this.#pending.set(key, { stepId: nudge.stepId, attempt: nudge.attempt, ...(typeof nudge.requestId === 'string' ? { requestId: nudge.requestId.slice(0, 200) } : {}) });
    // Bounded: nudges for attempts nobody waits on (late, or for jobs already read) fall off.
    if (this.#pending.size > 64) this.#pending.delete(this.#pending.keys().next().value!);
  }

  /** Whether a nudge for this attempt (and, when it names one, this request) is waiting. */
  has(key: string, requestId: string): boolean {
    const nudge = this.#pending.get(key);
    if (nudge?.requestId !== undefined && nudge.requestId !== requestId) {
      this.#pending.delete(key);
      return false;
    }
    return nudge !== undefined;
  }

  take(key: string): void {
    this.#pending.delete(key);
  }

  know(key: string, status: 'queued' | 'running' | undefined): void {
    if (status === undefined) this.#known.delete(key);
    else this.#known.set(key, status);
  }
}

export function nudgeKey(stepId: string, attempt: number): string {
  return `${stepId}#${attempt}`;
}

export interface JobWaitInput {
  stepId: string;
  attempt: number;
  deploymentId: string;
  requestId: string;
  stepKind: string;
  queueBudgetMs: number;
  runBudgetMs: number;
  timings: PipelineTimings;
}

export interface JobWaitHooks {
  /** After every read that got an answer (progress: status word, queue position). */
  onRead(read: ReadJobResult, statusReads: number, nextReadAtMs: number | undefined): void;
  /** The job was first seen running: the run phase (and its budget) starts now. */
  onRunning(): void;
  /** A read was prompted by a webhook. */
  onNudgedRead(): void;
}

export interface JobWaitOutcome {
  result: FetchJobResultOutput;
  status: 'completed' | 'cancelled';
}

/**
 * Waits for a submitted job to end: queue phase, then run phase, each with its own budget counted
 * in workflow time. Between reads it sleeps on a durable timer, which a webhook nudge cuts short.
 * Reads start quick and slow down (polling), or settle at the backstop interval when webhooks are
 * expected to announce the job's changes. A retryable read failure waits as the server asked.
 */
export async function waitForJob(read: (input: ReadJobInput) => Promise<ReadJobResult>, board: NudgeBoard, input: JobWaitInput, hooks: JobWaitHooks): Promise<JobWaitOutcome> {
  const { timings } = input;
  const key = nudgeKey(input.stepId, input.attempt);
  const backstopMs = timings.webhookBackstopIntervalMs;
  let phase: 'queue' | 'run' = 'queue';
  let phaseStartedAtMs = Date.now();
  let intervalMs = timings.pollInitialIntervalMs;
  // The job was just accepted: it is queued, so the first read can wait one short interval.
  let delayMs = timings.pollInitialIntervalMs;
  let nudgedReads = 0;
  let statusReads = 0;
  let pausedInReadsMs = 0;
  board.know(key, 'queued');
  try {
    for (;;) {
      const budgetMs = phase === 'queue' ? input.queueBudgetMs : input.runBudgetMs;
      const remainingMs = budgetMs - (Date.now() - phaseStartedAtMs);
      if (remainingMs < 0) throw budgetExceeded(input.requestId, phase, budgetMs, Date.now() - phaseStartedAtMs);
      let pauseMs = Math.max(0, Math.min(delayMs, remainingMs + 1));
      if (workflowInfo().historyLength > HISTORY_SOFT_LIMIT) pauseMs = Math.max(pauseMs, Math.min(remainingMs + 1, budgetMs / 8));
      let nudged = false;
      let delayInRead: number | undefined;
      // Pauses taken inside reads keep the workflow task open (signals and cancels wait for it to end):
      // at most a second's worth in a row, then a timer lets the task complete.
      if (pauseMs < MIN_TIMER_MS && pausedInReadsMs + pauseMs < MIN_TIMER_MS && !board.has(key, input.requestId)) {
        delayInRead = pauseMs;
        pausedInReadsMs += pauseMs;
      } else {
        pausedInReadsMs = 0;
        nudged = await condition(() => nudgedReads < MAX_NUDGED_READS_PER_PHASE && board.has(key, input.requestId), Math.max(1, pauseMs), { summary: `${input.stepId}: next status read of ${input.requestId}` });
      }
      board.take(key);
      if (nudged) {
        nudgedReads++;
        hooks.onNudgedRead();
      }
      const answer = await read({
        deploymentId: input.deploymentId,
        requestId: input.requestId,
        stepKind: input.stepKind,
        ...(phase === 'run' ? { runStartedAtMs: phaseStartedAtMs } : {}),
        ...(delayInRead ? { delayMs: delayInRead } : {}),
      });
      statusReads++;
      if (answer.status === 'completed' || answer.status === 'cancelled') {
        hooks.onRead(answer, statusReads, undefined);
        if (!answer.result) throw ApplicationFailure.create({ type: STEP_FAILURE_TYPES.remoteApi, message: `RunComfy request ${input.requestId} ended without a readable result`, nonRetryable: true });
        return { result: answer.result, status: answer.status };
      }
      if (answer.status === 'running' && phase === 'queue') {
        phase = 'run';
        phaseStartedAtMs = Date.now();
        nudgedReads = 0;
        intervalMs = timings.pollInitialIntervalMs;
        board.know(key, 'running');
        hooks.onRunning();
      }
      const phaseBudgetMs = phase === 'queue' ? input.queueBudgetMs : input.runBudgetMs;
      const maxIntervalMs = Math.max(timings.pollInitialIntervalMs, Math.min(timings.pollMaxIntervalMs, phaseBudgetMs * BUDGET_FRACTION_PER_READ), phaseBudgetMs / MAX_TIMED_READS_PER_PHASE);
      if (answer.status === 'unreadable') {
        delayMs = Math.max(answer.retryAfterMs ?? 0, intervalMs);
      } else {
        // With webhooks, reads are a backstop: a lost webhook costs at most one backstop interval.
        delayMs = backstopMs !== undefined ? Math.max(backstopMs, intervalMs) : intervalMs;
      }
      intervalMs = Math.min(intervalMs * INTERVAL_GROWTH, maxIntervalMs);
      hooks.onRead(answer, statusReads, answer.status === 'unreadable' ? undefined : Date.now() + delayMs);
    }
  } finally {
    board.take(key);
    board.know(key, undefined);
  }
}

function budgetExceeded(requestId: string, phase: 'queue' | 'run', budgetMs: number, elapsedMs: number): ApplicationFailure {
  const queue = phase === 'queue';
  return ApplicationFailure.create({
    type: queue ? STEP_FAILURE_TYPES.queueBudgetExceeded : STEP_FAILURE_TYPES.runBudgetExceeded,
    message: `RunComfy request ${requestId} was still ${queue ? 'queued' : 'running'} after ${formatDuration(elapsedMs)} (the ${phase} budget is ${formatDuration(budgetMs)})`,
    nonRetryable: true,
  });
}

import { ApplicationFailure, CancellationScope, condition, isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { FetchJobResultOutput, PipelineTimings, ReadJobInput, ReadJobResult } from '../contract/activity-contract.js';
import { jobNudgeSignal, STEP_FAILURE_TYPES, type JobNudge } from '../contract/pipeline-contract.js';
import { formatDuration } from '../format.js';

/**
 * Patch id (wire name, never renamed), decided once at the start of a run: a step waits for its job
 * on durable timers with short status-read activities instead of a poll activity that held
 * a slot and a heartbeat stream for the job's whole length; a webhook's `jobNudge` signal wakes the
 * wait early, and preparation runs as a local activity.
 */
export const SLOT_FREE_WAITING_PATCH = 'slot-free-waiting';

/**
 * Patch id (wire name, never renamed), decided at each wait (the marker is recorded by the first):
 * the first half of a phase's share of reads goes at the configured interval, then what is left of
 * the budget is spread over the reads left. Before, every phase was paced for its whole budget from
 * its first read (the budget over its share of reads), which stretched a 1 s poll to 1.5 s and more.
 */
export const PACED_READS_PATCH = 'paced-reads';

/**
 * Patch id (wire name, never renamed), decided at each wait (the marker is recorded by the first):
 * with polling alone, the pause before the next read is a timer started together with the read
 * before it, so reads come one interval apart instead of one interval plus the read's round trip
 * and two workflow tasks (45 ms a read on a busy worker; the whole read when RunComfy answers slowly).
 */
export const OVERLAPPED_PAUSES_PATCH = 'overlapped-read-pauses';
// The first read's pause starts with the submit, under the same patch (pauseBeforeFirstRead).

/** Longest pause between reads relative to the phase's budget (polling only): a 30-minute video is read less often than a 2-minute image. */
const BUDGET_FRACTION_PER_READ = 1 / 40;
const INTERVAL_GROWTH = 1.5;
/**
 * History a pipeline's waits may add, in events: with the rest of a pipeline's history (a few dozen
 * events per job) it keeps the largest allowed pipeline far below Temporal's 51,200-event limit.
 */
const WAIT_EVENT_BUDGET = 25_000;
/** Events one status read adds at most: timer started and fired (or cancelled), a signal, the read activity (3), a workflow task (3). */
export const EVENTS_PER_READ = 9;
/** Reads per phase: never more than this, never fewer than the minimum, whatever the spec. */
const MAX_READS_PER_PHASE = 400;
const MIN_READS_PER_PHASE = 4;
/** Reads of a phase's share kept for the quick first reads, nudges and retries: the rest pace the interval. */
const READS_HELD_BACK = 32;
/** Reads a webhook may prompt per phase; past it only the backstop reads (duplicates and replays cost nothing more). */
export const MAX_NUDGED_READS_PER_PHASE = 16;
/**
 * The server rounds durable timers shorter than a second up to a second: a shorter pause is taken
 * inside the next read (the activity sleeps, then reads) instead, so quick polls stay quick.
 */
const MIN_TIMER_MS = 1_000;

/** How far an overlapped pause may end from the one the read's answer asks for, and still be kept. */
const AHEAD_TOLERANCE_MS = 100;
const AHEAD_TOLERANCE_FRACTION = 0.05;

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

/**
 * How many status reads one wait phase may make, so that every phase the pipeline could ever run
 * (each step's queue and run phase, for each of its job attempts) stays within
 * {@link WAIT_EVENT_BUDGET}: a phase that has used its reads spreads the rest over its budget.
 */
export function readsPerPhase(maxJobAttemptsPerStep: readonly number[]): number {
  const phases = 2 * maxJobAttemptsPerStep.reduce((sum, attempts) => sum + Math.max(1, attempts), 0);
  return Math.max(MIN_READS_PER_PHASE, Math.min(MAX_READS_PER_PHASE, Math.floor(WAIT_EVENT_BUDGET / (EVENTS_PER_READ * Math.max(1, phases)))));
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
  /** From {@link readsPerPhase}: the most reads one phase may make. */
  readsPerPhase: number;
  /** From {@link pauseBeforeFirstRead}, started with the submit: the first read comes one interval after it. */
  firstPause?: PauseAhead;
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
  let phaseReads = 0;
  let pausedInReadsMs = 0;
  const paced = patched(PACED_READS_PATCH);
  // Reads a phase keeps for quick first reads, nudges and retries: a share of a small allowance.
  const heldBack = paced ? Math.min(READS_HELD_BACK, Math.floor(input.readsPerPhase / 4)) : READS_HELD_BACK;
  // Polling alone: the read schedule is the latency, so each pause runs alongside the read before it.
  const overlapped = backstopMs === undefined && patched(OVERLAPPED_PAUSES_PATCH);
  const nudgeable = (): boolean => input.readsPerPhase - phaseReads > 1 && nudgedReads < MAX_NUDGED_READS_PER_PHASE;
  const nudgeWaiting = (): boolean => nudgeable() && board.has(key, input.requestId);
  const summary = `${input.stepId}: next status read of ${input.requestId}`;
  /** The pause after a read that found the job in `phase` (readable or not), and the interval after it. */
  const plan = (retryAfterMs: number | undefined, unreadable: boolean, readsDone = phaseReads): { delayMs: number; intervalMs: number } => {
    const phaseBudgetMs = phase === 'queue' ? input.queueBudgetMs : input.runBudgetMs;
    // The slowest pace that still leaves a read for every stretch of the budget. Before: the whole
    // budget over the phase's share, from the first read. Paced: the first half of the share goes
    // at the configured interval (most jobs end in it), then what is left of the budget is spread
    // over the reads left, so a job that runs long is read less often late in its phase.
    const spareReads = input.readsPerPhase - readsDone - heldBack;
    const paceMs = !paced
      ? phaseBudgetMs / Math.max(1, input.readsPerPhase - heldBack)
      : spareReads > (input.readsPerPhase - heldBack) / 2
        ? 0
        : (phaseBudgetMs - (Date.now() - phaseStartedAtMs)) / Math.max(1, spareReads);
    const maxIntervalMs = Math.max(timings.pollInitialIntervalMs, Math.min(timings.pollMaxIntervalMs, phaseBudgetMs * BUDGET_FRACTION_PER_READ), paced ? 0 : paceMs);
    // With webhooks, reads are a backstop: a lost webhook costs at most one backstop interval.
    let next = unreadable ? Math.max(retryAfterMs ?? 0, intervalMs) : backstopMs !== undefined ? Math.max(backstopMs, intervalMs) : intervalMs;
    if (paced) next = Math.max(next, paceMs);
    return { delayMs: next, intervalMs: Math.min(intervalMs * INTERVAL_GROWTH, maxIntervalMs) };
  };
  /** The pause before the next read, held to the phase's budget and share of reads. */
  const pauseFor = (wantedMs: number, readsDone = phaseReads): number => {
    const budgetMs = phase === 'queue' ? input.queueBudgetMs : input.runBudgetMs;
    const remainingMs = budgetMs - (Date.now() - phaseStartedAtMs);
    const readsLeft = input.readsPerPhase - readsDone;
    return readsLeft <= 1 ? remainingMs + 1 : Math.max(0, Math.min(wantedMs, remainingMs + 1));
  };
  let ahead: PauseAhead | undefined;
  if (overlapped && input.firstPause) {
    ahead = input.firstPause;
    ahead.listen(nudgeWaiting);
  }
  board.know(key, 'queued');
  try {
    for (;;) {
      const budgetMs = phase === 'queue' ? input.queueBudgetMs : input.runBudgetMs;
      const remainingMs = budgetMs - (Date.now() - phaseStartedAtMs);
      if (remainingMs < 0) throw budgetExceeded(input.requestId, phase, budgetMs, Date.now() - phaseStartedAtMs);
      // Intervals are stretched so a phase never needs more than its share of reads (below); should
      // it use them up anyway (nudges, retries), the last one waits for the budget's end.
      const pauseMs = pauseFor(delayMs);
      let nudged = false;
      let delayInRead: number | undefined;
      if (ahead) {
        // Started with the previous read, for the pause it was expected to need, and kept (below).
        nudged = await ahead.settled();
        ahead = undefined;
        pausedInReadsMs = 0;
      } else if (pauseMs < MIN_TIMER_MS && pausedInReadsMs + pauseMs < MIN_TIMER_MS && !nudgeWaiting()) {
        // A nudge cannot cut short a pause taken inside a read: at most a second's worth in a row, then a timer.
        delayInRead = pauseMs;
        pausedInReadsMs += pauseMs;
      } else {
        pausedInReadsMs = 0;
        nudged = await condition(nudgeWaiting, Math.max(1, pauseMs), { summary });
      }
      board.take(key);
      if (nudged) nudgedReads++;
      const readAtMs = Date.now() + (delayInRead ?? 0);
      if (overlapped) {
        // The pause after this read, should it find the job as the last one did, starts now: the
        // read's round trip and the workflow task after it are not added to the interval.
        const expectedMs = pauseFor(plan(undefined, false, phaseReads + 1).delayMs, phaseReads + 1);
        if (expectedMs >= MIN_TIMER_MS) ahead = new PauseAhead(readAtMs + expectedMs, nudgeWaiting, summary);
      }
      const answer = await read({
        deploymentId: input.deploymentId,
        requestId: input.requestId,
        stepKind: input.stepKind,
        ...(phase === 'run' ? { runStartedAtMs: phaseStartedAtMs } : {}),
        ...(delayInRead ? { delayMs: delayInRead } : {}),
      });
      statusReads++;
      phaseReads++;
      // Counted once the read answered, like statusReads: a read cut short by a cancel is neither.
      if (nudged) hooks.onNudgedRead();
      if (answer.status === 'completed' || answer.status === 'cancelled') {
        ahead?.drop();
        ahead = undefined;
        hooks.onRead(answer, statusReads, undefined);
        if (!answer.result) throw ApplicationFailure.create({ type: STEP_FAILURE_TYPES.remoteApi, message: `RunComfy request ${input.requestId} ended without a readable result`, nonRetryable: true });
        return { result: answer.result, status: answer.status };
      }
      if (answer.status === 'running' && phase === 'queue') {
        phase = 'run';
        phaseStartedAtMs = Date.now();
        nudgedReads = 0;
        phaseReads = 0;
        intervalMs = timings.pollInitialIntervalMs;
        board.know(key, 'running');
        hooks.onRunning();
      }
      const unreadable = answer.status === 'unreadable';
      const next = plan(unreadable ? answer.retryAfterMs : undefined, unreadable);
      delayMs = next.delayMs;
      intervalMs = next.intervalMs;
      let nextReadAtMs = Date.now() + delayMs;
      if (ahead) {
        // Kept when it ends about when this read's pause, counted from the read, would; otherwise (a
        // new phase, a server's Retry-After counted from its answer) what is left is taken anew.
        const wantedAtMs = (unreadable ? Date.now() : readAtMs) + pauseFor(delayMs);
        if (Math.abs(ahead.dueAtMs - wantedAtMs) <= Math.max(AHEAD_TOLERANCE_MS, delayMs * AHEAD_TOLERANCE_FRACTION)) {
          nextReadAtMs = ahead.dueAtMs;
        } else {
          ahead.drop();
          ahead = undefined;
          delayMs = Math.max(0, wantedAtMs - Date.now());
          nextReadAtMs = wantedAtMs;
        }
      }
      hooks.onRead(answer, statusReads, unreadable ? undefined : nextReadAtMs);
    }
  } finally {
    ahead?.drop();
    board.take(key);
    board.know(key, undefined);
  }
}

/**
 * With polling alone, the pause before a job's first status read, started with its submit (and
 * dropped should the submit fail): the first read comes one interval after the job was sent, not
 * after the submit's answer and a workflow task, as a plain script's would. Nudges cut it short once
 * the wait knows the job's request id ({@link PauseAhead.listen}).
 */
export function pauseBeforeFirstRead(timings: PipelineTimings, stepId: string): PauseAhead | undefined {
  if (timings.webhookBackstopIntervalMs !== undefined || timings.pollInitialIntervalMs < MIN_TIMER_MS) return undefined;
  if (!patched(OVERLAPPED_PAUSES_PATCH)) return undefined;
  return new PauseAhead(Date.now() + timings.pollInitialIntervalMs, () => false, `${stepId}: first status read`);
}

/**
 * A durable pause toward the next status read, started together with the read before it. A nudge
 * (the predicate) ends it early; dropping it cancels its timer in its own scope only, so a cancel of
 * the pipeline still reaches whoever waits on it.
 */
export class PauseAhead {
  readonly dueAtMs: number;
  readonly #scope = new CancellationScope();
  readonly #outcome: Promise<{ nudged: boolean } | { error: unknown }>;
  #dropped = false;
  #nudge: () => boolean;

  constructor(dueAtMs: number, nudge: () => boolean, summary: string) {
    this.dueAtMs = dueAtMs;
    this.#nudge = nudge;
    // Settled into a value at once, so a rejection nobody awaits yet is never unhandled.
    this.#outcome = this.#scope.run(() => condition(() => this.#nudge(), Math.max(1, dueAtMs - Date.now()), { summary })).then(
      (nudged) => ({ nudged }),
      (error: unknown) => ({ error }),
    );
  }

  /** From now on, the pause ends early when `nudge` holds (checked after every workflow activation). */
  listen(nudge: () => boolean): void {
    this.#nudge = nudge;
  }

  async settled(): Promise<boolean> {
    const outcome = await this.#outcome;
    if ('nudged' in outcome) return outcome.nudged;
    if (this.#dropped && isCancellation(outcome.error)) return false;
    throw outcome.error;
  }

  drop(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#scope.cancel();
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

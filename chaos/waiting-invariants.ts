/**
 * Invariants of waiting that holds no slot (status reads on durable timers, webhooks as nudges).
 * Pure functions over what the outside world shows: each attempt's counters and times in the
 * pipeline's status, the emulator's ledger and webhook records, the pipeline's history.
 */
import type { JobSummary, WebhookDeliveryRecord } from '../src/emulator/admin-types.js';
import type { JobAttempt, StepProgress } from '../src/contract/pipeline-contract.js';
import type { InjectedFault } from './faults.js';
import type { FaultKind } from './options.js';

export const WAITING_INVARIANTS = ['replays', 'status-read', 'nudged-reads', 'read-latency', 'webhooks-effective', 'history-bounded', 'no-await-job', 'forged-refused'] as const;
export type WaitingInvariant = (typeof WAITING_INVARIANTS)[number];

export interface WaitingProblem {
  invariant: WaitingInvariant;
  pipelineId: string;
  evidence: string;
}

/**
 * Slack on top of the backstop interval between a job's end at RunComfy and the status read that
 * saw it. It covers a workflow task and a local activity on a 2-core machine shared with other
 * stacks (seconds at the worst moments of the campaign's runs), never a second backstop interval.
 */
export const READ_LATENCY_MARGIN_MS = 7_000;
/** How long RunComfy's (the emulator's) retries of one event span in the campaign: a fault this far before a job's end can still hold its webhook back. */
export const WEBHOOK_RETRY_SPAN_MS = 25_000;
/** Quiet jobs needed before the median says anything about webhooks. */
const MIN_QUIET_JOBS = 10;

/**
 * Faults that may delay the read of a job's end past the backstop: the webhook path (lost, held,
 * its receiver down, nudges used up by a storm), the processes that read (a worker, Temporal), and
 * emulator rules on the status and result reads themselves.
 */
const LATENCY_FAULTS = new Set<FaultKind>(['webhook-loss', 'webhook-forgery', 'receiver-down', 'nudge-storm', 'worker-kill', 'worker-restart', 'temporal-restart']);
const READ_RULE_FAULTS = new Set<FaultKind>(['rate-limit', 'server-error', 'hang']);

export function delaysReads(fault: InjectedFault, pipelineId?: string): boolean {
  if (fault.skipped) return false;
  // A storm uses up the nudged reads of the pipelines it hits only (their ids are in its detail).
  if (fault.kind === 'nudge-storm') return pipelineId === undefined || fault.detail.includes(pipelineId);
  if (LATENCY_FAULTS.has(fault.kind)) return true;
  return READ_RULE_FAULTS.has(fault.kind) && /\b(status|result)\b/.test(fault.detail);
}

/** Figures of the waiting: how quickly jobs' ends were read, how many reads, how long histories grew. */
export interface WaitingFigures {
  webhooks: boolean;
  jobsMeasured: number;
  quietJobs: number;
  /** End of job at RunComfy → the read that saw it, jobs with no read-delaying fault near them. */
  quietLatencyMs: { p50: number; p95: number; max: number };
  statusReads: number;
  nudgedReads: number;
  maxHistoryEvents: { pipelineId: string; events: number; signals: number };
  slowestQuiet?: SlowestQuiet;
  forgedCalls: number;
}

export interface SlowestQuiet {
  pipelineId: string;
  requestId: string;
  latencyMs: number;
  reads: number;
  nudged: number;
  endedAtMs: number;
  /** The emulator's webhook deliveries for the job, relative to its end: kind, status, attempts. */
  deliveries?: string;
}

/** One line per webhook delivery of a job: what was sent, when (ms after the job's end), what came back. The URL (it holds the token) is left out. */
export function describeDeliveries(deliveries: readonly WebhookDeliveryRecord[], endedAtMs: number): string {
  return deliveries
    .map((d) => `${d.kind} ${d.event_status}: ${d.attempts.map((a) => `${a.status_code ?? a.error ?? '?'} at +${a.at_ms - endedAtMs} ms`).join(', ') || 'never sent'}${d.gave_up ? ' (gave up)' : ''}`)
    .join('; ');
}

export interface AttemptCheck {
  problems: WaitingProblem[];
  /** End-of-job → read latencies (ms) of jobs no read-delaying fault came near. */
  quietLatenciesMs: number[];
  /** The quiet job read last after its end, with what the pipeline recorded about it. */
  slowestQuiet?: SlowestQuiet;
  /** Every measured latency, quiet or not. */
  latenciesMs: number[];
  statusReads: number;
  nudgedReads: number;
}

const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso));

/** Per attempt: reads counted, nudges within them, and (webhooks on) the end of the job read in time. */
export function checkAttempts(pipelineId: string, steps: readonly StepProgress[], ledger: ReadonlyMap<string, JobSummary>, faults: readonly InjectedFault[], backstopMs: number | undefined): AttemptCheck {
  const out: AttemptCheck = { problems: [], quietLatenciesMs: [], latenciesMs: [], statusReads: 0, nudgedReads: 0 };
  for (const step of steps) {
    for (const attempt of step.attempts) {
      const label = `step ${step.id} attempt ${attempt.attempt} (${attempt.requestId ?? 'no request'})`;
      const reads = attempt.statusReads ?? 0;
      const nudged = attempt.nudgedReads ?? 0;
      out.statusReads += reads;
      out.nudgedReads += nudged;
      if (nudged > reads) out.problems.push({ invariant: 'nudged-reads', pipelineId, evidence: `${label}: ${nudged} nudged reads but only ${reads} status reads` });
      // Finished = the wait saw the job end (finishedAt is set right after the read that saw it).
      const finishedAt = ms(attempt.finishedAt);
      if (attempt.requestId === undefined || finishedAt === undefined) continue;
      if (reads < 1) out.problems.push({ invariant: 'status-read', pipelineId, evidence: `${label}: ended ${attempt.status} at ${attempt.finishedAt} with no status read recorded` });
      const job = ledger.get(attempt.requestId);
      if (backstopMs === undefined || !job || job.finished_at_ms === null || job.outcome === 'cancelled') continue;
      const latencyMs = finishedAt - job.finished_at_ms;
      out.latenciesMs.push(latencyMs);
      const from = job.finished_at_ms - WEBHOOK_RETRY_SPAN_MS;
      const near = faults.filter((f) => delaysReads(f, pipelineId) && f.atMs <= finishedAt && (f.endMs ?? Number.POSITIVE_INFINITY) >= from);
      if (near.length > 0) continue;
      out.quietLatenciesMs.push(latencyMs);
      if (latencyMs > (out.slowestQuiet?.latencyMs ?? -1)) out.slowestQuiet = { pipelineId, requestId: attempt.requestId, latencyMs, reads, nudged, endedAtMs: job.finished_at_ms };
      if (latencyMs > backstopMs + READ_LATENCY_MARGIN_MS) {
        out.problems.push({
          invariant: 'read-latency',
          pipelineId,
          evidence: `${label}: the job ended at RunComfy at ${new Date(job.finished_at_ms).toISOString()}, the pipeline saw it ${latencyMs} ms later (${reads} reads, ${nudged} nudged), past the ${backstopMs} ms backstop + ${READ_LATENCY_MARGIN_MS} ms with no webhook or process fault near it`,
        });
      }
    }
  }
  return out;
}

/** With webhooks on, jobs are found by their webhook: the median quiet latency stays well under the backstop. */
export function checkWebhooksEffective(quietLatenciesMs: readonly number[], backstopMs: number | undefined): WaitingProblem[] {
  if (backstopMs === undefined || quietLatenciesMs.length < MIN_QUIET_JOBS) return [];
  const median = percentile(quietLatenciesMs, 0.5);
  if (median <= backstopMs / 2) return [];
  return [
    {
      invariant: 'webhooks-effective',
      pipelineId: '-',
      evidence: `median end-of-job → read latency of ${quietLatenciesMs.length} jobs with no fault near them is ${median} ms, more than half the ${backstopMs} ms backstop: their webhooks did not prompt the reads`,
    },
  ];
}

export interface HistoryCounts {
  events: number;
  signals: number;
  /** Signals the pipeline sent (its callback events to the delivery workflow). */
  sentSignals: number;
  /** Durable timers started: the pauses between status reads, and those of store-outage and cancel waits. */
  timers?: number;
  awaitJobScheduled: number;
}

/** Events a pipeline may add: fixed, per job attempt, per status read, per signal received (it may wake a workflow task) and sent (initiated, delivered, a workflow task). */
const BASE_EVENTS = 60;
const EVENTS_PER_ATTEMPT = 40;
const EVENTS_PER_READ = 10;
const EVENTS_PER_SIGNAL = 4;
const EVENTS_PER_SENT_SIGNAL = 6;
/**
 * A timer that is no read's pause (a store-outage or cancel wait): the timer (started, fired), the
 * workflow task it wakes and the activity it retries, with that activity's workflow task.
 */
const EVENTS_PER_OTHER_TIMER = 12;

export function historyBound(attempts: number, statusReads: number, signals: number, sentSignals = 0, timers = 0): number {
  // Each read is paced by at most one timer; the other timers are waits that retry an activity.
  const otherTimers = Math.max(0, timers - statusReads);
  return BASE_EVENTS + EVENTS_PER_ATTEMPT * attempts + EVENTS_PER_READ * statusReads + EVENTS_PER_SIGNAL * signals + EVENTS_PER_SENT_SIGNAL * sentSignals + EVENTS_PER_OTHER_TIMER * otherTimers;
}

/** The history stays under a bound set by the work done; no pipeline started on today's code schedules the old poll activity. */
export function checkHistory(pipelineId: string, counts: HistoryCounts, steps: readonly StepProgress[]): WaitingProblem[] {
  const problems: WaitingProblem[] = [];
  const attempts: JobAttempt[] = steps.flatMap((s) => s.attempts);
  const reads = attempts.reduce((n, a) => n + (a.statusReads ?? 0), 0);
  const bound = historyBound(attempts.length, reads, counts.signals, counts.sentSignals, counts.timers);
  if (counts.events > bound) {
    problems.push({
      invariant: 'history-bounded',
      pipelineId,
      evidence: `${counts.events} history events for ${attempts.length} job attempt(s), ${reads} status reads, ${counts.timers ?? 0} timers, ${counts.signals} signals received and ${counts.sentSignals} sent: more than the ${bound} allowed`,
    });
  }
  if (counts.awaitJobScheduled > 0) {
    problems.push({ invariant: 'no-await-job', pipelineId, evidence: `${counts.awaitJobScheduled} awaitJob activities scheduled by a pipeline started on code that waits without a slot` });
  }
  return problems;
}

/** No forged webhook is ever accepted by a receiver (a 2xx answer to a tampered token). */
export function checkForgedRefused(deliveries: readonly WebhookDeliveryRecord[], pipelineOf: (requestId: string) => string): WaitingProblem[] {
  return deliveries
    .filter((d) => (d.kind === 'forged_token' || d.kind === 'forged_request') && d.attempts.some((a) => a.status_code !== null && a.status_code >= 200 && a.status_code < 300))
    .map((d) => ({
      invariant: 'forged-refused' as const,
      pipelineId: pipelineOf(d.request_id),
      evidence: `a ${d.kind} call for ${d.request_id} (delivery ${d.delivery_id}) was answered ${d.attempts.map((a) => a.status_code ?? a.error ?? '?').join(', ')}`,
    }));
}

/** Per-job token values in the URLs RunComfy was given: finding one in a history or a log is a leak. */
export function webhookTokens(deliveries: readonly WebhookDeliveryRecord[]): string[] {
  const tokens = new Set<string>();
  for (const d of deliveries) {
    if (d.kind !== 'event' && d.kind !== 'duplicate' && d.kind !== 'lost') continue;
    try {
      const token = new URL(d.url).searchParams.get('token');
      if (token && token.length >= 16) tokens.add(token);
    } catch {
      // not a URL: nothing to look for
    }
  }
  return [...tokens];
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

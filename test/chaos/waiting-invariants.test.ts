/** The waiting invariants on hand-made evidence: each must fire on the fact it guards, and only then. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StepProgress } from '../../src/contract/pipeline-contract.js';
import type { JobSummary, WebhookDeliveryRecord } from '../../src/emulator/admin-types.js';
import type { InjectedFault } from '../../chaos/faults.js';
import {
  checkAttempts,
  checkForgedRefused,
  checkHistory,
  checkWebhooksEffective,
  delaysReads,
  historyBound,
  READ_LATENCY_MARGIN_MS,
  webhookTokens,
} from '../../chaos/waiting-invariants.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const BACKSTOP = 8_000;

function step(attempts: StepProgress['attempts']): StepProgress {
  return { id: 's1', kind: 't2i', deploymentKey: 'flux-t2i', state: 'succeeded', attempts, outputs: [] } as StepProgress;
}

function job(requestId: string, finishedAtMs: number, outcome: JobSummary['outcome'] = 'succeeded'): [string, JobSummary] {
  return [requestId, { request_id: requestId, finished_at_ms: finishedAtMs, outcome } as JobSummary];
}

const at = (offsetMs: number): string => new Date(T0 + offsetMs).toISOString();

test('a finished attempt with no status read, or more nudged reads than reads, is a violation', () => {
  const steps = [
    step([
      { attempt: 1, requestId: 'r1', status: 'failed', finishedAt: at(1_000), statusReads: 0 },
      { attempt: 2, requestId: 'r2', status: 'succeeded', finishedAt: at(5_000), statusReads: 2, nudgedReads: 3 },
      // Cancelled before any read: not finished by a read, so no read is owed.
      { attempt: 3, requestId: 'r3', status: 'cancelled', statusReads: 0 },
    ]),
  ];
  const result = checkAttempts('p1', steps, new Map(), [], BACKSTOP);
  assert.deepEqual(result.problems.map((p) => p.invariant).sort(), ['nudged-reads', 'status-read']);
  assert.match(result.problems.find((p) => p.invariant === 'status-read')!.evidence, /attempt 1 \(r1\).*no status read/);
});

test('a job read later than backstop + margin is a violation only when no read-delaying fault was near it', () => {
  const late = BACKSTOP + READ_LATENCY_MARGIN_MS + 1;
  const steps = [step([{ attempt: 1, requestId: 'r1', status: 'succeeded', finishedAt: at(10_000 + late), statusReads: 2 }])];
  const ledger = new Map([job('r1', T0 + 10_000)]);
  const quiet = checkAttempts('p1', steps, ledger, [], BACKSTOP);
  assert.equal(quiet.problems.length, 1);
  assert.equal(quiet.problems[0]!.invariant, 'read-latency');
  assert.deepEqual(quiet.quietLatenciesMs, [late]);

  // A webhook loss that ended 20 s before the job's end may still have held back its retried webhook.
  const loss: InjectedFault = { kind: 'webhook-loss', atMs: T0 - 30_000, endMs: T0 - 10_000, detail: 'lost' };
  assert.deepEqual(checkAttempts('p1', steps, ledger, [loss], BACKSTOP).problems, []);
  // One long over before that, or a rate limit on submits, does not excuse it.
  const oldLoss: InjectedFault = { ...loss, atMs: T0 - 90_000, endMs: T0 - 60_000 };
  const submitLimit: InjectedFault = { kind: 'rate-limit', atMs: T0, detail: '2 × 429 Retry-After 1 s on submit', lingers: true };
  assert.equal(checkAttempts('p1', steps, ledger, [oldLoss, submitLimit], BACKSTOP).problems.length, 1);
  assert.equal(delaysReads({ ...submitLimit, detail: '2 × 429 Retry-After 1 s on status' }), true);
  // A nudge storm excuses only the pipelines it hit.
  const storm: InjectedFault = { kind: 'nudge-storm', atMs: T0, endMs: T0 + 1_000, detail: '40 jobNudge signals (…) to p2, p3' };
  assert.equal(checkAttempts('p1', steps, ledger, [storm], BACKSTOP).problems.length, 1);
  assert.deepEqual(checkAttempts('p2', steps, ledger, [storm], BACKSTOP).problems, []);
  // Webhooks off: latency is the polling's business, not checked.
  assert.deepEqual(checkAttempts('p1', steps, ledger, [], undefined).problems, []);
});

test('webhooks are effective when the median quiet latency stays under half the backstop', () => {
  const fast = Array.from({ length: 12 }, (_, i) => 200 + i * 10);
  assert.deepEqual(checkWebhooksEffective(fast, BACKSTOP), []);
  const slow = Array.from({ length: 12 }, () => BACKSTOP);
  assert.equal(checkWebhooksEffective(slow, BACKSTOP)[0]?.invariant, 'webhooks-effective');
  assert.deepEqual(checkWebhooksEffective(slow.slice(0, 3), BACKSTOP), [], 'too few jobs to say');
  assert.deepEqual(checkWebhooksEffective(slow, undefined), []);
});

test('the history bound scales with attempts, reads and signals; awaitJob is never scheduled', () => {
  const steps = [step([{ attempt: 1, requestId: 'r1', status: 'succeeded', finishedAt: at(1), statusReads: 3 }])];
  const bound = historyBound(1, 3, 10, 5);
  assert.ok(bound > historyBound(1, 3, 10), 'signals sent count too');
  assert.deepEqual(checkHistory('p1', { events: bound, signals: 10, sentSignals: 5, awaitJobScheduled: 0 }, steps), []);
  assert.equal(checkHistory('p1', { events: bound + 1, signals: 10, sentSignals: 5, awaitJobScheduled: 0 }, steps)[0]?.invariant, 'history-bounded');
  assert.equal(checkHistory('p1', { events: 20, signals: 0, sentSignals: 0, awaitJobScheduled: 1 }, steps)[0]?.invariant, 'no-await-job');
});

test('timers that pace no read (store-outage and cancel waits) widen the bound; read pauses do not count twice', () => {
  const steps = [step([{ attempt: 1, requestId: 'r1', status: 'succeeded', finishedAt: at(1), statusReads: 3 }])];
  assert.equal(historyBound(1, 3, 0, 0, 3), historyBound(1, 3, 0, 0), 'one timer per read is already in the read’s share');
  const withOutageWaits = historyBound(1, 3, 0, 0, 7);
  assert.ok(withOutageWaits > historyBound(1, 3, 0, 0));
  // A cancelled pipeline that rode out four store-outage waits: within the bound with its timers counted, past it without.
  const events = withOutageWaits;
  assert.deepEqual(checkHistory('p1', { events, signals: 0, sentSignals: 0, timers: 7, awaitJobScheduled: 0 }, steps), []);
  assert.equal(checkHistory('p1', { events, signals: 0, sentSignals: 0, awaitJobScheduled: 0 }, steps)[0]?.invariant, 'history-bounded');
  assert.equal(checkHistory('p1', { events: events + 1, signals: 0, sentSignals: 0, timers: 7, awaitJobScheduled: 0 }, steps)[0]?.invariant, 'history-bounded');
});

test('a forged webhook answered 2xx is a violation; tokens are read from the delivered URLs', () => {
  const delivery = (kind: WebhookDeliveryRecord['kind'], code: number, token: string): WebhookDeliveryRecord => ({
    delivery_id: `d-${kind}`,
    request_id: 'r1',
    deployment_id: 'dep',
    event_status: 'succeeded',
    url: `http://127.0.0.1:1/runcomfy/webhook?wf=pipeline-p1&step=s1&attempt=1&token=${token}`,
    copy: 0,
    kind,
    attempts: [{ at_ms: T0, status_code: code, error: null }],
    delivered: code < 300,
    gave_up: false,
  });
  const deliveries = [delivery('event', 200, 'a-real-token-of-some-length'), delivery('forged_token', 401, 'tampered-token-xxxxxxxx'), delivery('forged_request', 200, 'tampered-token-yyyyyyyy')];
  const problems = checkForgedRefused(deliveries, () => 'p1');
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.evidence, /forged_request/);
  assert.deepEqual(webhookTokens(deliveries), ['a-real-token-of-some-length']);
});

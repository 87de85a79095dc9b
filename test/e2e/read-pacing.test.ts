/*
 * Reads keep the configured poll interval while a phase has reads to spare. They used to be paced
 * for the phase's whole budget from the first read, which stretched a 1 s poll to 1.5 s and more,
 * so a pipeline learned of each job's end later than the interval promised.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OVERLAPPED_PAUSES_PATCH, PACED_READS_PATCH } from '../../src/workflows/job-wait.js';
import { cancelPipelineSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack({ env: { POLL_INITIAL_INTERVAL_MS: '1000', POLL_MAX_INTERVAL_MS: '1000' } });
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

test('with a 1 s poll, every pause between status reads is 1 s, however long the phase’s budget', async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2i, { timing: { durationMs: 3_500, jitterMs: 0, coldStartMs: 0 } });
  // Ten job attempts: a small share of reads per phase (138), so pacing for the whole 10-minute queue
  // budget from the start would pause 5.7 s between reads.
  const handle = await stack.start({ pipelineId: uniqueName('paced'), options: { maxJobAttempts: 10 }, steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 5 } }] });
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const events = (await handle.fetchHistory()).events ?? [];
  const pauses = events.flatMap((e) => (e.timerStartedEventAttributes ? [Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0) * 1000 + Math.round((e.timerStartedEventAttributes.startToFireTimeout?.nanos ?? 0) / 1e6)] : []));
  assert.ok(pauses.length >= 3, `reads every second through a 3.5 s job (${pauses.length} timers)`);
  assert.deepEqual(new Set(pauses), new Set([1_000]), `pauses: ${pauses.join(', ')} ms`);
  const attempt = result.steps[0]!.attempts[0]!;
  assert.ok((attempt.statusReads ?? 0) <= pauses.length + 1);
  const markers = events.flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((p) => (p.payloads ?? []).map((payload) => Buffer.from(payload.data ?? []).toString())));
  assert.ok(markers.some((m) => m.includes(PACED_READS_PATCH)), 'the run is marked with the paced-reads patch');
});

test('with polling alone, reads come one interval apart however long each read takes: the pause runs alongside the read', async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2i, { timing: { durationMs: 5_500, jitterMs: 0, coldStartMs: 0 } });
  // Every submit and status answer takes 400 ms: paused after each answer, reads would come 1.4 s apart and more.
  const slow = await stack.emulator.admin.addFault({ kind: 'delay', operations: ['submit', 'status'], deploymentId: t2i, delayMs: 400, count: null });
  try {
    const handle = await stack.start({ pipelineId: uniqueName('overlapped'), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 6 } }] });
    const result = await handle.result();
    assert.equal(result.status, 'succeeded');
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduledAtMs = (type: string) =>
      events.flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === type ? [Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6)] : []));
    const [submitAtMs] = scheduledAtMs('submitJob');
    const readsAtMs = scheduledAtMs('readJobStatus');
    assert.ok(readsAtMs.length >= 4, `${readsAtMs.length} reads through a 5.5 s job`);
    // The first pause starts with the submit: the first read comes one interval after the job was sent.
    const firstGap = readsAtMs[0]! - submitAtMs!;
    assert.ok(firstGap >= 990 && firstGap < 1_250, `submit → first read: ${firstGap} ms`);
    const gaps = readsAtMs.slice(1).map((at, i) => at - readsAtMs[i]!);
    // Timers fire a few ms late and a workflow task takes some more; 1.4 s would mean the read's time was added.
    for (const gap of gaps) assert.ok(gap >= 990 && gap < 1_250, `gaps between reads: ${gaps.join(', ')} ms`);
    const markers = events.flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}).flatMap((p) => (p.payloads ?? []).map((payload) => Buffer.from(payload.data ?? []).toString())));
    assert.ok(markers.some((m) => m.includes(OVERLAPPED_PAUSES_PATCH)), 'the run is marked with the overlapped-read-pauses patch');
    // The pause started with the read that found the job ended is cancelled, not left to fire.
    const cancelled = events.filter((e) => e.timerCanceledEventAttributes).length;
    assert.equal(cancelled, 1);
    await recordHistory(handle, 'overlapped-read-pauses');
  } finally {
    await stack.emulator.admin.removeFault(slow.id);
  }
});

function eventMs(e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
}

test('a read answered 429 drops the pause started with it and waits as the server asked, counted from the answer', async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2i, { timing: { durationMs: 5_500, jitterMs: 0, coldStartMs: 0 } });
  // The first status read is refused with Retry-After: 2 s.
  await stack.emulator.admin.addFault({ kind: 'rate_limit', operations: ['status'], deploymentId: t2i, retryAfterSeconds: 2, count: 1 });
  const handle = await stack.start({ pipelineId: uniqueName('overlapped-429'), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 7 } }] });
  const result = await handle.result();
  assert.equal(result.status, 'succeeded');
  const events = (await handle.fetchHistory()).events ?? [];
  const reads = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'readJobStatus').map(eventMs);
  const answers = events.filter((e) => e.activityTaskCompletedEventAttributes).map(eventMs);
  const firstAnswerMs = answers.find((at) => at > reads[0]!)!;
  const afterRefusal = reads[1]! - firstAnswerMs;
  assert.ok(afterRefusal >= 1_990 && afterRefusal < 2_300, `the read after the 429 came ${afterRefusal} ms after its answer (Retry-After: 2 s)`);
  const later = reads.slice(2).map((at, i) => at - reads[i + 1]!);
  for (const gap of later) assert.ok(gap >= 990 && gap < 1_250, `gaps after the refusal: ${later.join(', ')} ms`);
  // The 1 s pause started with the refused read, and the one started with the read that saw the end.
  assert.equal(events.filter((e) => e.timerCanceledEventAttributes).length, 2);
  await recordHistory(handle, 'overlapped-read-pauses-retry-after');
});

test('a cancel while a pause runs alongside the wait cancels the job and ends the pipeline cancelled', async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2i, { timing: { durationMs: 60_000, jitterMs: 0, coldStartMs: 0 } });
  try {
    const handle = await stack.start({ pipelineId: uniqueName('overlapped-cancel'), steps: [{ id: 'image', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a kite', seed: 8 } }] });
    const requestId = await eventually(async () => {
      const step = (await handle.query(pipelineProgressQuery)).steps[0];
      return (step?.wait?.statusReads ?? 0) >= 2 ? step?.requestId : undefined;
    }, { timeoutMs: 30_000, what: 'two status reads' });
    await handle.signal(cancelPipelineSignal, { reason: 'changed my mind' });
    const result = await handle.result();
    assert.equal(result.status, 'cancelled');
    assert.equal((await stack.emulator.admin.job(requestId)).state, 'cancelled', 'the job was cancelled at RunComfy');
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.timerStartedEventAttributes).length;
    const ended = events.filter((e) => e.timerFiredEventAttributes || e.timerCanceledEventAttributes).length;
    assert.equal(ended, started, 'no pause is left running once the pipeline ended');
    await recordHistory(handle, 'overlapped-read-pauses-cancel-signal');
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

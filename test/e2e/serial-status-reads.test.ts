/*
 * Parallel steps read their jobs' status one read at a time, each read a short activity. Reads as
 * local activities that completed within one workflow task got their results grouped one way live
 * and another on replay, so a command woken in between (a callback signal, a copy's patch marker)
 * changed place and the replay failed, stranding the pipeline at the next worker crash (chaos
 * campaign, seeds 101 and 31415). Nudges for both steps sent together: the reads they prompt are
 * activities in history, they do not overlap, and the history replays.
 */
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { workflowSourceOptions } from '../../src/worker/workflow-code.js';
import { jobNudgeSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';
import { recordHistory } from '../support/histories.js';

// Long pauses between timed reads: every read here after the first is prompted by a nudge.
const stack = await startPipelineStack({ env: { POLL_INITIAL_INTERVAL_MS: '30000', POLL_MAX_INTERVAL_MS: '30000' } });
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

const ms = (t: { seconds?: number | string; nanos?: number } | undefined): number => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

test('reads prompted together for two parallel steps run one at a time, and the history replays', { timeout: 180_000 }, async () => {
  await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 120_000 }, max_instances: 4 });
  try {
    const spec: PipelineSpec = {
      pipelineId: uniqueName('serial-reads'),
      steps: [
        { id: 'left', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a left kite', seed: 1 } },
        { id: 'right', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a right kite', seed: 2 } },
      ],
    };
    const handle = await stack.start(spec);
    const waiting = await eventually(
      async () => {
        const steps = (await handle.query(pipelineProgressQuery)).steps;
        return steps.every((s) => s.wait && s.requestId) ? steps : undefined;
      },
      { timeoutMs: 60_000, what: 'both steps to wait' },
    );
    for (let pair = 0; pair < 8; pair++) {
      await Promise.all(waiting.map((s) => handle.signal(jobNudgeSignal, { stepId: s.id, attempt: 1, requestId: s.requestId! })));
      await eventually(
        async () => ((await handle.query(pipelineProgressQuery)).steps.every((s) => (s.wait?.statusReads ?? 0) >= pair + 1) ? true : undefined),
        { timeoutMs: 30_000, what: `the reads of nudge pair ${pair + 1}` },
      );
    }
    await handle.cancel();
    await assert.rejects(handle.result());

    const history = await handle.fetchHistory();
    // Reads are activities: their completions are history events, in the order they happened, so a
    // replay meets them exactly as the live run did.
    const scheduled = new Map<string, string>();
    const reads: { started: number; completed: number }[] = [];
    const startedAt = new Map<string, number>();
    for (const event of history.events ?? []) {
      const id = String(event.eventId);
      const at = ms(event.eventTime as { seconds?: number | string; nanos?: number } | undefined);
      if (event.activityTaskScheduledEventAttributes) scheduled.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      const started = event.activityTaskStartedEventAttributes;
      if (started && scheduled.get(String(started.scheduledEventId)) === 'readJobStatus') startedAt.set(String(started.scheduledEventId), at);
      const completed = event.activityTaskCompletedEventAttributes;
      if (completed && scheduled.get(String(completed.scheduledEventId)) === 'readJobStatus') reads.push({ started: startedAt.get(String(completed.scheduledEventId)) ?? at, completed: at });
    }
    assert.ok(reads.length >= 16, `${reads.length} status reads, each an activity in history`);
    assert.equal((history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length, 2, 'only preparation and the callback target are local activities');
    const sorted = [...reads].sort((x, y) => x.started - y.started);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]!.started >= sorted[i - 1]!.completed, `reads overlapped: ${JSON.stringify(sorted.slice(i - 1, i + 1))}`);
    await recordHistory(handle, 'serial-status-reads');
    await Worker.runReplayHistory(workflowSourceOptions(), history, handle.workflowId);
  } finally {
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

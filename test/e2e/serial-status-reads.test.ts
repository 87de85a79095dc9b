/*
 * Parallel steps read their jobs' status one read at a time. Two reads that completed within one
 * workflow task used to get their results in two activations live but in one on replay, so a
 * coroutine woken in between (the callbacks watcher) emitted its command in another place and the
 * replay failed with a nondeterminism error, stranding the pipeline at the next worker crash (found
 * by the chaos campaign, seed 101). Nudges for both steps sent together land in one workflow task;
 * the reads they prompt must not overlap, and the history must replay.
 */
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { jobNudgeSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';
import { recordHistory } from '../support/histories.js';

// Long pauses between timed reads: every read here after the first is prompted by a nudge.
const stack = await startPipelineStack({ env: { POLL_INITIAL_INTERVAL_MS: '30000', POLL_MAX_INTERVAL_MS: '30000' } });
const { admin } = stack.emulator;
const t2i = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

interface ReadMarker {
  task: number;
  scheduledMs: number;
  completedMs: number;
}

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
    const reads: ReadMarker[] = [];
    let task = 0;
    for (const event of history.events ?? []) {
      if (event.workflowTaskCompletedEventAttributes) task++;
      const marker = event.markerRecordedEventAttributes;
      const data = marker?.details?.['data']?.payloads?.[0]?.data;
      if (!data) continue;
      const fields = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string; original_schedule_time?: { seconds: number; nanos: number }; complete_time?: { seconds: number; nanos: number } };
      if (fields.activity_type === 'readJobStatus') reads.push({ task, scheduledMs: ms(fields.original_schedule_time), completedMs: ms(fields.complete_time) });
    }
    const tasks = new Map<number, ReadMarker[]>();
    for (const read of reads) tasks.set(read.task, [...(tasks.get(read.task) ?? []), read]);
    const shared = [...tasks.values()].filter((list) => list.length > 1);
    assert.ok(shared.length > 0, 'some nudge pair landed in one workflow task (both steps read in it)');
    for (const list of shared) {
      const sorted = [...list].sort((a, b) => a.scheduledMs - b.scheduledMs);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(sorted[i]!.scheduledMs >= sorted[i - 1]!.completedMs, `reads in one workflow task overlapped: ${JSON.stringify(sorted)}`);
      }
    }
    await recordHistory(handle, 'serial-status-reads');
    await Worker.runReplayHistory({ workflowsPath: fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url)) }, history, handle.workflowId);
  } finally {
    await admin.updateDeploymentConfig(t2i, { timing: { durationMs: 150 } });
  }
});

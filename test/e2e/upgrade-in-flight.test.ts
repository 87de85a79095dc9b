/*
 * A deploy in the middle of a pipeline: the pipeline starts on earlier workflow code and finishes on
 * today's. Two earlier versions, bundled by scripts/bundle-workflows-at.ts into
 * test/fixtures/workflow-bundles: from before the cancellation/outage changes (commit a058b33), and
 * from before slot-free waiting (commit 224fefd, whose steps wait in a long poll activity). The patched() gates must keep the
 * running pipeline deterministic: no workflow task may fail, and it ends as it would have.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseWorkerConfig } from '../../src/config.js';
import { createPipelineWorker } from '../../src/worker/pipeline-worker.js';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { cancelPipelineSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { storeFaceImage } from '../support/face-image.js';
import { recordHistory } from '../support/histories.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const PREVIOUS_BUNDLES = {
  'before-edges': { file: fileURLToPath(new URL('../fixtures/workflow-bundles/before-edges.js', import.meta.url)), history: 'edges-upgrade' },
  'before-slot-free': { file: fileURLToPath(new URL('../fixtures/workflow-bundles/before-slot-free.js', import.meta.url)), history: 'slot-free-upgrade' },
} as const;
const stack = await startPipelineStack({ noWorker: true });
const { admin } = stack.emulator;
const upscale = stack.emulator.deploymentId('fofr_ultimate_sd_upscale_cn_tile');

async function startWorker(bundle?: string) {
  const worker = await createPipelineWorker({ config: parseWorkerConfig(stack.env), registry: stack.registry, ...(bundle ? { workflowBundlePath: bundle } : {}) });
  const running = worker.run();
  return async () => {
    worker.worker.shutdown();
    await running;
  };
}

// The previous code knows no r2:// references: the pipeline carries a presigned URL, as it did then.
async function specFor(prefix: string) {
  const pipelineId = uniqueName(prefix);
  return defaultPipelineSpec({ pipelineId, prompt: 'a bridge in fog', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`, 'presigned') });
}

async function failedWorkflowTasks(handle: Awaited<ReturnType<typeof stack.start>>): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowTaskFailedEventAttributes).length;
}

for (const [version, previous] of Object.entries(PREVIOUS_BUNDLES)) {
  for (const ending of ['completes', 'is cancelled'] as const) {
    test(`a pipeline started on the workflow code ${version} ${ending} on today's code without non-determinism`, async () => {
      // Long enough for the deploy to land while the job runs; the cancel case keeps it running after.
      await admin.updateDeploymentConfig(upscale, { timing: { durationMs: ending === 'completes' ? 4_000 : 60_000 } });
      let stopNew: (() => Promise<void>) | undefined;
      try {
        const since = Date.now();
        const stopOld = await startWorker(previous.file);
        const handle = await stack.start(await specFor(`upgrade-${ending === 'completes' ? 'complete' : 'cancel'}`));
        // Two steps done on the old code, the third one running: then the deploy.
        await eventually(async () => (await admin.jobs({ deploymentId: upscale })).find((j) => j.state === 'in_progress' && j.submitted_at_ms >= since), { timeoutMs: 60_000, what: 'the upscale job to run' });
        await stopOld();
        stopNew = await startWorker();
        if (ending === 'completes') {
          const result = await handle.result();
          assert.equal(result.status, 'succeeded');
          assert.deepEqual(result.steps.map((s) => s.attempts.length), [1, 1, 1, 1], 'one job per step across the deploy');
        } else {
          // Queries are answered by the new worker, which replays the old history first.
          await eventually(async () => (await handle.query(pipelineProgressQuery)).steps[2]?.state === 'running' || undefined, { timeoutMs: 60_000, what: 'the new code to see the job run' });
          await handle.signal(cancelPipelineSignal, { reason: 'after the deploy' });
          const result = await handle.result();
          assert.equal(result.status, 'cancelled');
          assert.equal(result.steps[2]?.state, 'cancelled');
        }
        assert.equal(await failedWorkflowTasks(handle), 0, 'no workflow task failed (no non-determinism)');
        await recordHistory(handle, `${previous.history}-${ending === 'completes' ? 'complete' : 'cancel'}`);
      } finally {
        await stopNew?.();
        await admin.updateDeploymentConfig(upscale, { timing: { durationMs: 150 } });
      }
    });
  }
}

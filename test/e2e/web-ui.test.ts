/**
 * The Temporal Web UI, rendered by a real headless Chromium: a finished pipeline shows as Completed
 * with every activity labelled by its step, and a running one shows its poll among the pending
 * activities with the heartbeat details (request id, RunComfy status). Screenshots go to results/.
 * Without Chromium the test fails with a message naming what is missing; it never skips.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultPipelineSpec } from '../../src/pipeline/default-pipeline.js';
import { cancelPipelineSignal, pipelineProgressQuery } from '../../src/contract/pipeline-contract.js';
import { Browser } from '../support/chromium.js';
import { storeFaceImage } from '../support/face-image.js';
import { eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));
const stack = await startPipelineStack();
const uiUrl = stack.temporal.uiUrl;
const t2iDeployment = stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i');

let browser: Browser;
before(async () => {
  assert.ok(uiUrl, 'the Temporal dev server serves its Web UI');
  mkdirSync(RESULTS_DIR, { recursive: true });
  browser = await Browser.launch();
});
after(() => browser?.close());

async function specFor(prefix: string) {
  const pipelineId = uniqueName(prefix);
  return defaultPipelineSpec({ pipelineId, prompt: 'a lighthouse at dusk', faceImageUrl: await storeFaceImage(stack.store, `inputs/${pipelineId}/face.png`) });
}

function workflowPage(workflowId: string, runId: string, tab: 'history'): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(stack.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/${tab}`;
}

test('a finished pipeline is Completed in the Web UI and its activities are labelled by step', { timeout: 180_000 }, async () => {
  const spec = await specFor('web-ui-done');
  const handle = await stack.start(spec);
  assert.equal((await handle.result()).status, 'succeeded');
  const page = await browser.open(workflowPage(handle.workflowId, (await handle.describe()).runId, 'history'));
  const steps = spec.steps.map((step) => step.id);
  const text = await page.waitForText((t) => /Completed/.test(t) && steps.every((id) => t.includes(`submitJob • ${id}`)), { what: `the history of ${handle.workflowId}` });
  await page.screenshot(join(RESULTS_DIR, 'web-ui-completed-pipeline.png'));
  assert.match(text, /Completed/);
  assert.ok(text.includes('readJobStatus'), 'the status reads are shown');
  for (const id of steps) {
    for (const activity of ['submitJob', 'persistOutputs']) assert.ok(text.includes(`${activity} • ${id}`), `"${activity} • ${id}" is shown`);
  }
});

test('a running pipeline shows the job it waits on: labelled timers, no poll activity, and current details', { timeout: 180_000 }, async () => {
  await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 120_000 } });
  const handle = await stack.start(await specFor('web-ui-running'));
  try {
    const job = await eventually(async () => (await stack.emulator.admin.jobs({ deploymentId: t2iDeployment })).find((j) => j.state === 'in_progress'), { timeoutMs: 60_000, what: 'a running t2i job' });
    // Waiting holds no activity: the run's own details and its timers say what it waits on.
    await eventually(async () => ((await handle.query(pipelineProgressQuery)).steps[0]?.wait?.remoteStatus === 'in_progress' ? true : undefined), { timeoutMs: 60_000, what: 'a status read that saw the job running' });
    const runId = (await handle.describe()).runId;
    const history = await browser.open(workflowPage(handle.workflowId, runId, 'history'));
    const timers = await history.waitForText((t) => t.includes(`t2i: next status read of ${job.request_id}`), { what: `the labelled timers of ${handle.workflowId}` });
    assert.match(timers, /Running/);
    // No long poll: at most a status read (milliseconds, or a sub-second pause) is ever pending.
    assert.ok(!timers.includes('awaitJob'), 'no poll activity holds a slot while the job runs');
    assert.match(timers, /Pending Activities\s+[01]\b/);
    await history.screenshot(join(RESULTS_DIR, 'web-ui-waiting-job.png'));
    // The run's current details (Temporal's metadata query, read by the UI and `temporal workflow metadata`).
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(metadata.currentDetails ?? '', new RegExp(`\\*\\*t2i\\*\\* waits for RunComfy request \`${job.request_id}\`: in_progress · \\d+ status reads`));
  } finally {
    await handle.signal(cancelPipelineSignal, { reason: 'test over' });
    await handle.result();
    await stack.emulator.admin.updateDeploymentConfig(t2iDeployment, { timing: { durationMs: 150 } });
  }
});

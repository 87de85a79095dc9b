import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { DeploymentConfigPatch, RunningEmulator } from '../../src/emulator/index.js';
import { api, startTestEmulator, submit, waitFor, waitForResult, type SubmitBody } from './helpers.js';

const FLUX = 'fofr_flux_dev_fp8_t2i';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue model', () => {
  let emulator: RunningEmulator;
  let fluxId: string;
  const configure = (patch: DeploymentConfigPatch) => emulator.admin.updateDeploymentConfig(fluxId, patch);
  const statusOf = async (job: SubmitBody) => (await api(job.status_url)).body;
  const cancel = async (job: SubmitBody) => api(job.cancel_url, { method: 'POST' });

  before(async () => {
    emulator = await startTestEmulator();
    fluxId = emulator.deploymentId(FLUX);
  });
  after(() => emulator.close());
  beforeEach(() => emulator.admin.reset());

  it('runs jobs one at a time on one instance, with queue positions counting the jobs ahead', async () => {
    // Long enough that three submits and four reads fit inside the first job on a loaded machine.
    const durationMs = 1_500;
    await configure({ max_instances: 1, queue_size: 10, timing: { durationMs } });
    const jobs = [await submit(emulator, FLUX), await submit(emulator, FLUX), await submit(emulator, FLUX)];
    const [first, second, third] = await Promise.all(jobs.map(statusOf));
    assert.equal(first!.status, 'in_progress');
    assert.equal(typeof first!.instance_id, 'string');
    assert.equal(first!.queue_position, undefined);
    assert.deepEqual([second!.status, second!.queue_position], ['in_queue', 0]);
    assert.deepEqual([third!.status, third!.queue_position], ['in_queue', 1]);
    const instances = await emulator.admin.instances(fluxId);
    assert.deepEqual(instances.map((instance) => [instance.state, instance.request_id]), [['busy', jobs[0]!.request_id]]);

    await waitFor(async () => ((await statusOf(jobs[1]!)).status === 'in_progress' ? true : undefined));
    assert.deepEqual([(await statusOf(jobs[2]!)).status, (await statusOf(jobs[2]!)).queue_position], ['in_queue', 0]);
    for (const job of jobs) assert.equal((await waitForResult(job)).status, 'succeeded');
    const summaries = await emulator.admin.jobs({ deploymentId: fluxId });
    const byId = new Map(summaries.map((summary) => [summary.request_id, summary]));
    const [a, b, c] = jobs.map((job) => byId.get(job.request_id)!);
    assert.ok(b!.started_at_ms! >= a!.finished_at_ms!, 'second starts after the first finished');
    assert.ok(c!.started_at_ms! >= b!.finished_at_ms!);
    assert.ok(a!.finished_at_ms! - a!.started_at_ms! >= durationMs - 10, 'runs for the configured duration');
  });

  it('starts more instances (with cold start) once more than queue_size jobs wait per instance, up to max_instances', async () => {
    await configure({ min_instances: 0, max_instances: 3, queue_size: 1, timing: { durationMs: 300, coldStartMs: 250 } });
    const jobs = await Promise.all([1, 2, 3, 4].map(() => submit(emulator, FLUX)));
    const starting = await emulator.admin.instances(fluxId);
    assert.equal(starting.length, 3);
    assert.ok(starting.every((instance) => instance.state === 'starting'));
    assert.deepEqual((await Promise.all(jobs.map(statusOf))).map((status) => status.status), ['in_queue', 'in_queue', 'in_queue', 'in_queue']);
    await waitFor(async () => ((await statusOf(jobs[2]!)).status === 'in_progress' ? true : undefined));
    const statuses = await Promise.all(jobs.map(statusOf));
    assert.deepEqual(statuses.map((status) => status.status), ['in_progress', 'in_progress', 'in_progress', 'in_queue']);
    assert.equal(statuses[3]!.queue_position, 0);
    assert.equal(new Set(statuses.slice(0, 3).map((status) => status.instance_id)).size, 3);
    const summary = (await emulator.admin.jobs()).find((job) => job.request_id === jobs[0]!.request_id)!;
    assert.ok(summary.started_at_ms! - summary.submitted_at_ms >= 240, 'waited for the cold start');
  });

  it('keeps min_instances warm (no cold start) and stops extra idle instances after the keep-warm time', async () => {
    await configure({ min_instances: 1, max_instances: 2, queue_size: 1, timing: { durationMs: 40, coldStartMs: 5000, keepWarmMs: 60 } });
    const instances = await emulator.admin.instances(fluxId);
    assert.deepEqual(instances.map((instance) => instance.state), ['starting'], 'raising min_instances cold-starts one');
    await emulator.admin.reset();
    // after a reset the seeded deployment is back to min 0; seed one with a warm instance instead
    const warm = await emulator.admin.addDeployment({
      name: 'warm',
      workflow_api_json: { '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'W', images: ['8', 0] } }, '8': { class_type: 'VAEDecode', inputs: {} } },
      min_instances: 1,
      max_instances: 3,
      queue_size: 1,
      // Jobs and cold starts long enough that four submits and two reads fit inside them on a busy
      // machine: the checks below look at the states while the first job runs.
      timing: { durationMs: 2_000, coldStartMs: 3_000, keepWarmMs: 60 },
    });
    assert.deepEqual(warm.instances.map((instance) => instance.state), ['idle']);
    const url = (path: string) => `${emulator.url}/prod/v1/deployments/${warm.id}${path}`;
    const submitted: SubmitBody[] = [];
    for (let i = 0; i < 4; i++) submitted.push((await api<SubmitBody>(url('/inference'), { method: 'POST', body: {} })).body);
    assert.equal((await api(submitted[0]!.status_url)).body.status, 'in_progress', 'the warm instance starts the first job at once');
    // one job runs, three wait: more than queue_size (1) per instance, so two more instances start
    assert.deepEqual((await emulator.admin.instances(warm.id)).map((instance) => instance.state), ['busy', 'starting', 'starting']);
    // All four take ~5 s (2 s each, two instances cold-starting for 3 s): wait on the condition.
    await waitFor(async () => ((await Promise.all(submitted.map((job) => api(job.status_url)))).every((status) => status.body.status === 'completed') ? true : undefined), 30_000);
    await waitFor(async () => ((await emulator.admin.instances(warm.id)).length === 1 ? true : undefined), 5_000);
    await sleep(100);
    assert.equal((await emulator.admin.instances(warm.id)).length, 1, 'min_instances stay');
  });

  it('keeps queue positions exact across 200 queued jobs and cancellations from the middle', async () => {
    await configure({ max_instances: 1, queue_size: 1000, timing: { durationMs: 60_000 } });
    const jobs: SubmitBody[] = [];
    for (let i = 0; i < 201; i++) jobs.push(await submit(emulator, FLUX));
    assert.equal((await cancel(jobs[50]!)).body.outcome, 'cancelled');
    assert.equal((await cancel(jobs[51]!)).body.outcome, 'cancelled');
    const positions = (await Promise.all(jobs.slice(1).map(statusOf))).map((status) => status.queue_position ?? null);
    const expected = jobs.slice(1).map((_, index) => (index + 1 === 50 || index + 1 === 51 ? null : index + 1 < 50 ? index : index - 2));
    assert.deepEqual(positions, expected);
  });

  it('cancels a queued job: 202 outcome cancelled, status and result say cancelled, the queue closes up', async () => {
    await configure({ max_instances: 1, queue_size: 10, timing: { durationMs: 5000 } });
    const jobs = [await submit(emulator, FLUX), await submit(emulator, FLUX), await submit(emulator, FLUX)];
    const response = await cancel(jobs[1]!);
    assert.equal(response.status, 202);
    assert.deepEqual(response.body, { request_id: jobs[1]!.request_id, status: 'cancelled', outcome: 'cancelled' });
    assert.equal((await statusOf(jobs[1]!)).status, 'cancelled');
    const result = (await api(jobs[1]!.result_url)).body;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.outputs, undefined);
    assert.equal((await statusOf(jobs[2]!)).queue_position, 0);
    assert.equal((await cancel(jobs[1]!)).body.outcome, 'not_cancellable', 'cancelling twice: already done');
  });

  it('cancels a running job and frees its instance for the next job', async () => {
    await configure({ max_instances: 1, queue_size: 10, timing: { durationMs: 5000 } });
    const running = await submit(emulator, FLUX);
    const next = await submit(emulator, FLUX);
    assert.equal((await statusOf(running)).status, 'in_progress');
    const response = await cancel(running);
    assert.deepEqual([response.status, response.body.outcome, response.body.status], [202, 'cancelled', 'cancelled']);
    assert.equal((await statusOf(next)).status, 'in_progress');
    assert.equal((await api(running.result_url)).body.status, 'cancelled');
  });

  it('answers not_cancellable for a finished job, which stays completed', async () => {
    await configure({ timing: { durationMs: 5 } });
    const job = await submit(emulator, FLUX);
    await waitForResult(job);
    const response = await cancel(job);
    assert.deepEqual([response.status, response.body.status, response.body.outcome], [202, 'completed', 'not_cancellable']);
    assert.equal((await api(job.result_url)).body.status, 'succeeded');
  });

  it('lets a delayed cancel lose the race against the end of the job, and spells canceled when configured', async () => {
    await emulator.admin.updateSettings({ cancelDelayMs: 300, cancelledSpelling: 'canceled' });
    await configure({ max_instances: 2, queue_size: 1, timing: { durationMs: 30 } });
    const finishesFirst = await submit(emulator, FLUX);
    assert.equal((await cancel(finishesFirst)).body.outcome, 'cancelled', 'the request is accepted');
    assert.equal((await waitForResult(finishesFirst)).status, 'succeeded', 'but the job ended before the cancel took effect');

    await configure({ timing: { durationMs: 2000 } });
    const cancelled = await submit(emulator, FLUX);
    await cancel(cancelled);
    assert.equal((await statusOf(cancelled)).status, 'in_progress', 'cancel is a request, not proof');
    assert.equal((await waitForResult(cancelled)).status, 'canceled');
    assert.equal((await statusOf(cancelled)).status, 'canceled');
  });

  it('applies jitter within bounds', async () => {
    await configure({ max_instances: 5, queue_size: 1, timing: { durationMs: 50, jitterMs: 20 } });
    const jobs = await Promise.all([1, 2, 3, 4, 5].map(() => submit(emulator, FLUX)));
    await Promise.all(jobs.map(waitForResult));
    const planned = (await emulator.admin.jobs({ deploymentId: fluxId })).map((job) => job.planned_duration_ms!);
    assert.equal(planned.length, 5);
    assert.ok(planned.every((ms) => ms >= 30 && ms <= 70), String(planned));
    assert.ok(new Set(planned).size > 1, 'durations vary');
  });

  it('expires results and files after the output TTL (404), and on demand through the admin API', async () => {
    await emulator.admin.updateSettings({ outputTtlMs: 400 });
    await configure({ timing: { durationMs: 5 } });
    const job = await submit(emulator, FLUX);
    const result = await waitForResult(job);
    const url = ((result.outputs as Record<string, { images: { url: string }[] }>)['9']!.images[0]!).url;
    assert.equal((await fetch(url, { method: 'HEAD' })).status, 200);
    await sleep(450);
    const expired = await api(job.result_url);
    assert.deepEqual([expired.status, expired.body.error_code], [404, 404001]);
    assert.equal((await fetch(url)).status, 404);
    assert.equal((await api(job.status_url)).body.status, 'completed', 'status stays readable');

    await emulator.admin.updateSettings({ outputTtlMs: 60_000 });
    const second = await submit(emulator, FLUX);
    await waitForResult(second);
    await emulator.admin.expireOutputs(second.request_id);
    assert.equal((await api(second.result_url)).status, 404);
  });

  it('ends jobs failed (status completed, result failed with an error) with a configurable error shape', async () => {
    await configure({ failureRate: 1, failureKind: 'permanent', timing: { durationMs: 5 } });
    const job = await submit(emulator, FLUX);
    const result = await waitForResult(job);
    assert.equal((await statusOf(job)).status, 'completed');
    assert.equal(result.status, 'failed');
    assert.equal(result.outputs, undefined);
    const [entry] = result.error as { errorCode: string; error: string; debugInfo: { transient: boolean } }[];
    assert.equal(typeof entry!.error, 'string');
    assert.equal(entry!.debugInfo.transient, false);

    await emulator.admin.updateSettings({ errorShape: 'object' });
    const objectError = (await waitForResult(await submit(emulator, FLUX))).error as { type: string; message: string };
    assert.equal(typeof objectError.type, 'string');
    assert.equal(typeof objectError.message, 'string');
    await configure({ failureErrorShape: 'string' });
    assert.equal(typeof (await waitForResult(await submit(emulator, FLUX))).error, 'string');
    await configure({ failureRate: 0 });
    assert.equal((await waitForResult(await submit(emulator, FLUX))).status, 'succeeded');
  });

  it('downloads URL inputs when a job starts if asked to, and fails the job when a download fails', async () => {
    const requested: string[] = [];
    const imageServer = createServer((req, res) => {
      requested.push(req.url ?? '');
      res.writeHead(req.url === '/missing.png' ? 404 : 200, { 'content-type': 'image/png' }).end('png');
    });
    await new Promise<void>((resolve) => imageServer.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(imageServer.address() as AddressInfo).port}`;
    try {
      await emulator.admin.updateSettings({ fetchInputUrls: true });
      const faceSwap = 'fofr_reactor_faceswap';
      const ok = await submit(emulator, faceSwap, { overrides: { '1': { inputs: { image: `${base}/face.png` } } } });
      assert.equal((await waitForResult(ok)).status, 'succeeded');
      const missing = await submit(emulator, faceSwap, { overrides: { '3': { inputs: { image: `${base}/missing.png` } } } });
      const result = await waitForResult(missing);
      assert.equal(result.status, 'failed');
      assert.match(JSON.stringify(result.error), /missing\.png: HTTP 404/);
      assert.deepEqual(requested, ['/face.png', '/missing.png'], 'only override URLs are fetched, never the stored defaults');
    } finally {
      imageServer.closeAllConnections();
      await new Promise((resolve) => imageServer.close(resolve));
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { api, startTestEmulator, submit, waitForResult, type SubmitBody } from './helpers.js';

const FLUX = 'fofr_flux_dev_fp8_t2i';
const HUNYUAN = 'fofr_hunyuan_i2v';

async function rawCall(url: string, method = 'GET', body?: unknown): Promise<Response> {
  return fetch(url, { method, headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

describe('fault injection', () => {
  let emulator: RunningEmulator;
  let fluxId: string;
  let submitUrl: string;
  before(async () => {
    emulator = await startTestEmulator({ timing: { durationMs: 5, jitterMs: 0, coldStartMs: 0 } });
    fluxId = emulator.deploymentId(FLUX);
    submitUrl = `${emulator.url}/prod/v1/deployments/${fluxId}/inference`;
  });
  after(() => emulator.close());
  beforeEach(() => emulator.admin.reset());

  it('answers 429 with Retry-After for the next N matching requests only', async () => {
    await emulator.admin.addFault({ kind: 'rate_limit', operations: ['submit'], count: 2, retryAfterSeconds: 3 });
    for (let i = 0; i < 2; i++) {
      const response = await rawCall(submitUrl, 'POST', {});
      assert.equal(response.status, 429);
      assert.equal(response.headers.get('retry-after'), '3');
      assert.equal(((await response.json()) as { error_code: number }).error_code, 429001);
    }
    assert.equal((await rawCall(submitUrl, 'POST', {})).status, 200);
    const counters = (await emulator.admin.counters(fluxId)).deployments[fluxId]!;
    assert.deepEqual([counters.submits, counters.acceptedJobs, counters.rejectedSubmits, counters.faultsInjected], [3, 1, 2, 2]);
    assert.deepEqual(await emulator.admin.faults(), [], 'used-up rules disappear');
  });

  it('answers 500 with a JSON error body and 502/503 with a gateway HTML page', async () => {
    const job = await submit(emulator, FLUX);
    await emulator.admin.addFault({ kind: 'server_error', operations: ['status'], statusCode: 500 });
    const internal = await rawCall(job.status_url);
    assert.equal(internal.status, 500);
    assert.equal(((await internal.json()) as { error_code: number }).error_code, 500001);
    for (const statusCode of [502, 503]) {
      await emulator.admin.addFault({ kind: 'server_error', operations: ['status'], statusCode, retryAfterSeconds: 1 });
      const gateway = await rawCall(job.status_url);
      assert.equal(gateway.status, statusCode);
      assert.equal(gateway.headers.get('content-type'), 'text/html');
      assert.match(await gateway.text(), new RegExp(String(statusCode)));
    }
    assert.equal((await rawCall(job.status_url)).status, 200);
  });

  it('answers HTTP 200 with a top-level error_code, and any status with a RunComfy error body', async () => {
    await emulator.admin.addFault({ kind: 'error_in_200', operations: ['submit'] });
    const okButError = await rawCall(submitUrl, 'POST', {});
    assert.equal(okButError.status, 200);
    const body = (await okButError.json()) as Record<string, unknown>;
    assert.equal(body.error_code, 500001);
    assert.equal(body.request_id, undefined);
    await emulator.admin.addFault({ kind: 'error_response', operations: ['submit'], statusCode: 403, errorCode: 10001, message: 'Insufficient funds' });
    const funds = await rawCall(submitUrl, 'POST', {});
    assert.equal(funds.status, 403);
    assert.deepEqual(await funds.json(), { error_code: 10001, message: 'Insufficient funds' });
    assert.equal((await emulator.admin.jobs()).length, 0, 'no job was created');
  });

  it('delays responses, then answers normally', async () => {
    const job = await submit(emulator, FLUX);
    await emulator.admin.addFault({ kind: 'delay', operations: ['status'], delayMs: 150 });
    const startedAt = Date.now();
    const response = await rawCall(job.status_url);
    assert.equal(response.status, 200);
    assert.ok(Date.now() - startedAt >= 140);
  });

  it('hangs without answering until the client gives up, and close() is not held up by it', async () => {
    const hanging = await startTestEmulator();
    await hanging.admin.addFault({ kind: 'hang', count: null });
    const url = `${hanging.url}/prod/v1/deployments/${hanging.deploymentId(FLUX)}/inference`;
    await assert.rejects(fetch(url, { method: 'POST', body: '{}', headers: { authorization: 'Bearer test-token' }, signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' });
    const stillHanging = fetch(url, { method: 'POST', body: '{}', headers: { authorization: 'Bearer test-token' } });
    const closedAt = Date.now();
    await hanging.close();
    assert.ok(Date.now() - closedAt < 1000, 'close() does not wait for hanging requests');
    await assert.rejects(stillHanging);
  });

  it('sends malformed JSON with status 200', async () => {
    const job = await submit(emulator, FLUX);
    await emulator.admin.addFault({ kind: 'malformed_json', operations: ['result'] });
    const response = await rawCall(job.result_url);
    assert.equal(response.status, 200);
    await assert.rejects(response.json(), SyntaxError);
  });

  it('drops the connection without creating a job', async () => {
    await emulator.admin.addFault({ kind: 'drop_connection', operations: ['submit'] });
    await assert.rejects(rawCall(submitUrl, 'POST', {}), TypeError);
    assert.equal((await emulator.admin.jobs()).length, 0);
    assert.equal((await rawCall(submitUrl, 'POST', {})).status, 200);
  });

  it('accepts a submit and then loses the response: the job exists and runs although the caller saw an error', async () => {
    await emulator.admin.addFault({ kind: 'lost_response' });
    await assert.rejects(rawCall(submitUrl, 'POST', { overrides: { '6': { inputs: { text: 'lost' } } } }), TypeError);
    const jobs = await emulator.admin.jobs({ deploymentId: fluxId });
    assert.equal(jobs.length, 1);
    assert.deepEqual(jobs[0]!.overrides, { '6': { inputs: { text: 'lost' } } });
    const counters = (await emulator.admin.counters(fluxId)).deployments[fluxId]!;
    assert.deepEqual([counters.submits, counters.acceptedJobs], [1, 1]);
    const retried = (await api<SubmitBody>(submitUrl, { method: 'POST', body: {} })).body;
    await waitForResult(retried);
    assert.equal((await emulator.admin.jobs({ deploymentId: fluxId })).length, 2, 'a blind retry started a second paid job');
  });

  it('fails the next N jobs (transient or permanent) while the submits succeed', async () => {
    await emulator.admin.addFault({ kind: 'job_failure', deploymentId: fluxId, count: 2, failure: { kind: 'transient', errorShape: 'object', message: 'GPU lost' } });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await waitForResult(await submit(emulator, FLUX)));
    assert.deepEqual(results.map((result) => result.status), ['failed', 'failed', 'succeeded']);
    assert.deepEqual(results[0]!.error, { type: 'OutOfMemoryError', message: 'GPU lost' });
    await emulator.admin.addFault({ kind: 'job_failure', failure: { kind: 'permanent' } });
    const permanent = await waitForResult(await submit(emulator, FLUX));
    assert.equal((permanent.error as { debugInfo: { transient: boolean } }[])[0]!.debugInfo.transient, false);
  });

  it('scopes faults to one deployment and one operation', async () => {
    const flux = await submit(emulator, FLUX);
    const hunyuan = await submit(emulator, HUNYUAN);
    await emulator.admin.addFault({ kind: 'server_error', deploymentId: emulator.deploymentId(HUNYUAN), operations: ['status'], count: null });
    assert.equal((await rawCall(flux.status_url)).status, 200);
    assert.equal((await rawCall(hunyuan.result_url)).status, 200);
    assert.equal((await rawCall(hunyuan.status_url)).status, 500);
    assert.equal((await rawCall(hunyuan.status_url)).status, 500, 'count null: until removed');
    const [rule] = await emulator.admin.faults();
    await emulator.admin.removeFault(rule!.id);
    assert.equal((await rawCall(hunyuan.status_url)).status, 200);
  });

  it('truncates a download: Content-Length announces the whole file, the connection closes early', async () => {
    const result = await waitForResult(await submit(emulator, FLUX));
    const url = (result.outputs as Record<string, { images: { url: string }[] }>)['9']!.images[0]!.url;
    const full = await fetch(url);
    const fullBytes = Buffer.from(await full.arrayBuffer());
    await emulator.admin.addFault({ kind: 'truncated_download', truncateAfterBytes: 100 });
    const truncated = await fetch(url);
    assert.equal(truncated.status, 200);
    assert.equal(Number(truncated.headers.get('content-length')), fullBytes.length);
    await assert.rejects(truncated.arrayBuffer());
    assert.equal((await fetch(url)).status, 200, 'the next download is whole');
    const counters = (await emulator.admin.counters(fluxId)).deployments[fluxId]!;
    assert.equal(counters.downloads, 3);
  });

  it('applies download faults such as 503 to output files too', async () => {
    const result = await waitForResult(await submit(emulator, FLUX));
    const url = (result.outputs as Record<string, { images: { url: string }[] }>)['9']!.images[0]!.url;
    await emulator.admin.addFault({ kind: 'server_error', operations: ['download'], statusCode: 503 });
    assert.equal((await fetch(url)).status, 503);
    assert.equal((await fetch(url)).status, 200);
  });

  it('rejects malformed fault rules with 422', async () => {
    await assert.rejects(emulator.admin.addFault({ kind: 'explode' as never }), { status: 422 });
    await assert.rejects(emulator.admin.addFault({ kind: 'server_error', statusCode: 404 }), { status: 422 });
  });
});

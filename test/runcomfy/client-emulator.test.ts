/**
 * The RunComfy client against the local emulator over real HTTP: every endpoint, and every error
 * class the emulator can produce (its fault injection supplies 429, 5xx, 200-with-error_code,
 * hanging, malformed and dropped responses).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { request, type Dispatcher } from 'undici';
import { emulatorDeploymentId } from '../../src/emulator/deployment-id.js';
import { startEmulator } from '../../src/emulator/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import {
  DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS,
  ERROR_CODES,
  RunComfyAbortedError,
  RunComfyApiError,
  RunComfyClient,
  RunComfyConnectionError,
  RunComfyDeploymentDeletedError,
  RunComfyDeploymentDisabledError,
  RunComfyForbiddenError,
  RunComfyInsufficientFundsError,
  RunComfyNotFoundError,
  RunComfyProtocolError,
  RunComfyRateLimitedError,
  RunComfyServerError,
  RunComfyTimeoutError,
  RunComfyUnauthorizedError,
  RunComfyValidationError,
  createRunComfyDispatcher,
  extractOutputFiles,
  isRunComfyError,
} from '../../src/runcomfy/index.js';
import type { JobStatus, RunComfyError } from '../../src/runcomfy/index.js';

const TOKEN = 'emu_SECRET_token_9f8e7d6c5b4a';
const WORKFLOWS_DIR = fileURLToPath(new URL('../fixtures/comfy/', import.meta.url));
const FLUX = emulatorDeploymentId('fofr_flux_dev_fp8_t2i');
const VHS = emulatorDeploymentId('discomfy_wan21_vace_i2v_vhs');
const HUNYUAN = emulatorDeploymentId('fofr_hunyuan_i2v');

let emulator: RunningEmulator;
let dispatcher: Dispatcher;
let rc: RunComfyClient;
/** Every error a test provoked, checked for the token at the end. */
const provokedErrors: RunComfyError[] = [];

async function rejection(promise: Promise<unknown>): Promise<RunComfyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isRunComfyError(error), `expected a RunComfyError, got ${inspect(error)}`);
    provokedErrors.push(error);
    return error;
  }
  assert.fail('expected the call to fail');
}

async function waitForTerminal(deploymentId: string, requestId: string, timeoutMs = 5000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await rc.getStatus(deploymentId, requestId);
    if (status.isTerminal) return status;
    if (Date.now() > deadline) throw new Error(`job ${requestId} still ${status.rawStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function submitCounted(deploymentId: string): Promise<number> {
  return (await emulator.admin.counters(deploymentId)).deployments[deploymentId]?.submits ?? 0;
}

before(async () => {
  emulator = await startEmulator({ token: TOKEN, workflowsDir: WORKFLOWS_DIR, port: 0, timing: { durationMs: 30, coldStartMs: 0 }, allowHttpWebhooks: true, randomSeed: 7 });
  dispatcher = createRunComfyDispatcher({ connectTimeoutMs: 1000 });
  rc = new RunComfyClient({ baseUrl: emulator.url, token: TOKEN, dispatcher, timeouts: { headersMs: 1000, bodyMs: 1000 } });
});

after(async () => {
  await rc.close();
  await emulator.close();
  await dispatcher.close();
});

beforeEach(async () => {
  await emulator.admin.reset();
});

describe('inference endpoints', () => {
  it('seeds deployments under the ids emulatorDeploymentId gives', () => {
    assert.equal(emulator.deploymentId('fofr_flux_dev_fp8_t2i'), FLUX);
    assert.equal(emulator.deploymentId('discomfy_wan21_vace_i2v_vhs'), VHS);
  });

  it('submit → status → result with overrides; the id-built URLs equal the absolute URLs of submit', async () => {
    const job = await rc.submit(FLUX, { overrides: { '6': { inputs: { text: 'a lighthouse at dusk' } }, '31': { inputs: { seed: 123 } } } });
    assert.deepEqual({ statusUrl: job.statusUrl, resultUrl: job.resultUrl, cancelUrl: job.cancelUrl }, rc.requestUrls(FLUX, job.requestId));
    assert.deepEqual((await emulator.admin.job(job.requestId)).overrides, { '6': { inputs: { text: 'a lighthouse at dusk' } }, '31': { inputs: { seed: 123 } } });

    const status = await waitForTerminal(FLUX, job.requestId);
    assert.equal(status.status, 'completed');
    const result = await rc.getResult(FLUX, job.requestId);
    assert.equal(result.status, 'succeeded');
    assert.equal(result.isTerminal, true);
    const files = extractOutputFiles(result.outputs);
    assert.deepEqual(
      files.map((file) => [file.nodeId, file.channel, file.kind, file.contentType]),
      [['9', 'images', 'image', 'image/png']],
    );
    assert.ok(files[0]?.url.startsWith(`${emulator.url}/files/`));
    assert.equal(await submitCounted(FLUX), 1, 'one call, one request: no hidden retries');
  });

  it('reads video outputs: VHS gifs and SaveAnimatedWEBP', async () => {
    const vhsJob = await rc.submit(VHS);
    const hunyuanJob = await rc.submit(HUNYUAN);
    await waitForTerminal(VHS, vhsJob.requestId);
    await waitForTerminal(HUNYUAN, hunyuanJob.requestId);
    const [vhsFile] = extractOutputFiles((await rc.getResult(VHS, vhsJob.requestId)).outputs);
    assert.equal(vhsFile?.channel, 'gifs');
    assert.equal(vhsFile?.kind, 'video');
    assert.match(vhsFile?.format ?? '', /^video\//);
    const [webpFile] = extractOutputFiles((await rc.getResult(HUNYUAN, hunyuanJob.requestId)).outputs);
    assert.equal(webpFile?.nodeId, '75');
    assert.equal(webpFile?.kind, 'video');
    assert.equal(webpFile?.animated, true);
  });

  it('sends the webhook as query parameters or in the legacy body form, and runs a dynamic workflow', async () => {
    const viaQuery = await rc.submit(FLUX, { webhook: { url: 'http://127.0.0.1:9/hook?sig=abc', intermediateStatus: true } });
    assert.deepEqual((await emulator.admin.job(viaQuery.requestId)).webhook, { url: 'http://127.0.0.1:9/hook?sig=abc', intermediate: true });
    const viaBody = await rc.submit(FLUX, { webhook: { url: 'http://127.0.0.1:9/hook2', intermediateStatus: false, placement: 'body' } });
    assert.deepEqual((await emulator.admin.job(viaBody.requestId)).webhook, { url: 'http://127.0.0.1:9/hook2', intermediate: false });

    const graph = (await rc.getDeployment(FLUX, { includes: ['payload'] })).payload?.workflowApiJson;
    assert.ok(graph);
    const dynamic = await rc.submit(FLUX, { workflowApiJson: graph, extraData: { api_key_comfy_org: 'comfy-org-key' } });
    assert.equal((await emulator.admin.job(dynamic.requestId)).dynamic_workflow, true);
  });

  it('speaks the v2 inference prefix too', async () => {
    const v2 = new RunComfyClient({ baseUrl: emulator.url, token: TOKEN, dispatcher, inferenceApiVersion: 'v2' });
    const job = await v2.submit(FLUX);
    assert.ok(job.statusUrl.includes('/prod/v2/'));
    assert.deepEqual({ statusUrl: job.statusUrl, resultUrl: job.resultUrl, cancelUrl: job.cancelUrl }, v2.requestUrls(FLUX, job.requestId));
    assert.equal((await v2.getStatus(FLUX, job.requestId)).requestId, job.requestId);
    await v2.close(); // leaves the shared dispatcher open
    assert.equal((await rc.getStatus(FLUX, job.requestId)).requestId, job.requestId);
  });

  it('cancels a running job (either spelling), then reports not_cancellable', async () => {
    await emulator.admin.updateDeploymentConfig(FLUX, { timing: { durationMs: 10_000 } });
    await emulator.admin.updateSettings({ cancelledSpelling: 'canceled' });
    const job = await rc.submit(FLUX);
    const cancelled = await rc.cancel(FLUX, job.requestId);
    assert.equal(cancelled.outcome, 'cancelled');
    assert.equal(cancelled.httpStatus, 202);
    const status = await waitForTerminal(FLUX, job.requestId);
    assert.equal(status.rawStatus, 'canceled');
    assert.equal(status.status, 'cancelled');
    assert.equal((await rc.cancel(FLUX, job.requestId)).outcome, 'not_cancellable');
    const result = await rc.getResult(FLUX, job.requestId);
    assert.equal(result.status, 'cancelled');
  });

  it('returns a failed job as a result with a normalised failure, whatever the error shape', async () => {
    for (const errorShape of ['array', 'object', 'string'] as const) {
      await emulator.admin.addFault({ kind: 'job_failure', deploymentId: FLUX, failure: { kind: 'permanent', errorShape, message: `boom as ${errorShape}` } });
      const job = await rc.submit(FLUX);
      assert.equal((await waitForTerminal(FLUX, job.requestId)).status, 'completed');
      const result = await rc.getResult(FLUX, job.requestId);
      assert.equal(result.status, 'failed', errorShape);
      assert.ok(result.failure, errorShape);
      assert.match(result.failure.message, /boom as/, errorShape);
      assert.deepEqual(extractOutputFiles(result.outputs), []);
    }
  });
});

describe('deployment endpoints', () => {
  it('lists (bare array), filters by ids and includes payload and readme', async () => {
    const all = await rc.listDeployments();
    assert.ok(all.some((deployment) => deployment.id === FLUX && deployment.name === 'fofr_flux_dev_fp8_t2i'));
    assert.equal(all[0]?.payload, undefined);
    const filtered = await rc.listDeployments({ ids: [FLUX, VHS], includes: ['payload', 'readme'] });
    assert.deepEqual(filtered.map((deployment) => deployment.id).sort(), [FLUX, VHS].sort());
    const flux = filtered.find((deployment) => deployment.id === FLUX);
    assert.equal((flux?.payload?.workflowApiJson?.['6'] as { class_type?: string } | undefined)?.class_type, 'CLIPTextEncode');
    assert.equal(typeof flux?.readme, 'string');
  });

  it('creates, gets, updates (disable → submit refused), deletes (→ deleted)', async () => {
    const created = await rc.createDeployment({
      name: 'client-test',
      workflowId: 'fofr_flux_dev_fp8_t2i',
      workflowVersion: 'v1',
      hardware: 'AMPERE_48',
      minInstances: 0,
      maxInstances: 1,
      queueSize: 1,
      keepWarmDurationSeconds: 60,
    });
    assert.equal(created.name, 'client-test');
    assert.deepEqual(created.hardware, ['AMPERE_48']);
    assert.equal(created.isEnabled, true);

    const fetched = await rc.getDeployment(created.id);
    assert.equal(fetched.queueSize, 1);
    assert.equal(fetched.keepWarmDurationSeconds, 60);

    const updated = await rc.updateDeployment(created.id, { name: 'client-test-2', maxInstances: 2, isEnabled: false });
    assert.equal(updated.name, 'client-test-2');
    assert.equal(updated.maxInstances, 2);
    assert.equal(updated.isEnabled, false);
    const disabled = await rejection(rc.submit(created.id));
    assert.ok(disabled instanceof RunComfyDeploymentDisabledError);
    assert.equal(disabled.errorCode, '10002');
    assert.equal(disabled.retryable, false);
    assert.equal(disabled.jobMayHaveBeenAccepted, false);

    await rc.deleteDeployment(created.id);
    const deleted = await rejection(rc.getDeployment(created.id));
    assert.ok(deleted instanceof RunComfyDeploymentDeletedError);
    assert.equal(deleted.errorCode, '10003');
    assert.equal(deleted.operation, 'deployments.get');
    const submitToDeleted = await rejection(rc.submit(created.id));
    assert.ok(submitToDeleted instanceof RunComfyDeploymentDeletedError);
  });

  it('maps a rejected create to a validation error with detail', async () => {
    const error = await rejection(
      rc.createDeployment({ name: 'x', workflowId: 'no-such-workflow', workflowVersion: 'v1', hardware: 'AMPERE_48', minInstances: 0, maxInstances: 1, queueSize: 1, keepWarmDurationSeconds: 0 }),
    );
    assert.ok(error instanceof RunComfyValidationError);
    assert.equal(error.operation, 'deployments.create');
    assert.ok(error.detail.some((issue) => issue.location?.includes('workflow_id')));
  });
});

describe('error classes from the emulator', () => {
  it('401 unauthorized for a wrong token, without leaking either token', async () => {
    const wrongToken = 'wrong_SECRET_token_000111';
    const intruder = new RunComfyClient({ baseUrl: emulator.url, token: wrongToken, dispatcher });
    const error = await rejection(intruder.listDeployments());
    assert.ok(error instanceof RunComfyUnauthorizedError);
    assert.equal(error.httpStatus, 401);
    assert.equal(error.errorCode, '401001');
    assert.equal(error.retryable, false);
    for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 }), JSON.stringify(intruder), inspect(intruder, { depth: 10, showHidden: true })]) {
      assert.ok(!rendering.includes(wrongToken));
    }
  });

  it('403 forbidden', async () => {
    await emulator.admin.addFault({ kind: 'error_response', operations: ['status'], statusCode: 403, errorCode: 403003, message: 'Forbidden' });
    const error = await rejection(rc.getStatus(FLUX, 'any-request'));
    assert.ok(error instanceof RunComfyForbiddenError);
    assert.equal(error.errorCode, '403003');
  });

  it('404 not found: unknown request, unknown deployment, expired result', async () => {
    const unknownRequest = await rejection(rc.getStatus(FLUX, 'no-such-request'));
    assert.ok(unknownRequest instanceof RunComfyNotFoundError);
    assert.equal(unknownRequest.requestId, 'no-such-request');
    assert.equal(unknownRequest.errorCode, '404001');
    const unknownDeployment = await rejection(rc.getDeployment('00000000-0000-4000-a000-000000000000'));
    assert.ok(unknownDeployment instanceof RunComfyNotFoundError);

    const job = await rc.submit(FLUX);
    await waitForTerminal(FLUX, job.requestId);
    await emulator.admin.expireOutputs(job.requestId);
    const expired = await rejection(rc.getResult(FLUX, job.requestId));
    assert.ok(expired instanceof RunComfyNotFoundError);
    assert.equal(expired.operation, 'result');
  });

  it('422 validation with parsed detail for an unknown node id and input key', async () => {
    const error = await rejection(rc.submit(FLUX, { overrides: { '999': { inputs: { text: 'x' } }, '6': { inputs: { no_such_input: 1 } } } }));
    assert.ok(error instanceof RunComfyValidationError);
    assert.equal(error.httpStatus, 422);
    assert.equal(error.errorCode, '422001');
    assert.equal(error.jobMayHaveBeenAccepted, false);
    assert.ok(error.detail.length >= 2, inspect(error.detail));
    assert.ok(error.detail.some((issue) => issue.location?.includes('999')));
    assert.ok(error.detail.every((issue) => issue.message.length > 0));
  });

  it('429 rate limited with Retry-After, not ambiguous', async () => {
    await emulator.admin.addFault({ kind: 'rate_limit', operations: ['submit'], retryAfterSeconds: 2 });
    const error = await rejection(rc.submit(FLUX));
    assert.ok(error instanceof RunComfyRateLimitedError);
    assert.equal(error.retryAfterMs, 2000);
    assert.equal(error.retryable, true);
    assert.equal(error.jobMayHaveBeenAccepted, false);
    assert.equal((await emulator.admin.jobs({ deploymentId: FLUX })).length, 0);
  });

  it('5xx: a JSON 500 and a 502 gateway page on submit are ambiguous; a 503 is a refusal', async () => {
    await emulator.admin.addFault({ kind: 'server_error', operations: ['submit'], statusCode: 500 });
    const json500 = await rejection(rc.submit(FLUX));
    assert.ok(json500 instanceof RunComfyServerError);
    assert.equal(json500.errorCode, '500001');
    assert.deepEqual([json500.retryable, json500.jobMayHaveBeenAccepted], [false, true]);

    await emulator.admin.addFault({ kind: 'server_error', operations: ['submit'], statusCode: 502 });
    const gateway = await rejection(rc.submit(FLUX));
    assert.ok(gateway instanceof RunComfyServerError);
    assert.deepEqual([gateway.retryable, gateway.jobMayHaveBeenAccepted], [false, true]);

    await emulator.admin.addFault({ kind: 'server_error', operations: ['submit'], statusCode: 503, retryAfterSeconds: 1 });
    const unavailable = await rejection(rc.submit(FLUX));
    assert.deepEqual([unavailable.retryable, unavailable.jobMayHaveBeenAccepted, unavailable.retryAfterMs], [true, false, 1000]);

    await emulator.admin.addFault({ kind: 'server_error', operations: ['status'], statusCode: 502 });
    assert.equal((await rejection(rc.getStatus(FLUX, 'r'))).retryable, true, 'reads are always safe to retry');
    assert.equal(await submitCounted(FLUX), 3, 'each failed submit was sent exactly once');
  });

  it('insufficient funds (10001) as an error status and as HTTP 200 with error_code', async () => {
    await emulator.admin.addFault({ kind: 'error_response', operations: ['submit'], statusCode: 403, errorCode: 10001, message: 'Insufficient funds' });
    const asError = await rejection(rc.submit(FLUX));
    assert.ok(asError instanceof RunComfyInsufficientFundsError);
    assert.equal(asError.inSuccessResponse, false);

    await emulator.admin.addFault({ kind: 'error_in_200', operations: ['submit'], errorCode: 10001, message: 'Insufficient funds' });
    const in200 = await rejection(rc.submit(FLUX));
    assert.ok(in200 instanceof RunComfyInsufficientFundsError);
    assert.equal(in200.inSuccessResponse, true);
    assert.equal(in200.httpStatus, 200);
    assert.equal(in200.jobMayHaveBeenAccepted, false);
  });

  it('HTTP 200 with error_code maps each code to its class', async () => {
    const cases: Array<[number, new (...args: never[]) => RunComfyError]> = [
      [10002, RunComfyDeploymentDisabledError],
      [10003, RunComfyDeploymentDeletedError],
      [500001, RunComfyServerError],
      [404001, RunComfyNotFoundError],
    ];
    for (const [errorCode, errorClass] of cases) {
      await emulator.admin.addFault({ kind: 'error_in_200', operations: ['status'], errorCode });
      const error = await rejection(rc.getStatus(FLUX, 'r'));
      assert.ok(error instanceof errorClass, String(errorCode));
      assert.equal(error.inSuccessResponse, true);
      assert.equal(error.errorCode, String(errorCode));
    }
  });

  it('an unmapped status is a generic API error', async () => {
    await emulator.admin.addFault({ kind: 'error_response', operations: ['deployments'], statusCode: 409, errorCode: 409001, message: 'Conflict' });
    const error = await rejection(rc.listDeployments());
    assert.ok(error instanceof RunComfyApiError);
    assert.equal(error.code, ERROR_CODES.apiError);
    assert.equal(error.httpStatus, 409);
  });

  it('malformed JSON: a protocol error, ambiguous on submit', async () => {
    await emulator.admin.addFault({ kind: 'malformed_json', operations: ['status'] });
    const onStatus = await rejection(rc.getStatus(FLUX, 'r'));
    assert.ok(onStatus instanceof RunComfyProtocolError);
    assert.equal(onStatus.retryable, true);
    await emulator.admin.addFault({ kind: 'malformed_json', operations: ['submit'] });
    const onSubmit = await rejection(rc.submit(FLUX));
    assert.ok(onSubmit instanceof RunComfyProtocolError);
    assert.deepEqual([onSubmit.retryable, onSubmit.jobMayHaveBeenAccepted], [false, true]);
  });

  it('dropped connection and lost submit response: connection errors after sending', async () => {
    await emulator.admin.addFault({ kind: 'drop_connection', operations: ['status'] });
    const dropped = await rejection(rc.getStatus(FLUX, 'r'));
    assert.ok(dropped instanceof RunComfyConnectionError);
    assert.equal(dropped.phase, 'after-send');
    assert.equal(dropped.retryable, true);

    await emulator.admin.addFault({ kind: 'lost_response', deploymentId: FLUX });
    const lost = await rejection(rc.submit(FLUX));
    assert.ok(lost instanceof RunComfyConnectionError);
    assert.deepEqual([lost.retryable, lost.jobMayHaveBeenAccepted], [false, true]);
    const jobs = await emulator.admin.jobs({ deploymentId: FLUX });
    assert.equal(jobs.length, 1, 'the job the client could not confirm does exist');
  });

  it('connection refused before sending is not ambiguous', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const nowhere = new RunComfyClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN, dispatcher });
    const error = await rejection(nowhere.submit(FLUX));
    assert.ok(error instanceof RunComfyConnectionError);
    assert.deepEqual([error.phase, error.retryable, error.jobMayHaveBeenAccepted], ['before-send', true, false]);
  });

  it('a hanging submit times out waiting for headers and is ambiguous; a short delay is fine', async () => {
    await emulator.admin.addFault({ kind: 'delay', operations: ['status'], delayMs: 50 });
    const job = await rc.submit(FLUX);
    assert.equal((await rc.getStatus(FLUX, job.requestId)).requestId, job.requestId);

    await emulator.admin.addFault({ kind: 'hang', operations: ['submit'] });
    const error = await rejection(rc.submit(FLUX));
    assert.ok(error instanceof RunComfyTimeoutError);
    assert.equal(error.phase, 'headers');
    assert.deepEqual([error.retryable, error.jobMayHaveBeenAccepted], [false, true]);
  });

  it('aborting a call that gets no answer throws RunComfyAbortedError promptly', async () => {
    // `hang` rather than a long `delay`: a delayed request would still be processed after the test ended.
    await emulator.admin.addFault({ kind: 'hang', operations: ['status', 'submit'], count: 2 });
    const startedMs = Date.now();
    const onStatus = await rejection(rc.getStatus(FLUX, 'r', { signal: AbortSignal.timeout(50) }));
    assert.ok(onStatus instanceof RunComfyAbortedError);
    assert.equal(onStatus.retryable, true);
    const onSubmit = await rejection(rc.submit(FLUX, {}, { signal: AbortSignal.timeout(50) }));
    assert.ok(onSubmit instanceof RunComfyAbortedError);
    assert.equal(onSubmit.jobMayHaveBeenAccepted, true, 'the submit had been sent');
    assert.ok(Date.now() - startedMs < 2000);
  });

  it('no provoked error carries the token', () => {
    assert.ok(provokedErrors.length >= 20);
    for (const error of provokedErrors) {
      for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10, showHidden: true }), String(error.stack)]) {
        assert.ok(!rendering.includes(TOKEN), `token leaked from ${error.name}`);
      }
    }
  });
});

describe('idle connections', () => {
  it('the emulator, like a load balancer, keeps an idle connection longer than the client pool trusts one', async () => {
    // the client drops idle sockets after at most DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS.keepAliveMaxTimeoutMs,
    // so the server closing an idle socket first (the keep-alive race) needs a timer late by half a minute
    const response = await request(`${emulator.url}/`, { dispatcher });
    await response.body.text();
    const announced = /timeout=(\d+)/.exec(String(response.headers['keep-alive']))?.[1];
    assert.ok(announced !== undefined, 'the emulator announces its keep-alive time');
    assert.ok(Number(announced) * 1000 >= 2 * DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS.keepAliveMaxTimeoutMs, `announced ${announced} s`);
  });
});

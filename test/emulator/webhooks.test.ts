import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { api, startTestEmulator, startWebhookReceiver, submit, waitFor, waitForResult, type WebhookReceiver } from './helpers.js';

const FLUX = 'fofr_flux_dev_fp8_t2i';

describe('webhooks', () => {
  let emulator: RunningEmulator;
  let receiver: WebhookReceiver;
  const hookQuery = (intermediate: boolean) => `?webhook=${encodeURIComponent(receiver.url)}${intermediate ? '&webhook_intermediate_status=true' : ''}`;
  const statusesOf = (requestId: string) => receiver.events.filter((event) => event.body.request_id === requestId).map((event) => event.body.status);

  before(async () => {
    emulator = await startTestEmulator({ timing: { durationMs: 20, jitterMs: 0, coldStartMs: 0 } });
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await emulator.close();
    await receiver.close();
  });
  beforeEach(async () => {
    await emulator.admin.reset();
    receiver.events.length = 0;
    receiver.plannedStatuses.length = 0;
  });

  it('posts in_queue, in_progress and the final event (query form, intermediate on) with outputs', async () => {
    const job = await submit(emulator, FLUX, {}, hookQuery(true));
    await waitFor(() => (statusesOf(job.request_id).includes('succeeded') ? true : undefined));
    await waitFor(() => (statusesOf(job.request_id).length === 3 ? true : undefined));
    assert.deepEqual(statusesOf(job.request_id), ['in_queue', 'in_progress', 'succeeded']);
    const final = receiver.events.at(-1)!.body;
    assert.equal(final.deployment_id, emulator.deploymentId(FLUX));
    assert.equal(final.outcome, 'succeeded');
    assert.equal(typeof final.finished_at, 'string');
    const result = (await api(job.result_url)).body;
    assert.deepEqual(final.outputs, result.outputs);
  });

  it('posts only the final event by default, also for the legacy body form', async () => {
    const job = await submit(emulator, FLUX, { webhook: receiver.url });
    await waitForResult(job);
    await waitFor(() => (statusesOf(job.request_id).length === 1 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(statusesOf(job.request_id), ['succeeded']);
    const legacyIntermediate = await submit(emulator, FLUX, { webhook: receiver.url, webhook_intermediate_status: true });
    await waitFor(() => (statusesOf(legacyIntermediate.request_id).length === 3 ? true : undefined));
  });

  it('retries failed deliveries with backoff until a 2xx', async () => {
    receiver.plannedStatuses.push(500, 503);
    const job = await submit(emulator, FLUX, {}, hookQuery(false));
    await waitFor(() => (receiver.events.length === 3 ? true : undefined));
    const [record] = await emulator.admin.webhookDeliveries(job.request_id);
    assert.deepEqual(record!.attempts.map((attempt) => attempt.status_code), [500, 503, 200]);
    assert.equal(record!.delivered, true);
    const gaps = record!.attempts.slice(1).map((attempt, index) => attempt.at_ms - record!.attempts[index]!.at_ms);
    assert.ok(gaps[0]! >= 9 && gaps[1]! >= 19, `exponential backoff: ${gaps}`);
    const counters = (await emulator.admin.counters()).total;
    assert.deepEqual([counters.webhookAttempts, counters.webhookDeliveries, counters.webhookFailures], [3, 1, 2]);
  });

  it('gives up after maxAttempts', async () => {
    receiver.plannedStatuses.push(500, 500, 500, 500, 500);
    const job = await submit(emulator, FLUX, {}, hookQuery(false));
    const record = await waitFor(async () => (await emulator.admin.webhookDeliveries(job.request_id)).find((candidate) => candidate.gave_up));
    assert.equal(record.attempts.length, 4);
    assert.equal(record.delivered, false);
  });

  it('sends duplicates and reorders intermediate events after the final one when configured', async () => {
    await emulator.admin.updateSettings({ webhook: { duplicates: 1, reorder: true } });
    const job = await submit(emulator, FLUX, {}, hookQuery(true));
    await waitFor(() => (statusesOf(job.request_id).length === 6 ? true : undefined));
    const statuses = statusesOf(job.request_id);
    assert.equal(statuses[0], 'succeeded', 'final event first');
    assert.deepEqual([...statuses].sort(), ['in_progress', 'in_progress', 'in_queue', 'in_queue', 'succeeded', 'succeeded']);
    const records = await emulator.admin.webhookDeliveries(job.request_id);
    assert.equal(records.filter((record) => record.copy === 1).length, 3);
  });

  it('carries outputs under "output" when configured, the error of failed jobs and cancelled finals', async () => {
    await emulator.admin.updateSettings({ webhookOutputsField: 'output' });
    const succeeded = await submit(emulator, FLUX, {}, hookQuery(false));
    await waitFor(() => (statusesOf(succeeded.request_id).length === 1 ? true : undefined));
    const body = receiver.events.find((event) => event.body.request_id === succeeded.request_id)!.body;
    assert.ok('output' in body && !('outputs' in body));

    await emulator.admin.updateDeploymentConfig(emulator.deploymentId(FLUX), { failureRate: 1 });
    const failed = await submit(emulator, FLUX, {}, hookQuery(false));
    await waitFor(() => (statusesOf(failed.request_id).includes('failed') ? true : undefined));
    assert.ok(Array.isArray(receiver.events.find((event) => event.body.request_id === failed.request_id)!.body.error));

    await emulator.admin.updateDeploymentConfig(emulator.deploymentId(FLUX), { failureRate: 0, timing: { durationMs: 5000 } });
    const cancelled = await submit(emulator, FLUX, {}, hookQuery(false));
    await api(cancelled.cancel_url, { method: 'POST' });
    await waitFor(() => (statusesOf(cancelled.request_id).includes('cancelled') ? true : undefined));
  });

  it('rejects http webhooks unless allowed, and malformed webhook URLs', async () => {
    const strict = await startTestEmulator({ allowHttpWebhooks: false });
    try {
      const url = `${strict.url}/prod/v1/deployments/${strict.deploymentId(FLUX)}/inference`;
      const http = await api(`${url}?webhook=${encodeURIComponent('http://hooks.example/x')}`, { method: 'POST', body: {} });
      assert.equal(http.status, 422);
      assert.deepEqual((http.body.detail as { loc: string[] }[])[0]!.loc, ['query', 'webhook']);
      const garbage = await api(url, { method: 'POST', body: { webhook: 'not a url' } });
      assert.equal(garbage.status, 422);
      const https = await api(`${url}?webhook=${encodeURIComponent('https://hooks.example/x')}`, { method: 'POST', body: {} });
      assert.equal(https.status, 200);
    } finally {
      await strict.close();
    }
  });

  it('loses a configured share of events, deterministically, and records each lost one', async () => {
    await emulator.admin.updateSettings({ webhook: { lossRate: 0.5 } });
    const job = await submit(emulator, FLUX, {}, hookQuery(true));
    await waitForResult(job);
    const records = await waitFor(async () => {
      const all = await emulator.admin.webhookDeliveries(job.request_id);
      return all.length === 3 && all.filter((r) => r.kind === 'event').every((r) => r.delivered) ? all : undefined;
    });
    // A running sum of 0.5 drops every second event: in_queue sent, in_progress lost, final sent.
    assert.deepEqual(records.map((r) => [r.event_status, r.kind]), [['in_queue', 'event'], ['in_progress', 'lost'], ['succeeded', 'event']]);
    const lost = records.find((r) => r.kind === 'lost')!;
    assert.deepEqual([lost.attempts.length, lost.delivered, lost.gave_up], [0, false, false]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(statusesOf(job.request_id), ['in_queue', 'succeeded'], 'the lost event never reached the receiver');

    await emulator.admin.updateSettings({ webhook: { lossRate: 1 } });
    const silent = await submit(emulator, FLUX, {}, hookQuery(true));
    await waitForResult(silent);
    const silentRecords = await waitFor(async () => {
      const all = await emulator.admin.webhookDeliveries(silent.request_id);
      return all.length === 3 ? all : undefined;
    });
    assert.ok(silentRecords.every((r) => r.kind === 'lost'));
    assert.deepEqual(statusesOf(silent.request_id), []);
    assert.equal((await emulator.admin.counters()).total.webhookAttempts, 2, 'lost events make no attempt');
  });

  it('sends forged calls per event: a tampered token, then another request_id with a tampered token', async () => {
    await emulator.admin.updateSettings({ webhook: { forged: 2 } });
    const job = await submit(emulator, FLUX, {}, hookQuery(false));
    await waitForResult(job);
    const records = await waitFor(async () => {
      const all = await emulator.admin.webhookDeliveries(job.request_id);
      return all.length === 3 && all.every((r) => r.attempts.length === 1 && r.attempts[0]!.status_code !== null) ? all : undefined;
    });
    const byKind = Object.fromEntries(records.map((r) => [r.kind, r]));
    assert.deepEqual(Object.keys(byKind).sort(), ['event', 'forged_request', 'forged_token']);
    assert.equal(byKind.event!.url, receiver.url);
    for (const kind of ['forged_token', 'forged_request']) {
      const forged = byKind[kind]!;
      assert.notEqual(new URL(forged.url).searchParams.get('token'), 'abc', `${kind} tampers the token`);
      assert.equal(new URL(forged.url).pathname, '/hook', `${kind} goes to the same receiver`);
      assert.equal(forged.attempts.length, 1, `${kind} is sent once, never retried`);
    }
    await waitFor(() => (receiver.events.length === 3 ? true : undefined));
    const requestIds = receiver.events.map((e) => e.body.request_id).sort();
    assert.deepEqual(requestIds, [job.request_id, job.request_id, `${job.request_id}-forged`].sort());
    const tokens = receiver.events.map((e) => new URL(e.path, 'http://x').searchParams.get('token'));
    assert.equal(tokens.filter((t) => t === 'abc').length, 1, 'only the real event carries the real token');
    const counters = (await emulator.admin.counters()).total;
    assert.deepEqual([counters.webhookAttempts, counters.webhookDeliveries], [1, 1], 'forged calls are not RunComfy deliveries');
  });

  it('refuses an out-of-range loss rate or forged count', async () => {
    await assert.rejects(emulator.admin.updateSettings({ webhook: { lossRate: 1.5 } }), /lossRate must be between 0 and 1/);
    await assert.rejects(emulator.admin.updateSettings({ webhook: { forged: 1.5 } }), /forged must be a whole number/);
    await assert.rejects(emulator.admin.updateSettings({ webhook: { lossRate: -1 } }), /non-negative/);
  });

  it('stops retrying on close()', async () => {
    const closing = await startTestEmulator({ webhook: { maxAttempts: 100, initialBackoffMs: 20, maxBackoffMs: 20 } });
    receiver.plannedStatuses.push(...Array.from({ length: 100 }, () => 500));
    await submit(closing, FLUX, {}, `?webhook=${encodeURIComponent(receiver.url)}`);
    await waitFor(() => (receiver.events.length >= 2 ? true : undefined));
    await closing.close();
    const seen = receiver.events.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.ok(receiver.events.length <= seen + 1, 'no further retries after close');
  });
});

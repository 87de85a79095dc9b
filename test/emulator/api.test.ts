import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { api, startTestEmulator, submit, waitForResult } from './helpers.js';

describe('RunComfy API surface', () => {
  let emulator: RunningEmulator;
  let fluxId: string;
  before(async () => {
    emulator = await startTestEmulator();
    fluxId = emulator.deploymentId('fofr_flux_dev_fp8_t2i');
  });
  after(() => emulator.close());

  it('answers 401 with error_code 401001 and a message when the token is missing or wrong, on every API route', async () => {
    const paths = [
      ['POST', `/prod/v1/deployments/${fluxId}/inference`],
      ['GET', `/prod/v1/deployments/${fluxId}/requests/abc/status`],
      ['GET', `/prod/v2/deployments/${fluxId}/requests/abc/result`],
      ['POST', `/prod/v1/deployments/${fluxId}/requests/abc/cancel`],
      ['GET', '/prod/v2/deployments'],
      ['GET', `/prod/v2/deployments/${fluxId}`],
    ] as const;
    for (const [method, path] of paths) {
      for (const token of [null, 'wrong-token']) {
        const response = await api(`${emulator.url}${path}`, { method, token, body: method === 'POST' ? {} : undefined });
        assert.equal(response.status, 401, `${method} ${path} token=${token}`);
        assert.equal(response.body.error_code, 401001);
        assert.match(response.body.message as string, /Unauthorized/);
      }
    }
    const counters = await emulator.admin.counters(fluxId);
    assert.equal(counters.total.acceptedJobs, 0);
  });

  it('serves inference under both /prod/v1 and /prod/v2 with absolute URLs on the same prefix', async () => {
    for (const version of ['v1', 'v2'] as const) {
      const job = await submit(emulator, 'fofr_flux_dev_fp8_t2i', {}, '', version);
      assert.match(job.request_id, /^[0-9a-f-]{36}$/);
      for (const [url, suffix] of [[job.status_url, 'status'], [job.result_url, 'result'], [job.cancel_url, 'cancel']] as const) {
        assert.equal(url, `${emulator.url}/prod/${version}/deployments/${fluxId}/requests/${job.request_id}/${suffix}`);
      }
      const status = await api(job.status_url);
      assert.equal(status.status, 200);
      assert.ok(['in_queue', 'in_progress'].includes(status.body.status as string));
      const result = await waitForResult(job);
      assert.equal(result.status, 'succeeded');
      assert.match(result.created_at as string, /^\d{4}-\d\d-\d\dT.*\+00:00$/);
      assert.match(result.finished_at as string, /\+00:00$/);
      assert.equal(typeof result.instance_id, 'string');
    }
  });

  it('answers 404 with 404001 for an unknown deployment, an unknown request and a request of another deployment', async () => {
    const job = await submit(emulator, 'fofr_flux_dev_fp8_t2i');
    const otherId = emulator.deploymentId('fofr_hunyuan_i2v');
    const urls = [
      `${emulator.url}/prod/v1/deployments/00000000-0000-4000-a000-000000000000/requests/${job.request_id}/status`,
      `${emulator.url}/prod/v1/deployments/${fluxId}/requests/00000000-0000-4000-a000-000000000000/status`,
      `${emulator.url}/prod/v1/deployments/${otherId}/requests/${job.request_id}/result`,
    ];
    for (const url of urls) {
      const response = await api(url);
      assert.equal(response.status, 404, url);
      assert.equal(response.body.error_code, 404001);
    }
    const wrongMethod = await api(`${emulator.url}/prod/v1/deployments/${fluxId}/inference`);
    assert.equal(wrongMethod.status, 405);
  });

  it('treats a malformed JSON body as a 422 validation error', async () => {
    const response = await fetch(`${emulator.url}/prod/v1/deployments/${fluxId}/inference`, { method: 'POST', headers: { authorization: 'Bearer test-token' }, body: '{"overrides": ' });
    assert.equal(response.status, 422);
    assert.equal(((await response.json()) as { error_code: number }).error_code, 422001);
  });

  it('lists deployments as a bare array with ids filter and includes=payload|readme', async () => {
    const all = await api<Record<string, unknown>[]>(`${emulator.url}/prod/v2/deployments`);
    assert.ok(Array.isArray(all.body));
    assert.equal(all.body.length, emulator.deployments.length);
    const fields = ['id', 'name', 'workflow_id', 'workflow_version', 'hardware', 'min_instances', 'max_instances', 'queue_size', 'keep_warm_duration_in_seconds', 'status', 'is_enabled', 'created_at', 'updated_at'];
    for (const field of fields) assert.ok(field in all.body[0]!, field);
    assert.equal(all.body[0]!.payload, undefined);
    const hunyuanId = emulator.deploymentId('fofr_hunyuan_i2v');
    const filtered = await api<Record<string, unknown>[]>(`${emulator.url}/prod/v2/deployments?ids=${fluxId}&ids=${hunyuanId}&includes=payload&includes=readme`);
    assert.deepEqual(filtered.body.map((deployment) => deployment.id).sort(), [fluxId, hunyuanId].sort());
    const payload = filtered.body.find((deployment) => deployment.id === fluxId)!.payload as { workflow_api_json: Record<string, { class_type: string }>; overrides: object };
    assert.equal(payload.workflow_api_json['9']!.class_type, 'SaveImage');
    assert.deepEqual(payload.overrides, {});
    assert.equal(typeof filtered.body[0]!.readme, 'string');
    const one = await api(`${emulator.url}/prod/v2/deployments/${fluxId}?includes=payload`);
    assert.equal(one.body.name, 'fofr_flux_dev_fp8_t2i');
    assert.ok('payload' in one.body);
  });

  it('creates (all fields required), updates (name required) and deletes deployments', async () => {
    const incomplete = await api(`${emulator.url}/prod/v2/deployments`, { method: 'POST', body: { name: 'x', workflow_id: 'fofr_flux_dev_fp8_t2i' } });
    assert.equal(incomplete.status, 422);
    const missing = (incomplete.body.detail as { loc: string[] }[]).map((entry) => entry.loc[1]);
    for (const field of ['workflow_version', 'hardware', 'min_instances', 'max_instances', 'queue_size', 'keep_warm_duration_in_seconds']) assert.ok(missing.includes(field), field);

    const created = await api(`${emulator.url}/prod/v2/deployments`, {
      method: 'POST',
      body: { name: 'my-flux', workflow_id: 'fofr_flux_dev_fp8_t2i', workflow_version: 'v1', hardware: ['ADA_80_PLUS'], min_instances: 0, max_instances: 2, queue_size: 1, keep_warm_duration_in_seconds: 30 },
    });
    assert.equal(created.status, 200);
    const id = created.body.id as string;
    assert.deepEqual(created.body.hardware, ['ADA_80_PLUS']);
    assert.equal(created.body.status, 'standby');

    const job = await api<{ status_url: string }>(`${emulator.url}/prod/v1/deployments/${id}/inference`, { method: 'POST', body: { overrides: { '6': { inputs: { text: 'hi' } } } } });
    assert.equal(job.status, 200);

    const noName = await api(`${emulator.url}/prod/v2/deployments/${id}`, { method: 'PATCH', body: { max_instances: 3 } });
    assert.equal(noName.status, 422);
    assert.deepEqual((noName.body.detail as { loc: string[] }[])[0]!.loc, ['body', 'name']);
    const updated = await api(`${emulator.url}/prod/v2/deployments/${id}`, { method: 'PATCH', body: { name: 'my-flux-2', max_instances: 3, is_enabled: false } });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.max_instances, 3);
    assert.equal(updated.body.status, 'disabled');
    const disabled = await api(`${emulator.url}/prod/v1/deployments/${id}/inference`, { method: 'POST', body: {} });
    assert.equal(disabled.status, 403);
    assert.equal(disabled.body.error_code, 10002);

    const deleted = await api(`${emulator.url}/prod/v2/deployments/${id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    const afterDelete = await api(`${emulator.url}/prod/v2/deployments/${id}`);
    assert.equal(afterDelete.status, 404);
    assert.equal(afterDelete.body.error_code, 10003);
    const submitAfterDelete = await api(`${emulator.url}/prod/v1/deployments/${id}/inference`, { method: 'POST', body: {} });
    assert.equal(submitAfterDelete.body.error_code, 10003);
  });

  it('counts submits, accepted jobs, status and result reads per deployment', async () => {
    await emulator.admin.reset();
    const job = await submit(emulator, 'fofr_sdxl_turbo_t2i');
    await waitForResult(job);
    const counters = (await emulator.admin.counters()).deployments[emulator.deploymentId('fofr_sdxl_turbo_t2i')]!;
    assert.equal(counters.submits, 1);
    assert.equal(counters.acceptedJobs, 1);
    assert.ok(counters.statusReads >= 1);
    assert.equal(counters.resultReads, 1);
  });
});

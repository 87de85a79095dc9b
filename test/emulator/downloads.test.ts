import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { api, startTestEmulator, submit, waitForResult } from './helpers.js';

const FLUX = 'fofr_flux_dev_fp8_t2i';
const WAN = 'discomfy_wan21_vace_i2v_vhs';

const firstUrl = (result: Record<string, unknown>, nodeId: string, channel = 'images'): string =>
  ((result.outputs as Record<string, Record<string, { url: string }[]>>)[nodeId]![channel]![0]!).url;

describe('output files', () => {
  let emulator: RunningEmulator;
  before(async () => {
    emulator = await startTestEmulator({ timing: { durationMs: 5, jitterMs: 0, coldStartMs: 0 }, scaling: { maxInstances: 4 } });
  });
  after(() => emulator.close());

  it('serves files without a token, with HEAD, Content-Length and Content-Type, and sha256 from the admin API', async () => {
    const job = await submit(emulator, FLUX, { overrides: { '31': { inputs: { seed: 1 } } } });
    const result = await waitForResult(job);
    const url = firstUrl(result, '9');
    assert.ok(url.startsWith(`${emulator.url}/files/`));
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'image/png');
    const body = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.equal(Number(head.headers.get('content-length')), body.length);
    const [info] = await emulator.admin.jobOutputs(job.request_id);
    assert.deepEqual([info!.node_id, info!.channel, info!.url, info!.size_bytes, info!.content_type], ['9', 'images', url, body.length, 'image/png']);
    assert.equal(info!.sha256, createHash('sha256').update(body).digest('hex'));
    assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), body, 'the same bytes on every download');
  });

  it('gives two jobs different bytes, also with the same overrides', async () => {
    const download = async (overrides: object): Promise<Buffer> => Buffer.from(await (await fetch(firstUrl(await waitForResult(await submit(emulator, FLUX, { overrides })), '9'))).arrayBuffer());
    const [a, b, c] = await Promise.all([download({ '31': { inputs: { seed: 1 } } }), download({ '31': { inputs: { seed: 2 } } }), download({ '31': { inputs: { seed: 1 } } })]);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a, c, 'the request id is embedded, so even equal overrides give distinct files');
  });

  it('pads files to the configured size, streams them, and reports the digest a copy must have', async () => {
    const fluxId = emulator.deploymentId(FLUX);
    const sizeBytes = 24 * 1024 * 1024 + 7;
    await emulator.admin.updateDeploymentConfig(fluxId, { outputSizeBytes: sizeBytes });
    try {
      const job = await submit(emulator, FLUX);
      const url = firstUrl(await waitForResult(job), '9');
      const response = await fetch(url);
      assert.equal(Number(response.headers.get('content-length')), sizeBytes);
      const hash = createHash('sha256');
      let received = 0;
      for await (const chunk of response.body!) {
        hash.update(chunk);
        received += chunk.length;
      }
      assert.equal(received, sizeBytes);
      const [info] = await emulator.admin.jobOutputs(job.request_id);
      assert.equal(info!.size_bytes, sizeBytes);
      assert.equal(info!.sha256, hash.digest('hex'));
    } finally {
      await emulator.admin.updateDeploymentConfig(fluxId, { outputSizeBytes: null });
    }
  });

  it('announces multi-GiB sizes without generating the file', async () => {
    await emulator.admin.updateSettings({ outputSizeBytes: 3 * 1024 ** 3 });
    try {
      const result = await waitForResult(await submit(emulator, WAN));
      const head = await fetch(firstUrl(result, '171', 'gifs'), { method: 'HEAD' });
      assert.equal(head.headers.get('content-type'), 'video/mp4');
      assert.equal(Number(head.headers.get('content-length')), 3 * 1024 ** 3);
    } finally {
      await emulator.admin.updateSettings({ outputSizeBytes: null });
    }
  });

  it('serves the object_info excerpts named by payload.object_info_url when the folder has them', async () => {
    const deployment = await api(`${emulator.url}/prod/v2/deployments/${emulator.deploymentId(FLUX)}?includes=payload`);
    assert.equal((deployment.body.payload as { object_info_url: unknown }).object_info_url, null, 'the fixtures folder has no object_info files');
  });
});

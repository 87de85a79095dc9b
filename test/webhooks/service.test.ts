/**
 * `npm run webhooks` as a process: configuration from the environment (the workers' TEMPORAL_* and
 * payload keys), a signal encrypted with those keys, Prometheus metrics, and a clean exit on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, encryptingDataConverter } from '../../src/codec/aes-gcm-codec.js';
import { parsePayloadKeys } from '../../src/codec/payload-keys.js';
import { getFreePort } from '../../src/devstack/ports.js';
import { webhookUrlFor } from '../../src/webhooks/token.js';
import { testTemporal, uniqueName } from '../support/local-stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = 'src/webhooks/main.ts';

test('refuses to start without WEBHOOK_SECRETS, naming the variable', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN], { cwd: root, env: { PATH: process.env.PATH ?? '', WEBHOOK_SECRETS: 'short' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /WEBHOOK_SECRETS: entry 1 must be at least 32 characters/);
  assert.ok(!run.stderr.includes('short\n') && !run.stdout.includes('short'));
});

test('serves signed webhooks as encrypted signals, exposes metrics and exits cleanly on SIGTERM', async () => {
  const temporal = await testTemporal();
  const keyText = `k1:${randomBytes(32).toString('base64')}`;
  const keys = parsePayloadKeys(keyText);
  const secret = randomBytes(32).toString('base64url');
  const port = await getFreePort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace, WEBHOOK_SECRETS: secret, WEBHOOK_PORT: String(port), WEBHOOK_HOST: '127.0.0.1', PAYLOAD_KEYS: keyText },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    const deadline = Date.now() + 60_000;
    while (!output.includes('webhook receiver started')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `receiver did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new Client({ connection, namespace: temporal.namespace, ...encryptingDataConverter(keys) });
      const handle = await client.workflow.start('webhookTarget', { taskQueue: uniqueName('no-worker'), workflowId: uniqueName('wf'), workflowExecutionTimeout: '10 minutes' });
      const url = webhookUrlFor({ publicUrl: `http://127.0.0.1:${port}/runcomfy/webhook`, secrets: [secret] }, { workflowId: handle.workflowId, stepId: 't2i', attempt: 1 });
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: 'req-s', status: 'succeeded' }) });
      assert.equal(response.status, 200, await response.text());
      const events = (await handle.fetchHistory()).events ?? [];
      const signal = events.map((e) => e.workflowExecutionSignaledEventAttributes).find((a) => a?.signalName === 'jobNudge');
      assert.ok(signal, 'jobNudge recorded');
      const [payload] = await new AesGcmPayloadCodec(keys).decode(signal.input!.payloads!);
      assert.deepEqual(defaultPayloadConverter.fromPayload(payload!), { stepId: 't2i', attempt: 1, requestId: 'req-s', status: 'succeeded' });
      await handle.terminate('test done');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /rcp_webhooks_received_total\{outcome="signaled"\} 1/);
      assert.match(metrics, /rcp_webhooks_process_resident_memory_bytes/);
      assert.ok(!output.includes(secret) && !output.includes(new URL(url).searchParams.get('token')!), 'neither secret nor token in the logs');
    } finally {
      await connection.close();
    }
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, output);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

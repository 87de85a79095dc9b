/**
 * The webhook receiver's own cost, against a real Temporal dev server: latency from a POST to its
 * answer (the signal is in history by then) at a given concurrency, the same for forged calls
 * (refused before Temporal is asked), and the receiver's CPU per call. Targets are workflows that
 * no worker runs: a signal is recorded whatever the workflow does with it.
 *
 *   bash scripts/with-node.sh npx tsx bench/webhook-receiver.ts [--calls 2000] [--concurrency 20] [--workflows 200]
 *
 * Uses RCP_TEST_TEMPORAL_ADDRESS when set (scripts/with-local-stack.ts), else starts a dev server.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { Registry } from 'prom-client';
import { startTemporalDevServer } from '../src/devstack/temporal-dev-server.js';
import { WebhookMetrics } from '../src/webhooks/metrics.js';
import { temporalNudge } from '../src/webhooks/nudge.js';
import { createWebhookReceiver, listenWebhookReceiver } from '../src/webhooks/receiver.js';
import { webhookUrlFor } from '../src/webhooks/token.js';
import { summarize } from './stats.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '20' }, workflows: { type: 'string', default: '200' } } });
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const workflowCount = Number(values.workflows);

const server = process.env['RCP_TEST_TEMPORAL_ADDRESS'] ? undefined : await startTemporalDevServer();
const address = process.env['RCP_TEST_TEMPORAL_ADDRESS'] ?? server!.address;
const namespace = process.env['RCP_TEST_TEMPORAL_NAMESPACE'] || server?.namespace || 'default';
const connection = await Connection.connect({ address });
const client = new Client({ connection, namespace });
const secret = randomBytes(32).toString('base64url');
const metrics = new WebhookMetrics(new Registry());
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined };
const receiver = await listenWebhookReceiver(createWebhookReceiver({ settings: { secrets: [secret], path: '/hook', maxBodyBytes: 1 << 20 }, nudge: temporalNudge(client), metrics, log: silent }), 0, '127.0.0.1');

const run = `${process.pid}-${Date.now().toString(36)}`;
const workflowIds: string[] = [];
for (let i = 0; i < workflowCount; i++) {
  const handle = await client.workflow.start('webhookBenchTarget', { taskQueue: `no-worker-${run}`, workflowId: `bench-hook-${run}-${i}`, workflowExecutionTimeout: '10 minutes' });
  workflowIds.push(handle.workflowId);
}

async function measure(urlOf: (i: number) => string, total: number): Promise<{ latencyMs: ReturnType<typeof summarize>; callsPerSecond: number; cpuMsPerCall: number; statuses: Record<number, number> }> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t0 = performance.now();
        const response = await fetch(urlOf(i), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request_id: `req-${i}`, status: 'in_progress' }) });
        await response.arrayBuffer();
        latencies.push(performance.now() - t0);
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  // Client and receiver share this process: the CPU figure is an upper bound for the receiver.
  return { latencyMs: summarize(latencies), callsPerSecond: Math.round((total / elapsedMs) * 1000), cpuMsPerCall: Math.round(((cpu.user + cpu.system) / 1000 / total) * 100) / 100, statuses };
}

const publicUrl = `${receiver.url}/hook`;
const valid = await measure((i) => webhookUrlFor({ publicUrl, secrets: [secret] }, { workflowId: workflowIds[i % workflowIds.length]!, stepId: 'upscale', attempt: 1 }), calls);
const forged = await measure((i) => `${webhookUrlFor({ publicUrl, secrets: [secret] }, { workflowId: workflowIds[i % workflowIds.length]!, stepId: 'upscale', attempt: 1 }).slice(0, -3)}AAA`, calls);
console.log(JSON.stringify({ calls, concurrency, workflows: workflowCount, signaled: valid, forged }, null, 2));

await Promise.all(workflowIds.map((id) => client.workflow.getHandle(id).terminate('benchmark done').catch(() => undefined)));
await receiver.close();
await connection.close();
await server?.stop();

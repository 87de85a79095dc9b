import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { PrometheusPipelineMetrics, serveMetrics } from '../../src/observability/metrics.js';

test('the metrics port answers liveness and readiness probes, and counts GPU seconds per deployment', async () => {
  const metrics = new PrometheusPipelineMetrics({ defaultMetrics: false });
  let ready = false;
  const server = await serveMetrics(metrics.registry, 0, '127.0.0.1', () => ready);
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 503, 'not ready while the worker starts or drains');
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    metrics.gpuSeconds('dep-1', 2.5);
    metrics.gpuSeconds('dep-1', 1);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /rcp_gpu_seconds_total\{deployment="dep-1"\} 3\.5/);
    assert.match(text, /rcp_gpu_jobs_total\{deployment="dep-1"\} 2/);
  } finally {
    server.close();
  }
});

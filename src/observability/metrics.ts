import { createServer, type Server } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineMetrics } from '../activities/deps.js';

/** The project's own Prometheus metrics; Temporal's runtime exports its own on a second port. */
export class PrometheusPipelineMetrics implements PipelineMetrics {
  readonly registry = new Registry();
  private readonly submitted = new Counter({ name: 'rcp_jobs_submitted_total', help: 'RunComfy jobs accepted, by step kind and deployment', labelNames: ['kind', 'deployment'], registers: [this.registry] });
  private readonly submitFailures = new Counter({ name: 'rcp_submit_failures_total', help: 'Submits that failed, by outcome (rejected = proven not accepted; unknown = may exist)', labelNames: ['kind', 'outcome'], registers: [this.registry] });
  private readonly statusReads = new Counter({ name: 'rcp_status_reads_total', help: 'RunComfy status reads', registers: [this.registry] });
  private readonly copied = new Counter({ name: 'rcp_bytes_copied_total', help: 'Output bytes copied into the object store', registers: [this.registry] });
  private readonly resumed = new Counter({ name: 'rcp_copy_resumed_bytes_total', help: 'Bytes of copies found already uploaded by a crashed attempt and not sent again', registers: [this.registry] });
  private readonly finished = new Counter({ name: 'rcp_jobs_finished_total', help: 'RunComfy jobs finished, by step kind and outcome', labelNames: ['kind', 'outcome'], registers: [this.registry] });
  private readonly cancelled = new Counter({ name: 'rcp_job_cancels_total', help: 'Cancels sent to RunComfy, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  private readonly stepDuration = new Histogram({
    name: 'rcp_step_duration_seconds',
    help: 'Time from a step start to its outputs being persisted, by step kind',
    labelNames: ['kind'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    registers: [this.registry],
  });

  private readonly gpu = new Counter({ name: 'rcp_gpu_seconds_total', help: 'GPU seconds spent by jobs (their run phase), by RunComfy deployment id', labelNames: ['deployment'], registers: [this.registry] });
  private readonly gpuJobs = new Counter({ name: 'rcp_gpu_jobs_total', help: 'Jobs that reached a GPU, by RunComfy deployment id', labelNames: ['deployment'], registers: [this.registry] });
  private readonly callbacks = new Counter({ name: 'rcp_callback_deliveries_total', help: 'Callback delivery attempts, by HTTP status class', labelNames: ['status'], registers: [this.registry] });

  constructor({ defaultMetrics = true }: { defaultMetrics?: boolean } = {}) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'rcp_worker_' });
  }

  jobSubmitted(kind: string, deploymentKey: string): void {
    this.submitted.inc({ kind, deployment: deploymentKey });
  }
  submitFailed(kind: string, outcome: 'rejected' | 'unknown'): void {
    this.submitFailures.inc({ kind, outcome });
  }
  statusRead(): void {
    this.statusReads.inc();
  }
  bytesCopied(bytes: number): void {
    this.copied.inc(bytes);
  }
  copyResumed(bytes: number): void {
    this.resumed.inc(bytes);
  }
  jobFinished(kind: string, outcome: string): void {
    this.finished.inc({ kind, outcome });
  }
  jobCancelled(outcome: string): void {
    this.cancelled.inc({ outcome });
  }
  stepSucceeded(kind: string, durationSeconds: number): void {
    this.stepDuration.observe({ kind }, durationSeconds);
  }
  gpuSeconds(deploymentId: string, seconds: number): void {
    this.gpu.inc({ deployment: deploymentId }, seconds);
    this.gpuJobs.inc({ deployment: deploymentId });
  }
  callbackAttempt(httpStatus: number): void {
    this.callbacks.inc({ status: `${Math.floor(httpStatus / 100)}xx` });
  }
}

/**
 * Serves `/metrics` on the given port (0 = a free one); resolves with the server once listening.
 * With `ready`, also `/healthz` (200 while the process serves) and `/readyz` (200 while `ready()`
 * holds, e.g. the worker is polling; 503 while it starts or drains), for orchestrators' probes.
 */
export async function serveMetrics(registry: Registry, port: number, host = '0.0.0.0', ready?: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    if (ready && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (ready && req.url === '/readyz') {
      const isReady = ready();
      res.writeHead(isReady ? 200 : 503, { 'content-type': 'text/plain' }).end(isReady ? 'ready\n' : 'not ready\n');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

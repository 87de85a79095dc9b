/**
 * The worker process: `npm run worker`. Configuration comes from the environment (see the README);
 * SIGTERM / SIGINT start a graceful shutdown: no new tasks, running activities get SHUTDOWN_GRACE_MS
 * to finish (a poll simply resumes on another worker), then the process exits.
 */
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import v8 from 'node:v8';
import { ConfigError, parseWorkerConfig } from './config.js';
import { createPipelineWorker } from './worker/pipeline-worker.js';

async function main(): Promise<void> {
  const config = parseWorkerConfig(process.env);
  // Set before the worker starts its workflow thread, so they shape both heaps. The default keeps
  // V8's young generation small: a worker holding 1,000 waiting pipelines is ~110 MB smaller at the
  // same CPU. --optimize-for-size saves a little more but costs the copy 45% more CPU per GiB
  // (docs/benchmark.md); NODE_OPTIONS would refuse it, hence this setting.
  if (config.worker.v8Flags) v8.setFlagsFromString(config.worker.v8Flags);
  Runtime.install({
    // One JSON object per line: what log shippers expect. Activity and workflow loggers add their context.
    logger: new DefaultLogger(config.logLevel as LogLevel, (entry) => {
      process.stdout.write(`${JSON.stringify({ time: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(), level: entry.level, message: entry.message, ...entry.meta })}\n`);
    }),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(config.temporalMetricsPort > 0 ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.temporalMetricsPort}` } } } : {}),
    },
  });
  const pipelineWorker = await createPipelineWorker({ config, serveMetrics: config.metricsPort > 0 });
  Runtime.instance().logger.info('worker started', {
    taskQueue: config.temporal.taskQueue,
    namespace: config.temporal.namespace,
    address: config.temporal.address,
    metricsPort: config.metricsPort,
    temporalMetricsPort: config.temporalMetricsPort,
    maxConcurrentCopies: config.maxConcurrentCopies,
    // On or off, and where the in-process receiver listens: never the URL's secret parts.
    webhooks: config.webhooks ? { receiverPort: pipelineWorker.webhookReceiver?.port ?? null, path: config.webhooks.path, backstopIntervalMs: config.webhooks.backstopIntervalMs } : 'off',
  });
  await pipelineWorker.run();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

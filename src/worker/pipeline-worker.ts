/**
 * Builds a pipeline worker from configuration: the RunComfy client, the object store, the registry,
 * metrics and the Temporal Worker itself. `src/worker.ts` runs it as a process; tests, the demo and
 * the benchmark run it in-process with their own settings.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { createActivities } from '../activities/index.js';
import { encryptingDataConverter } from '../codec/aes-gcm-codec.js';
import { loadPayloadKeys } from '../codec/payload-keys.js';
import { ConfigError } from '../config.js';
import type { WorkerConfig } from '../config.js';
import { PrometheusPipelineMetrics, serveMetrics } from '../observability/metrics.js';
import { loadRegistryFileSync } from '../pipeline/registry-file.js';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import { RunComfyClient } from '../runcomfy/client.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../contract/search-attributes.js';
import { ObjectStore } from '../storage/object-store.js';
import { createObjectStoreClient } from '../storage/s3-client.js';
import { WebhookMetrics } from '../webhooks/metrics.js';
import { workflowSourceOptions } from './workflow-code.js';
import { temporalNudge } from '../webhooks/nudge.js';
import { createWebhookReceiver, listenWebhookReceiver, type RunningWebhookReceiver } from '../webhooks/receiver.js';

export interface PipelineWorkerOptions {
  config: WorkerConfig;
  /** Defaults to the file at `config.registryPath`. */
  registry?: DeploymentRegistry;
  /** Serve the project's Prometheus metrics on `config.metricsPort` (default false). */
  serveMetrics?: boolean;
  /** Use Temporal's prebuilt workflow bundle when given; otherwise `config.worker.workflowBundlePath`, then the sources. */
  workflowBundlePath?: string;
  /** Extra Worker options (tests tune polling). */
  workerOptions?: Partial<WorkerOptions>;
}

export interface PipelineWorker {
  readonly worker: Worker;
  readonly metrics: PrometheusPipelineMetrics;
  readonly metricsServer?: Server;
  /** The in-process webhook receiver, when WEBHOOK_PORT is set. */
  readonly webhookReceiver?: RunningWebhookReceiver;
  /** Runs until shutdown (SIGINT/SIGTERM when the Runtime handles signals, or `worker.shutdown()`), then releases everything. */
  run(): Promise<void>;
}

function connectionOptions(config: WorkerConfig) {
  return {
    address: config.temporal.address,
    ...(config.temporal.tls ? { tls: true } : {}),
    ...(config.temporal.apiKey ? { apiKey: config.temporal.apiKey } : {}),
  };
}

/** The two Operator API calls the check makes (a connection's `operatorService`). */
export interface SearchAttributeOperator {
  listSearchAttributes(request: { namespace: string }): Promise<{ customAttributes?: Record<string, unknown> | null }>;
  addSearchAttributes(request: { namespace: string; searchAttributes: Record<string, number> }): Promise<unknown>;
}

/** What the search-attribute check found; `warning` is for the operator's log. */
export interface SearchAttributeCheck {
  outcome: 'present' | 'added' | 'unverified';
  warning?: string;
}

/**
 * Makes sure the search attributes the workflow writes exist on the namespace: an unknown one would
 * fail every workflow task. Registers missing ones where permitted, else says what to run. Best
 * effort where the Operator API is not served (Temporal Cloud): the worker starts with a warning
 * naming the attribute and how to register it, instead of refusing to start.
 */
export async function ensureSearchAttributes(config: WorkerConfig, operator?: SearchAttributeOperator): Promise<SearchAttributeCheck> {
  const connection = operator ? undefined : await Connection.connect(connectionOptions(config));
  const service: SearchAttributeOperator = operator ?? connection!.operatorService;
  const { namespace } = config.temporal;
  const required = Object.entries(PIPELINE_SEARCH_ATTRIBUTES);
  const howTo =
    `register ${required.map(([n, t]) => `${n} (${t})`).join(', ')} on namespace "${namespace}": on Temporal Cloud with ` +
    `\`tcld namespace search-attributes add --namespace <namespace>.<account> ${required.map(([n, t]) => `--search-attribute "${n}=${t}"`).join(' ')}\` ` +
    `or in the Cloud UI (Namespaces → ${namespace} → Custom search attributes); elsewhere with ` +
    `\`temporal operator search-attribute create --namespace ${namespace} ${required.map(([n, t]) => `--name ${n} --type ${t}`).join(' ')}\``;
  try {
    let existing;
    try {
      existing = await service.listSearchAttributes({ namespace });
    } catch (error) {
      // Temporal Cloud does not serve the Operator API to workers (UNIMPLEMENTED / PERMISSION_DENIED).
      return { outcome: 'unverified', warning: `could not check the namespace's search attributes (${errorText(error)}); if pipelines' workflow tasks fail on an unknown search attribute, ${howTo}` };
    }
    const missing = required.filter(([name]) => !(name in (existing.customAttributes ?? {})));
    if (missing.length === 0) return { outcome: 'present' };
    const { temporal } = (await import('@temporalio/proto')).default;
    try {
      await service.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map(([name]) => [name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
      });
      return { outcome: 'added' };
    } catch (error) {
      throw new Error(`the namespace "${namespace}" lacks the search attribute(s) ${missing.map(([n, t]) => `${n}=${t}`).join(', ')} and this worker may not add them; ${howTo}`, { cause: error });
    }
  } finally {
    await connection?.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : String(error);
}

export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<PipelineWorker> {
  const { config } = options;
  const registry = options.registry ?? loadRegistryFileSync(config.registryPath);
  let payloadKeys;
  try {
    payloadKeys = loadPayloadKeys(config.payloadKeys);
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  const dataConverter = encryptingDataConverter(payloadKeys);

  const attributes = await ensureSearchAttributes(config);
  if (attributes.warning) Runtime.instance().logger.warn(attributes.warning);

  const runcomfy = new RunComfyClient({ baseUrl: config.runcomfy.baseUrl, token: config.runcomfy.token, inferenceApiVersion: config.runcomfy.inferenceApiVersion });
  const s3 = createObjectStoreClient({ ...config.store, maxSockets: 64 });
  const store = new ObjectStore({
    client: s3,
    bucket: config.store.bucket,
    partSizeBytes: config.store.partSizeBytes,
    queueSize: config.store.queueSize,
    sourcePolicy: config.downloads.policy,
    maxOutputBytes: config.downloads.maxOutputBytes,
    downloadIdleTimeoutMs: config.downloads.idleTimeoutMs,
    downloadFirstByteTimeoutMs: config.downloads.firstByteTimeoutMs,
    downloadDeadlineMs: config.downloads.deadlineMs,
  });
  const metrics = new PrometheusPipelineMetrics();
  const activities = createActivities({
    runcomfy,
    store,
    registry: () => registry,
    metrics,
    settings: {
      timings: config.timings,
      ambiguousSubmitPolicy: config.ambiguousSubmitPolicy,
      outputUrlMode: config.outputUrlMode,
      presignTtlSeconds: config.presignTtlSeconds,
      deploymentCacheTtlMs: config.deploymentCacheTtlMs,
      maxConcurrentCopies: config.maxConcurrentCopies,
      integration: config.integration,
    },
    ...(config.callbackSecret ? { callbackSecret: config.callbackSecret } : {}),
    ...(config.webhooks ? { webhooks: config.webhooks } : {}),
  });

  const bundlePath = options.workflowBundlePath ?? config.worker.workflowBundlePath;
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'bundlerOptions'> =
    bundlePath && existsSync(bundlePath) ? { workflowBundle: { codePath: bundlePath } } : workflowSourceOptions();

  const connection = await NativeConnection.connect(connectionOptions(config));
  // The same receiver as `npm run webhooks`, over the worker's own connection and data converter.
  let webhookReceiver: RunningWebhookReceiver | undefined;
  if (config.webhooks?.port !== undefined) {
    const client = new Client({ connection, namespace: config.temporal.namespace, ...(dataConverter ? { dataConverter } : {}) });
    const server = createWebhookReceiver({ settings: config.webhooks, nudge: temporalNudge(client), metrics: new WebhookMetrics(metrics.registry), log: Runtime.instance().logger });
    try {
      webhookReceiver = await listenWebhookReceiver(server, config.webhooks.port, config.webhooks.host);
    } catch (error) {
      await connection.close();
      await runcomfy.close();
      s3.destroy();
      throw new ConfigError([`WEBHOOK_PORT: cannot listen on ${config.webhooks.host}:${config.webhooks.port} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  }
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...workflowSource,
      activities,
      // Every payload (inputs, results, failure details, heartbeats) is encrypted when keys are set.
      ...(dataConverter ? { dataConverter } : {}),
      // Submits and copies only: a step waiting for its job holds no slot (durable timers and local reads).
      maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
      maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
      maxCachedWorkflows: config.worker.maxCachedWorkflows,
      shutdownGraceTime: config.worker.shutdownGraceMs,
      // Heartbeats carry the live progress watchers see (queue position, bytes copied): keep them
      // fresher than the SDK's default of up to 60 s; the heartbeat timeout still bounds it.
      defaultHeartbeatThrottleInterval: config.worker.heartbeatThrottleMs,
      maxHeartbeatThrottleInterval: config.worker.heartbeatThrottleMs,
      ...options.workerOptions,
    });
  } catch (error) {
    await webhookReceiver?.close(0);
    await connection.close();
    await runcomfy.close();
    s3.destroy();
    throw error;
  }
  const metricsServer = options.serveMetrics ? await serveMetrics(metrics.registry, config.metricsPort, '0.0.0.0', () => worker.getState() === 'RUNNING') : undefined;
  return {
    worker,
    metrics,
    ...(metricsServer ? { metricsServer } : {}),
    ...(webhookReceiver ? { webhookReceiver } : {}),
    async run() {
      try {
        await worker.run();
      } finally {
        // Stopped before the connection it signals through; a late webhook then gets a refused
        // connection and RunComfy retries it against another receiver.
        await webhookReceiver?.close(2_000);
        metricsServer?.close();
        await connection.close();
        await runcomfy.close();
        s3.destroy();
      }
    },
  };
}

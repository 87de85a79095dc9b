/**
 * A complete pipeline stack for end-to-end tests: the shared real Temporal dev server and S3 server,
 * a RunComfy emulator seeded with the real workflows of test/fixtures/comfy, and an in-process
 * worker with millisecond poll intervals on a task queue of its own.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encryptingDataConverter } from '../../src/codec/aes-gcm-codec.js';
import { getFreePort } from '../../src/devstack/ports.js';
import { loadPayloadKeys } from '../../src/codec/payload-keys.js';
import { parseWorkerConfig, type WorkerConfig } from '../../src/config.js';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';
import { loadRegistryFileSync } from '../../src/pipeline/registry-file.js';
import type { DeploymentRegistry } from '../../src/pipeline/registry.js';
import type { PipelineSpec } from '../../src/pipeline/spec.js';
import { createPipelineWorker, type PipelineWorker } from '../../src/worker/pipeline-worker.js';
import type { generationPipeline } from '../../src/workflows/generation-pipeline.js';
import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId, type PipelineResult } from '../../src/contract/pipeline-contract.js';
import { ObjectStore } from '../../src/storage/object-store.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { testS3, testTemporal, uniqueName, type TestS3, type TestTemporal } from './local-stack.js';

export const FIXTURE_WORKFLOWS_DIR = fileURLToPath(new URL('../fixtures/comfy', import.meta.url));
export const REGISTRY_PATH = fileURLToPath(new URL('../../config/deployments.json', import.meta.url));
export const EMULATOR_TOKEN = 'e2e-runcomfy-token-do-not-leak';

export interface PipelineStackOptions {
  emulator?: Partial<EmulatorOptions>;
  /** Worker environment overrides (strings, as in a real environment). */
  env?: Record<string, string>;
  registry?: (registry: DeploymentRegistry) => DeploymentRegistry;
  /** Do not start an in-process worker (a test runs its own, e.g. as a child process). */
  noWorker?: boolean;
  /**
   * Webhooks on: the worker serves the receiver in-process on a free loopback port, its submits
   * carry signed URLs to it, and the emulator accepts http webhooks and retries them quickly.
   */
  webhooks?: boolean;
}

export interface PipelineStack {
  temporal: TestTemporal;
  s3: TestS3;
  emulator: RunningEmulator;
  client: Client;
  config: WorkerConfig;
  env: Record<string, string>;
  registry: DeploymentRegistry;
  store: ObjectStore;
  taskQueue: string;
  worker?: PipelineWorker;
  start(spec: PipelineSpec): Promise<WorkflowHandle<typeof generationPipeline>>;
  run(spec: PipelineSpec): Promise<PipelineResult>;
}

/** Worker settings for tests: quick polls, short heartbeats, quick cancel confirmation. */
export function testWorkerEnv(temporal: TestTemporal, s3: TestS3, emulator: RunningEmulator, taskQueue: string): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RUNCOMFY_BASE_URL: emulator.url,
    RUNCOMFY_TOKEN: EMULATOR_TOKEN,
    R2_ENDPOINT: s3.endpoint,
    R2_BUCKET: s3.bucket,
    R2_ACCESS_KEY_ID: s3.accessKeyId,
    R2_SECRET_ACCESS_KEY: s3.secretAccessKey,
    POLL_INITIAL_INTERVAL_MS: '25',
    POLL_MAX_INTERVAL_MS: '150',
    POLL_HEARTBEAT_TIMEOUT_MS: '2000',
    JOB_RETRY_BACKOFF_MS: '100',
    // Generous: a submit that times out is an unknown outcome and fails the step by policy, and
    // test machines can be slow under load.
    SUBMIT_TIMEOUT_MS: '30000',
    PERSIST_HEARTBEAT_TIMEOUT_MS: '10000',
    CANCEL_CONFIRM_TIMEOUT_MS: '5000',
    SHUTDOWN_GRACE_MS: '2000',
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
    DEPLOYMENT_REGISTRY_PATH: REGISTRY_PATH,
    // The emulator serves output files on 127.0.0.1.
    OUTPUT_ALLOW_LOOPBACK: 'true',
  };
}

/** Worker variables that turn webhooks on with an in-process receiver on a free loopback port. */
export async function testWebhookEnv(): Promise<Record<string, string>> {
  const port = await getFreePort();
  return {
    WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}/runcomfy/webhook`,
    WEBHOOK_ALLOW_HTTP: '1',
    WEBHOOK_PORT: String(port),
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_SECRETS: randomBytes(32).toString('base64url'),
    // The backstop stays as quick as the test polls, so a pipeline never waits on it for long.
    WEBHOOK_BACKSTOP_INTERVAL_MS: '150',
  };
}

export async function startPipelineStack(options: PipelineStackOptions = {}): Promise<PipelineStack> {
  const [temporal, s3] = await Promise.all([testTemporal(), testS3()]);
  const emulator = await startEmulator({
    token: EMULATOR_TOKEN,
    workflowsDir: FIXTURE_WORKFLOWS_DIR,
    timing: { durationMs: 150, coldStartMs: 0 },
    scaling: { minInstances: 1, maxInstances: 8, queueSize: 4 },
    fetchInputUrls: true,
    allowHttpInputUrls: true,
    ...(options.webhooks ? { allowHttpWebhooks: true } : {}),
    ...options.emulator,
    // Quick retries with webhooks on; a test's own webhook settings (lossRate, forged, …) add to them.
    ...(options.webhooks ? { webhook: { maxAttempts: 20, initialBackoffMs: 50, maxBackoffMs: 500, ...options.emulator?.webhook } } : {}),
  });
  after(() => emulator.close());
  const taskQueue = uniqueName('pipelines');
  const env = { ...testWorkerEnv(temporal, s3, emulator, taskQueue), ...(options.webhooks ? await testWebhookEnv() : {}), ...options.env };
  const config = parseWorkerConfig(env);
  const base = loadRegistryFileSync(REGISTRY_PATH);
  const registry = options.registry ? options.registry(structuredClone(base)) : base;

  let worker: PipelineWorker | undefined;
  if (!options.noWorker) {
    worker = await createPipelineWorker({ config, registry });
    const running = worker.run();
    after(async () => {
      worker?.worker.shutdown();
      await running;
    });
  }
  const connection = await Connection.connect({ address: temporal.address });
  after(() => connection.close());
  // With PAYLOAD_KEYS in the worker's environment, the test's client speaks the same encryption.
  const dataConverter = encryptingDataConverter(loadPayloadKeys(config.payloadKeys));
  const client = new Client({ connection, namespace: temporal.namespace, ...(dataConverter ? { dataConverter } : {}) });
  const s3Client = createObjectStoreClient({ ...s3 });
  after(() => s3Client.destroy());
  const store = new ObjectStore({ client: s3Client, bucket: s3.bucket, sourcePolicy: { allowLoopback: true, allowedHosts: [] } });

  const start = (spec: PipelineSpec) =>
    client.workflow.start<typeof generationPipeline>(PIPELINE_WORKFLOW_TYPE, { taskQueue, workflowId: pipelineWorkflowId(spec.pipelineId), args: [{ spec }] });
  return {
    temporal,
    s3,
    emulator,
    client,
    config,
    env,
    registry,
    store,
    taskQueue,
    ...(worker ? { worker } : {}),
    start,
    async run(spec) {
      const handle = await start(spec);
      return (await handle.result()) as PipelineResult;
    },
  };
}

/** Polls `probe` until it returns a value, for at most `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { uniqueName };

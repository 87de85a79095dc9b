/**
 * The campaign's own embedded stack: a Temporal dev server on a SQLite file (so it can be killed and
 * restarted), Ceph S3, the RunComfy emulator, and worker processes (`src/worker.ts`) started as
 * child processes under the devstack watchdog, so none outlives the harness, even a SIGKILLed one.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmulatorAdminClient } from '../src/emulator/admin-client.js';
import { PROJECT_ROOT, ensureLocalTools, prebundleWorkflows, startLocalStack, type LocalStack } from '../src/devstack/local-stack.js';
import { SupervisedProcess } from '../src/devstack/supervised-process.js';
import { getFreePorts } from '../src/devstack/ports.js';
import { newWebhookSecret, WEBHOOK_BACKSTOP_MS, webhookReceiverEnv, webhookWorkerEnv, type WebhookPlan } from './webhook-stack.js';
import type { ChaosOptions } from './options.js';

export const FIXTURE_WORKFLOWS_DIR = join(PROJECT_ROOT, 'test', 'fixtures', 'comfy');
const SHIPPED_REGISTRY = join(PROJECT_ROOT, 'config', 'deployments.json');

/** A deployment the campaign adds: the upscale workflow again, with outputs padded to a large size. */
export const LARGE_DEPLOYMENT = {
  key: 'chaos-upscale-large',
  name: 'chaos_upscale_large',
  id: 'c4a05000-0000-4000-8000-00000000c4a0',
  workflowFile: 'fofr_ultimate_sd_upscale_cn_tile.json',
  cloneOf: 'ultimate-upscale',
} as const;

/** The two task queues: what a worker does after an ambiguous submit is worker configuration. */
export const TASK_QUEUES = { fail: 'chaos-fail', resubmit: 'chaos-resubmit' } as const;
export type SubmitPolicy = keyof typeof TASK_QUEUES;

export interface WorkerSlot {
  readonly index: number;
  readonly policy: SubmitPolicy;
  /** Port of this slot's in-worker webhook receiver: the same for every generation, so a killed worker's URL comes back with its successor. */
  readonly webhookPort?: number;
  generation: number;
  proc: SupervisedProcess | undefined;
  readonly logFiles: string[];
}

export interface ChaosStack {
  readonly workDir: string;
  readonly local: LocalStack;
  readonly admin: EmulatorAdminClient;
  readonly emulatorUrl: string;
  readonly runcomfyToken: string;
  readonly temporalAddress: string;
  readonly s3: NonNullable<LocalStack['s3']>;
  readonly workers: WorkerSlot[];
  readonly registryPath: string;
  /** The workflow bundle every worker runs (histories are replayed against it). */
  readonly bundlePath: string;
  /** Deployment key → RunComfy deployment id. */
  readonly deploymentIds: Record<string, string>;
  startWorker(slot: WorkerSlot): void;
  /** SIGTERM (graceful drain) or SIGKILL; resolves once the process is gone. */
  stopWorker(slot: WorkerSlot, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** The webhook set-up, when webhooks are on: which URL each worker signs, the shared receiver. */
  readonly webhooks?: WebhookPlan;
  /** Starts the shared standalone receiver (no-op while it runs) and waits until it answers. */
  startReceiver(): Promise<void>;
  /** Log files of every standalone receiver generation (searched for leaked secrets). */
  readonly receiverLogs: readonly string[];
  /** Stops the shared standalone receiver (SIGKILL or a graceful SIGTERM). */
  stopReceiver(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  stop(): Promise<void>;
}

interface RegistryFile {
  defaults?: unknown;
  deployments: Record<string, { deploymentId: string } & Record<string, unknown>>;
}

/** Where the workers send their signed backend callbacks (a receiver the campaign runs). */
export interface CallbackTarget {
  url: string;
  secret: string;
}

export async function startChaosStack(options: ChaosOptions, workDir: string, log: (line: string) => void, callbacks?: CallbackTarget): Promise<ChaosStack> {
  mkdirSync(join(workDir, 'logs'), { recursive: true });
  await ensureLocalTools({ temporal: true, ceph: true }, { env: process.env, onProvision: () => log('provisioning the Temporal CLI and Ceph (once per machine)…') });
  // A distinctive token: finding it in a history or a log is a leak, whatever the context.
  const runcomfyToken = `chaos-rc-token-${options.seed}-${Date.now().toString(36)}`;

  const registry = JSON.parse(readFileSync(SHIPPED_REGISTRY, 'utf8')) as RegistryFile;
  const base = registry.deployments[LARGE_DEPLOYMENT.cloneOf];
  if (!base) throw new Error(`the shipped registry has no ${LARGE_DEPLOYMENT.cloneOf} deployment`);
  registry.deployments[LARGE_DEPLOYMENT.key] = { ...structuredClone(base), deploymentId: LARGE_DEPLOYMENT.id, description: 'upscale with large outputs (chaos campaign)' };
  const registryPath = join(workDir, 'deployments.json');
  writeFileSync(registryPath, JSON.stringify(registry, null, 2));
  const deploymentIds = Object.fromEntries(Object.entries(registry.deployments).map(([key, entry]) => [key, entry.deploymentId]));

  const bundlePath = join(workDir, 'workflow-bundle.js');
  const [local] = await Promise.all([
    startLocalStack({
      workDir,
      toolEnv: process.env,
      temporal: { ui: false },
      s3: { storage: options.largeOutputMiB >= 32 ? 'file' : 'memory' },
      emulator: {
        token: runcomfyToken,
        workflowsDir: FIXTURE_WORKFLOWS_DIR,
        timing: { durationMs: 1_500, jitterMs: 1_000, coldStartMs: 0 },
        scaling: { minInstances: 1, maxInstances: 6, queueSize: 3, keepWarmSeconds: 60 },
        allowHttpInputUrls: true,
        // Webhooks to the loopback receivers; retries span about 20 s, so a receiver down for a
        // few seconds costs only latency and a longer outage ends on the backstop read.
        allowHttpWebhooks: options.webhooks === 'on',
        webhook: { maxAttempts: 8, initialBackoffMs: 500, maxBackoffMs: 5_000, timeoutMs: 5_000, duplicates: 0, reorder: false, lossRate: 0, forged: 0 },
        randomSeed: options.seed,
        log: () => undefined,
      },
    }),
    // One bundle for every worker: webpack in each worker process would cost a core for seconds.
    prebundleWorkflows(bundlePath),
  ]);
  const emulator = local.emulator!;
  const s3 = local.s3!;
  const temporal = local.temporal!;
  const admin = new EmulatorAdminClient(emulator.url);
  const largeGraph = JSON.parse(readFileSync(join(FIXTURE_WORKFLOWS_DIR, LARGE_DEPLOYMENT.workflowFile), 'utf8')) as Record<string, unknown>;
  await admin.addDeployment({ name: LARGE_DEPLOYMENT.name, id: LARGE_DEPLOYMENT.id, workflow_api_json: largeGraph as never, min_instances: 1, max_instances: 4 });
  if (options.largeOutputMiB > 0) await admin.updateDeploymentConfig(LARGE_DEPLOYMENT.id, { outputSizeBytes: options.largeOutputMiB * 1024 * 1024 });

  const slotCount = options.workers + options.resubmitWorkers;
  const webhooks: WebhookPlan | undefined =
    options.webhooks === 'on'
      ? await (async () => {
          const ports = await getFreePorts(slotCount + 1);
          return { secret: newWebhookSecret(), receiverPort: ports[slotCount]!, slotPorts: ports.slice(0, slotCount), backstopMs: WEBHOOK_BACKSTOP_MS };
        })()
      : undefined;

  const workerEnv = (slot: WorkerSlot): NodeJS.ProcessEnv => ({
    ...baseWorkerEnv(slot.policy),
    ...(webhooks ? webhookWorkerEnv(webhooks, slot.index) : {}),
  });
  const baseWorkerEnv = (policy: SubmitPolicy): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_TASK_QUEUE: TASK_QUEUES[policy],
    RUNCOMFY_BASE_URL: emulator.url,
    RUNCOMFY_TOKEN: runcomfyToken,
    R2_ENDPOINT: s3.endpoint,
    R2_BUCKET: s3.bucket,
    R2_ACCESS_KEY_ID: s3.accessKeyId,
    R2_SECRET_ACCESS_KEY: s3.secretAccessKey,
    DEPLOYMENT_REGISTRY_PATH: registryPath,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    AMBIGUOUS_SUBMIT_POLICY: policy,
    POLL_INITIAL_INTERVAL_MS: '250',
    POLL_MAX_INTERVAL_MS: '1000',
    POLL_HEARTBEAT_TIMEOUT_MS: '5000',
    JOB_RETRY_BACKOFF_MS: '500',
    SUBMIT_TIMEOUT_MS: '15000',
    PERSIST_HEARTBEAT_TIMEOUT_MS: '20000',
    CANCEL_CONFIRM_TIMEOUT_MS: '30000',
    SHUTDOWN_GRACE_MS: '5000',
    HEARTBEAT_THROTTLE_MS: '1000',
    COPY_MEMORY_BUDGET_MB: '128',
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
    LOG_LEVEL: 'INFO',
    // The emulator serves outputs from 127.0.0.1: the local stack's explicit exception to the guard.
    OUTPUT_ALLOW_LOOPBACK: 'true',
    ...(callbacks
      ? {
          CALLBACK_URL: callbacks.url,
          CALLBACK_SECRET: callbacks.secret,
          CALLBACK_ALLOWED_HOSTS: new URL(callbacks.url).host,
          // Long enough to outlast the receiver's own failures and stalls, short enough for a campaign.
          CALLBACK_RETRY_WINDOW_MS: String(20 * 60_000),
          CALLBACK_TIMEOUT_MS: '2000',
        }
      : {}),
  });

  const workers: WorkerSlot[] = [];
  const slotOf = (policy: SubmitPolicy): WorkerSlot => ({ index: workers.length, policy, generation: 0, proc: undefined, logFiles: [], ...(webhooks ? { webhookPort: webhooks.slotPorts[workers.length]! } : {}) });
  for (let i = 0; i < options.workers; i += 1) workers.push(slotOf('fail'));
  for (let i = 0; i < options.resubmitWorkers; i += 1) workers.push(slotOf('resubmit'));

  const startWorker = (slot: WorkerSlot): void => {
    if (slot.proc && !slot.proc.hasExited) return;
    slot.generation += 1;
    const logFile = join(workDir, 'logs', `worker-${slot.index}-${slot.policy}-${slot.generation}.log`);
    slot.logFiles.push(logFile);
    slot.proc = new SupervisedProcess({
      name: `worker-${slot.index}`,
      command: process.execPath,
      args: ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'worker.ts')],
      cwd: PROJECT_ROOT,
      env: workerEnv(slot),
      logFile,
    });
  };
  const stopWorker = async (slot: WorkerSlot, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const proc = slot.proc;
    if (!proc || proc.hasExited) return;
    if (signal === 'SIGKILL') {
      proc.killGroup('SIGKILL');
      await proc.waitForExit();
    } else {
      await proc.stop(15_000);
    }
  };
  let receiver: SupervisedProcess | undefined;
  let receiverGeneration = 0;
  const receiverLogs: string[] = [];
  const startReceiver = async (): Promise<void> => {
    if (!webhooks || (receiver && !receiver.hasExited)) return;
    receiverGeneration += 1;
    const logFile = join(workDir, 'logs', `webhook-receiver-${receiverGeneration}.log`);
    receiverLogs.push(logFile);
    receiver = new SupervisedProcess({
      name: 'webhook-receiver',
      command: process.execPath,
      args: ['--import', 'tsx', join(PROJECT_ROOT, 'src', 'webhooks', 'main.ts')],
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace, ...webhookReceiverEnv(webhooks) },
      logFile,
    });
    await waitForHealth(`http://127.0.0.1:${webhooks.receiverPort}/healthz`, receiver, 60_000);
  };
  const stopReceiver = async (signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const proc = receiver;
    if (!proc || proc.hasExited) return;
    if (signal === 'SIGKILL') {
      proc.killGroup('SIGKILL');
      await proc.waitForExit();
    } else {
      await proc.stop(10_000);
    }
  };
  await startReceiver();
  for (const slot of workers) startWorker(slot);

  let stopping: Promise<void> | undefined;
  return {
    workDir,
    local,
    admin,
    emulatorUrl: emulator.url,
    runcomfyToken,
    temporalAddress: temporal.address,
    s3,
    workers,
    registryPath,
    bundlePath,
    deploymentIds,
    startWorker,
    stopWorker,
    ...(webhooks ? { webhooks } : {}),
    receiverLogs,
    startReceiver,
    stopReceiver,
    stop() {
      stopping ??= (async () => {
        await Promise.allSettled([...workers.map((slot) => slot.proc?.stop(8_000)), receiver?.stop(8_000)]);
        await local.stop();
      })();
      return stopping;
    },
  };
}

/** Polls a health URL until it answers 200; fails early when the process exits. */
async function waitForHealth(url: string, proc: SupervisedProcess, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(`the webhook receiver exited before answering ${url}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the webhook receiver did not answer ${url} within ${budgetMs} ms`);
}

/**
 * The benchmark's embedded stack: Temporal dev server, local S3 server (Ceph radosgw), RunComfy
 * emulator and pipeline worker, each in its own process so its CPU and memory can be measured
 * apart from the benchmark driver. Every server runs under the devstack's watchdog, so nothing
 * outlives the driver, even after a crash or Ctrl-C.
 */
import { Client, Connection } from '@temporalio/client';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startS3Server, type S3Server } from '../src/devstack/ceph-s3-server.js';
import { getFreePorts, waitUntil } from '../src/devstack/ports.js';
import { runToCompletion, SupervisedProcess } from '../src/devstack/supervised-process.js';
import { startTemporalDevServer, type TemporalDevServer } from '../src/devstack/temporal-dev-server.js';
import { EmulatorAdminClient, startEmulator, type RunningEmulator } from '../src/emulator/index.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes.js';
import { ObjectStore } from '../src/storage/object-store.js';
import { createObjectStoreClient } from '../src/storage/s3-client.js';
import { findDescendant, processTree } from './proc-stats.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const REGISTRY_PATH = join(REPO_ROOT, 'config/deployments.json');
/** Real ComfyUI workflows whose emulator deployment ids match the shipped registry. */
export const WORKFLOWS_DIR = join(REPO_ROOT, 'test/fixtures/comfy');
export const EMULATOR_TOKEN = 'bench-runcomfy-token';

/** Servers the benchmark may reuse instead of starting its own (e.g. the test suite's). */
export interface ExternalServers {
  temporal?: { address: string; namespace: string };
  s3?: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
}

export interface StackOptions {
  external: ExternalServers;
  s3Storage: 'memory' | 'file';
  /** Capacity of the S3 server (a sparse file, or the memstore's limit). */
  s3CapacityBytes: number;
  emulatorMode: 'child' | 'in-process';
  /** Warm instances per emulator deployment: enough that no job ever queues. */
  emulatorInstances: number;
  log: (line: string) => void;
}

export interface S3Endpoint {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface BenchStack {
  temporal: {
    address: string;
    namespace: string;
    /** Root pid of the dev server process tree, when started here. */
    pid: number | undefined;
    /** The dev server's own Prometheus metrics, when started here. */
    metricsUrl: string | undefined;
  };
  s3: S3Endpoint & { /** Root pids of the Ceph daemons, when started here. */ pids: number[] };
  /** What S3 storage runs, and why it differs from the request when it does. */
  s3Storage: { actual: string; requested: string; fallback?: string };
  /** ceph.conf of a server started here, for radosgw-admin. */
  s3CephConfPath: string | undefined;
  emulator: { url: string; admin: EmulatorAdminClient; /** The emulator's node process, when it runs as a child. */ pid: number | undefined };
  client: Client;
  /** An object store for the driver (face image, listings); the worker has its own. */
  store: ObjectStore;
  s3Client: ReturnType<typeof createObjectStoreClient>;
  /** Prebuilt workflow bundle, so worker restarts skip webpack. */
  bundlePath: string;
  workDir: string;
  stop(): Promise<void>;
}

/** Starts whatever is not given as external; `stop()` stops what was started, in reverse order. */
export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        options.log(`stop failed: ${(error as Error).message}`);
      }
    }
    stops.length = 0;
  };
  const workDir = mkdtempSync(join(tmpdir(), 'rcp-bench-'));
  stops.push(async () => rmSync(workDir, { recursive: true, force: true }));

  let bundling: Promise<string> | undefined;
  try {
    const bundlePath = join(workDir, 'workflow-bundle.js');
    bundling = runToCompletion(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/build-workflow-bundle.ts'), bundlePath], { timeoutMs: 300_000, cwd: REPO_ROOT });

    let temporalServer: TemporalDevServer | undefined;
    let fallback: string | undefined;
    let s3Server: S3Server | undefined;
    const [temporalInfo, s3Info] = await Promise.all([
      (async () => {
        if (options.external.temporal) return { ...options.external.temporal, pid: undefined, metricsUrl: undefined };
        temporalServer = await startTemporalDevServer({ searchAttributes: { ...PIPELINE_SEARCH_ATTRIBUTES }, ui: false });
        stops.push(() => temporalServer!.stop());
        options.log(`Temporal dev server ${temporalServer.address}`);
        return { address: temporalServer.address, namespace: temporalServer.namespace, pid: temporalServer.pid, metricsUrl: devServerMetricsUrl(temporalServer.pid) };
      })(),
      (async () => {
        if (options.external.s3) return { ...options.external.s3, region: 'auto', pids: [] as number[], storage: 'external', cephConfPath: undefined };
        const before = new Set(processTree(process.pid));
        let storage: 'memory' | 'file' = options.s3Storage;
        // A workDir of our own: its ceph.conf lets the copy section run radosgw's garbage collection.
        const cephDir = join(workDir, 'ceph');
        try {
          s3Server = await startS3Server({ storage, capacityBytes: options.s3CapacityBytes, workDir: cephDir });
        } catch (error) {
          if (storage !== 'file') throw error;
          options.log(`the file-backed S3 server did not start (${(error as Error).message.split('\n')[0]}; ${String((error as Error).cause).split('\n')[0]}); falling back to memory`);
          fallback = `file-backed S3 server failed to start: ${String((error as Error).cause ?? error).split('\n')[0]}`;
          storage = 'memory';
          rmSync(cephDir, { recursive: true, force: true });
          s3Server = await startS3Server({ storage, capacityBytes: options.s3CapacityBytes, workDir: cephDir });
        }
        stops.push(() => s3Server!.stop());
        options.log(`S3 server (${storage}) ${s3Server.endpoint}`);
        const pids = processTree(process.pid).filter((pid) => !before.has(pid) && isCephDaemon(pid));
        return {
          endpoint: s3Server.endpoint,
          bucket: s3Server.bucket,
          accessKeyId: s3Server.accessKeyId,
          secretAccessKey: s3Server.secretAccessKey,
          region: s3Server.region,
          pids,
          storage,
          cephConfPath: join(cephDir, 'ceph.conf'),
        };
      })(),
    ]);

    const emulator = await startBenchEmulator(options, workDir);
    stops.push(emulator.stop);
    options.log(`RunComfy emulator (${options.emulatorMode}) ${emulator.url}`);

    await bundling;
    if (!existsSync(bundlePath)) throw new Error('the workflow bundle was not written');

    const connection = await Connection.connect({ address: temporalInfo.address });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: temporalInfo.namespace });
    const s3Client = createObjectStoreClient({ ...s3Info, maxSockets: 64 });
    stops.push(async () => s3Client.destroy());
    const store = new ObjectStore({ client: s3Client, bucket: s3Info.bucket, sourcePolicy: { allowLoopback: true, allowedHosts: [] } });

    return {
      temporal: temporalInfo,
      s3: { endpoint: s3Info.endpoint, bucket: s3Info.bucket, accessKeyId: s3Info.accessKeyId, secretAccessKey: s3Info.secretAccessKey, region: s3Info.region, pids: s3Info.pids },
      s3Storage: { actual: s3Info.storage, requested: options.external.s3 ? 'external' : options.s3Storage, ...(fallback ? { fallback } : {}) },
      s3CephConfPath: s3Info.cephConfPath,
      emulator: { url: emulator.url, admin: new EmulatorAdminClient(emulator.url), pid: emulator.pid },
      client,
      store,
      s3Client,
      bundlePath,
      workDir,
      stop: stopAll,
    };
  } catch (error) {
    // The bundler writes into the work folder: let it finish before the folder is removed.
    await bundling?.catch(() => undefined);
    await stopAll();
    throw error;
  }
}

/** The dev server is started with `--metrics-port N`; its command line says which. */
function devServerMetricsUrl(watchdogPid: number | undefined): string | undefined {
  if (watchdogPid === undefined) return undefined;
  const pid = findDescendant(watchdogPid, 'start-dev');
  if (pid === undefined) return undefined;
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const port = args[args.indexOf('--metrics-port') + 1];
  return args.includes('--metrics-port') && port ? `http://127.0.0.1:${port}/metrics` : undefined;
}

function isCephDaemon(pid: number): boolean {
  try {
    const command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return command === 'ceph-mon' || command === 'ceph-osd' || command === 'radosgw';
  } catch {
    return false;
  }
}

async function startBenchEmulator(options: StackOptions, workDir: string): Promise<{ url: string; pid: number | undefined; stop: () => Promise<void> }> {
  const scaling = { minInstances: options.emulatorInstances, maxInstances: options.emulatorInstances, queueSize: 1 };
  if (options.emulatorMode === 'in-process') {
    const emulator: RunningEmulator = await startEmulator({ token: EMULATOR_TOKEN, workflowsDir: WORKFLOWS_DIR, scaling, timing: { durationMs: 1000, jitterMs: 0, coldStartMs: 0 }, allowHttpWebhooks: true });
    return { url: emulator.url, pid: undefined, stop: () => emulator.close() };
  }
  const logFile = join(workDir, 'emulator.log');
  const proc = new SupervisedProcess({
    name: 'emulator',
    command: process.execPath,
    args: [
      '--import', 'tsx', join(REPO_ROOT, 'src/emulator/main.ts'),
      '--port', '0',
      '--token', EMULATOR_TOKEN,
      '--workflows', WORKFLOWS_DIR,
      '--min-instances', String(scaling.minInstances),
      '--max-instances', String(scaling.maxInstances),
      '--queue-size', String(scaling.queueSize),
      '--duration', '1s',
      // The webhooks mode's receiver listens on plain http on 127.0.0.1.
      '--allow-http',
      '--quiet',
    ],
    cwd: REPO_ROOT,
    logFile,
  });
  let url: string | undefined;
  try {
    await waitUntil(
      async () => {
        if (proc.hasExited) throw new Error(`the emulator exited:\n${proc.logTail()}`);
        url = /listening on (http:\/\/[^\s]+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
        return url !== undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the RunComfy emulator' },
    );
  } catch (error) {
    await proc.stop(2_000);
    throw error;
  }
  const pid = proc.pid === undefined ? undefined : findDescendant(proc.pid, 'emulator/main.ts');
  return { url: url!, pid, stop: () => proc.stop(5_000) };
}

/** A pipeline worker running as a child process (`node --import tsx src/worker.ts`). */
export interface WorkerProcess {
  /** The worker's node process (not its watchdog shell). */
  readonly pid: number;
  readonly taskQueue: string;
  /** The project's Prometheus metrics (prom-client, process metrics prefixed rcp_worker_). */
  readonly metricsUrl: string;
  /** Temporal's core SDK metrics (slots, schedule-to-start latencies, sticky cache). */
  readonly temporalMetricsUrl: string;
  readonly env: Readonly<Record<string, string>>;
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts a worker process with the environment the worker's configuration reads (src/config.ts),
 * `settings` overriding the defaults, and waits until it polls both its workflow and activity queues.
 */
export async function startWorkerProcess(stack: BenchStack, taskQueue: string, settings: Record<string, string>): Promise<WorkerProcess> {
  const [metricsPort, temporalMetricsPort] = await getFreePorts(2);
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: stack.temporal.address,
    TEMPORAL_NAMESPACE: stack.temporal.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    RUNCOMFY_BASE_URL: stack.emulator.url,
    RUNCOMFY_TOKEN: EMULATOR_TOKEN,
    R2_ENDPOINT: stack.s3.endpoint,
    R2_BUCKET: stack.s3.bucket,
    R2_ACCESS_KEY_ID: stack.s3.accessKeyId,
    R2_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
    DEPLOYMENT_REGISTRY_PATH: REGISTRY_PATH,
    WORKFLOW_BUNDLE_PATH: stack.bundlePath,
    METRICS_PORT: String(metricsPort),
    TEMPORAL_METRICS_PORT: String(temporalMetricsPort),
    LOG_LEVEL: 'INFO',
    // As the container image sets it (Dockerfile): one malloc arena per thread costs RSS.
    MALLOC_ARENA_MAX: '2',
    // The emulator serves output files on 127.0.0.1; production refuses loopback.
    OUTPUT_ALLOW_LOOPBACK: 'true',
    ...settings,
  };
  // Only what a worker needs from the driver's environment: no stray TEMPORAL_/R2_ settings.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'NODE_OPTIONS'].includes(name)));
  const logFile = join(stack.workDir, `worker-${taskQueue}.log`);
  const proc = new SupervisedProcess({
    name: 'worker',
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'src/worker.ts')],
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    logFile,
  });
  const stop = (): Promise<void> => proc.stop(15_000);
  try {
    await waitUntil(
      async () => {
        if (proc.hasExited) throw new Error(`the worker exited:\n${proc.logTail()}`);
        if (!readFileSync(logFile, 'utf8').includes('"message":"worker started"')) return false;
        return (await pollerCount(stack, taskQueue, 1)) > 0 && (await pollerCount(stack, taskQueue, 2)) > 0;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: `the worker on task queue ${taskQueue}` },
    );
  } catch (error) {
    await stop();
    throw new Error(`the worker did not start; its log ends with:\n${proc.logTail()}`, { cause: error });
  }
  const pid = proc.pid === undefined ? undefined : findDescendant(proc.pid, 'src/worker.ts');
  if (pid === undefined) {
    await stop();
    throw new Error('could not find the worker process under its watchdog');
  }
  return {
    pid,
    taskQueue,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    temporalMetricsUrl: `http://127.0.0.1:${temporalMetricsPort}/metrics`,
    env,
    logFile,
    stop,
  };
}

/** Pollers seen on a task queue; `type` 1 = workflow tasks, 2 = activity tasks. */
async function pollerCount(stack: BenchStack, taskQueue: string, type: 1 | 2): Promise<number> {
  const response = await stack.client.workflowService.describeTaskQueue({
    namespace: stack.temporal.namespace,
    taskQueue: { name: taskQueue, kind: 1 },
    taskQueueType: type,
  });
  return response.pollers?.length ?? 0;
}

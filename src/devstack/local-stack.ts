/**
 * The embedded stack of the demo and the benchmark: the Temporal dev server with its Web UI, the
 * local S3 server (Ceph radosgw), the RunComfy emulator and an in-process pipeline worker. Each part
 * is optional, so a caller that has a real service configured never starts a local stand-in for it.
 */
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWorkerConfig, type WorkerConfig } from '../config.js';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../emulator/index.js';
import { encodePngRgb } from '../emulator/media/png.js';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import { createPipelineWorker } from '../worker/pipeline-worker.js';
import { workflowBundleOptions } from '../worker/workflow-code.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../contract/search-attributes.js';
import { CEPH_WATCHDOG_NAMES, cephWatchdogPidFile, startS3Server, type S3Server } from './ceph-s3-server.js';
import { SupervisedProcess } from './supervised-process.js';
import { startTemporalDevServer, TEMPORAL_WATCHDOG_PID_FILE, type TemporalDevServer } from './temporal-dev-server.js';
import { MissingToolError, resolveCephBinaries, resolveTemporalCli } from './tool-paths.js';

/** The checkout's root folder (scripts, config and fixtures are found from here). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Which local servers a run needs. */
export interface LocalToolNeeds {
  temporal: boolean;
  ceph: boolean;
}

/** The tools a run needs that this machine lacks, each as the error that explains how to provide it. */
export function missingLocalTools(needs: LocalToolNeeds, env: NodeJS.ProcessEnv): MissingToolError[] {
  const missing: MissingToolError[] = [];
  const check = (resolve: () => unknown): void => {
    try {
      resolve();
    } catch (error) {
      if (error instanceof MissingToolError) missing.push(error);
      else throw error;
    }
  };
  if (needs.temporal) check(() => resolveTemporalCli(env));
  if (needs.ceph) check(() => resolveCephBinaries(env));
  return missing;
}

export interface EnsureLocalToolsOptions {
  env: NodeJS.ProcessEnv;
  /** Told before the provisioning script runs (it may take minutes on a fresh machine). */
  onProvision?: (missing: readonly MissingToolError[]) => void;
  /** The script's output goes to this file descriptor (default 2: stdout may carry a JSON result). */
  outputFd?: number;
}

/**
 * Runs `scripts/provision.sh` when the Temporal CLI or the Ceph binaries are missing; instant when
 * both are present. Throws the first remaining MissingToolError if provisioning did not help.
 */
export async function ensureLocalTools(needs: LocalToolNeeds, options: EnsureLocalToolsOptions): Promise<void> {
  const missing = missingLocalTools(needs, options.env);
  if (missing.length === 0) return;
  options.onProvision?.(missing);
  const outputFd = options.outputFd ?? 2;
  const exitCode = await new Promise<number | null>((resolve) => {
    const child = spawn('bash', [join(PROJECT_ROOT, 'scripts', 'provision.sh')], { cwd: PROJECT_ROOT, env: options.env, stdio: ['ignore', outputFd, outputFd] });
    child.once('error', () => resolve(-1));
    child.once('exit', (code) => resolve(code));
  });
  const still = missingLocalTools(needs, options.env);
  if (still[0]) throw still[0];
  if (exitCode !== 0) throw new Error(`scripts/provision.sh failed (exit ${exitCode}); its messages are above`);
}

/** What to start locally; an omitted part is not started (a real service is used instead, or none). */
export interface LocalStackOptions {
  /** Servers' state and logs live under this folder (the caller removes it). */
  workDir: string;
  /**
   * Also remove `workDir` if this process dies without stopping the stack (a SIGKILL of it or of its
   * process group), once every server is gone. A caller that stops the stack removes it itself.
   */
  removeWorkDirWhenOrphaned?: boolean;
  temporal?: { namespace?: string; ui?: boolean; uiCodecEndpoint?: string };
  s3?: { bucket?: string; storage?: 'memory' | 'file' };
  emulator?: EmulatorOptions;
  /** Environment for finding the tools (TEMPORAL_CLI_PATH, PATH, cache folders). */
  toolEnv: NodeJS.ProcessEnv;
}

/** The parts of the local stack that were started. */
export interface LocalStack {
  readonly temporal?: TemporalDevServer;
  readonly s3?: S3Server;
  readonly emulator?: RunningEmulator;
  /** Stops every started part (emulator first, then S3 and Temporal); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the requested parts at once (the S3 server takes the longest, ~13 s). If one fails the
 * others are stopped again and the failure is thrown; a missing tool wins over other failures, as
 * its message says what to do.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { workDir } = options;
  // The servers' own watchdogs stop them when this process dies; this one only waits for them (the
  // pid files below) and then removes the folder they shared.
  const janitor = options.removeWorkDirWhenOrphaned
    ? new SupervisedProcess({
        name: 'work-folder janitor',
        command: 'sleep',
        args: ['2147483647'],
        logFile: join(workDir, 'janitor.log'),
        stopAfterPidFiles: [join(workDir, TEMPORAL_WATCHDOG_PID_FILE), ...CEPH_WATCHDOG_NAMES.map((name) => cephWatchdogPidFile(join(workDir, 'ceph'), name))],
        removeWhenOrphaned: workDir,
        // Long enough for the Ceph daemons to stop one after the other.
        orphanGraceSeconds: 5,
      })
    : undefined;
  const settled = await Promise.allSettled([
    options.temporal
      ? startTemporalDevServer({
          searchAttributes: { ...PIPELINE_SEARCH_ATTRIBUTES },
          ui: options.temporal.ui ?? true,
          ...(options.temporal.namespace ? { namespace: options.temporal.namespace } : {}),
          ...(options.temporal.uiCodecEndpoint ? { uiCodecEndpoint: options.temporal.uiCodecEndpoint } : {}),
          executable: resolveTemporalCli(options.toolEnv),
          workDir,
          // In the work folder, so every process of the stack names it on its command line.
          dbFilename: join(workDir, 'temporal.db'),
        })
      : Promise.resolve(undefined),
    options.s3 ? startS3Server({ ...options.s3, workDir: join(workDir, 'ceph') }) : Promise.resolve(undefined),
    options.emulator ? startEmulator(options.emulator) : Promise.resolve(undefined),
  ]);
  const [temporalResult, s3Result, emulatorResult] = settled;
  const temporal = temporalResult.status === 'fulfilled' ? temporalResult.value : undefined;
  const s3 = s3Result.status === 'fulfilled' ? s3Result.value : undefined;
  const emulator = emulatorResult.status === 'fulfilled' ? emulatorResult.value : undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await emulator?.close();
      // The two servers do not depend on each other.
      const results = await Promise.allSettled([s3?.stop(), temporal?.stop()]);
      await janitor?.stop(1_000);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return stopping;
  };

  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length > 0) {
    await stop().catch(() => undefined);
    throw failures.find((f) => f instanceof MissingToolError || (f instanceof Error && f.cause instanceof MissingToolError)) ?? failures[0];
  }
  return { ...(temporal ? { temporal } : {}), ...(s3 ? { s3 } : {}), ...(emulator ? { emulator } : {}), stop };
}

/** Where the in-process worker connects, in the terms of the worker's environment. */
export interface WorkerEndpoints {
  temporal: { address: string; namespace: string; taskQueue: string; apiKey?: string; tls?: boolean };
  runcomfy: { baseUrl: string; token: string; inferenceApiVersion?: 'v1' | 'v2' };
  store: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region?: string; forcePathStyle?: boolean };
  registryPath: string;
  workflowBundlePath?: string;
}

/** Poll and timeout settings of an in-process worker; all optional, in milliseconds. */
export interface WorkerTimings {
  pollInitialIntervalMs?: number;
  pollMaxIntervalMs?: number;
  pollHeartbeatTimeoutMs?: number;
  jobRetryBackoffMs?: number;
  shutdownGraceMs?: number;
}

/**
 * A worker configuration for an in-process worker, built through `parseWorkerConfig` so it gets the
 * same validation and defaults as a deployed worker. Metrics servers are off (port 0).
 */
export function inProcessWorkerConfig(endpoints: WorkerEndpoints, timings: WorkerTimings = {}): WorkerConfig {
  const { temporal, runcomfy, store } = endpoints;
  const env: Record<string, string | undefined> = {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_TASK_QUEUE: temporal.taskQueue,
    TEMPORAL_API_KEY: temporal.apiKey,
    TEMPORAL_TLS: temporal.tls === undefined ? undefined : String(temporal.tls),
    RUNCOMFY_BASE_URL: runcomfy.baseUrl,
    RUNCOMFY_TOKEN: runcomfy.token,
    RUNCOMFY_INFERENCE_API_VERSION: runcomfy.inferenceApiVersion,
    R2_ENDPOINT: store.endpoint,
    R2_BUCKET: store.bucket,
    R2_ACCESS_KEY_ID: store.accessKeyId,
    R2_SECRET_ACCESS_KEY: store.secretAccessKey,
    R2_REGION: store.region,
    R2_FORCE_PATH_STYLE: store.forcePathStyle === undefined ? undefined : String(store.forcePathStyle),
    DEPLOYMENT_REGISTRY_PATH: endpoints.registryPath,
    WORKFLOW_BUNDLE_PATH: endpoints.workflowBundlePath,
    POLL_INITIAL_INTERVAL_MS: timings.pollInitialIntervalMs?.toString(),
    POLL_MAX_INTERVAL_MS: timings.pollMaxIntervalMs?.toString(),
    POLL_HEARTBEAT_TIMEOUT_MS: timings.pollHeartbeatTimeoutMs?.toString(),
    JOB_RETRY_BACKOFF_MS: timings.jobRetryBackoffMs?.toString(),
    SHUTDOWN_GRACE_MS: timings.shutdownGraceMs?.toString(),
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
    // The emulator serves output files on 127.0.0.1; production (and a real RunComfy) refuses loopback.
    OUTPUT_ALLOW_LOOPBACK: /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/i.test(runcomfy.baseUrl) ? 'true' : 'false',
  };
  return parseWorkerConfig(env);
}

/**
 * Routes the Temporal SDK's own logs (worker and core) through `writeLine` at `level` and above,
 * instead of the console: a JSON result on stdout and a redrawn progress display must stay intact.
 * Signals are left to the caller: workers stop only through `InProcessWorker.stop()`.
 * Call once, before any worker or native connection exists.
 */
export function installWorkerLogging(writeLine: (line: string) => void, level: LogLevel = 'WARN'): void {
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => {
      // The full metadata (task tokens, ids) is for log shippers; a person needs what failed and why.
      const meta = entry.meta ?? {};
      const subject = [meta['activityType'], meta['workflowType'], meta['workflowId']].filter((v) => typeof v === 'string').join(' ');
      const error = meta['error'];
      const reason = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
      writeLine(`${entry.level.toLowerCase()}: ${entry.message}${subject ? ` (${subject})` : ''}${reason ? `: ${reason}` : ''}`);
    }),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level === 'TRACE' ? 'TRACE' : level }), forward: {} } },
    // The host decides what Ctrl-C means (the demo first cancels its pipeline, which needs a running
    // worker); by default the Runtime would shut every worker down on the first SIGINT.
    shutdownSignals: [],
  });
}

/**
 * Bundles the workflow code into `outFile`, so webpack can run while the servers start instead of
 * after (the worker would otherwise bundle on creation). Its progress chatter is dropped.
 */
export async function prebundleWorkflows(outFile: string): Promise<string> {
  const quiet = (): void => undefined;
  const { code } = await bundleWorkflowCode({
    ...workflowBundleOptions(),
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  await writeFile(outFile, code);
  return outFile;
}

/** A running in-process worker. */
export interface InProcessWorker {
  /** Settles when the worker stops; rejects if it failed. */
  readonly done: Promise<void>;
  /** Graceful shutdown: running activities get the configured grace time. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startInProcessWorker}. */
export interface InProcessWorkerOptions {
  config: WorkerConfig;
  /** Default: the file at `config.registryPath`. */
  registry?: DeploymentRegistry;
  /**
   * Longest interval between heartbeats the worker sends to Temporal. The SDK's default (up to 60 s)
   * suits production; a watcher of live progress (bytes copied, queue position) wants a few hundred ms.
   */
  heartbeatThrottleMs?: number;
}

/** Creates the pipeline worker (`createPipelineWorker`) and runs it in this process. */
export async function startInProcessWorker(options: InProcessWorkerOptions): Promise<InProcessWorker> {
  const { heartbeatThrottleMs } = options;
  const pipelineWorker = await createPipelineWorker({
    config: options.config,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(heartbeatThrottleMs !== undefined ? { workerOptions: { maxHeartbeatThrottleInterval: heartbeatThrottleMs, defaultHeartbeatThrottleInterval: heartbeatThrottleMs } } : {}),
  });
  const done = pipelineWorker.run();
  // A failure is reported to whoever awaits `done`; this keeps it from counting as unhandled meanwhile.
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      if (pipelineWorker.worker.getState() === 'RUNNING') pipelineWorker.worker.shutdown();
      await done.catch(() => undefined);
    },
  };
}

/**
 * A small PNG of a cartoon face (skin disc, two eyes, a smile): a stand-in input for face swaps
 * that is recognisably a face when someone opens it.
 */
export function sampleFacePng(sidePx = 64): Buffer {
  const rgb = Buffer.alloc(sidePx * sidePx * 3);
  const c = (sidePx - 1) / 2;
  const r = sidePx * 0.45;
  const paint = (x: number, y: number, color: readonly [number, number, number]): void => {
    const i = (y * sidePx + x) * 3;
    rgb[i] = color[0];
    rgb[i + 1] = color[1];
    rgb[i + 2] = color[2];
  };
  for (let y = 0; y < sidePx; y++) {
    for (let x = 0; x < sidePx; x++) {
      const dx = x - c;
      const dy = y - c;
      const d = Math.hypot(dx, dy);
      const eye = Math.hypot(Math.abs(dx) - r * 0.38, dy + r * 0.25) < r * 0.12;
      const mouth = Math.abs(Math.hypot(dx, dy + r * 0.1) - r * 0.55) < r * 0.06 && dy > r * 0.15;
      if (d > r) paint(x, y, [70, 110, 160]);
      else if (eye || mouth) paint(x, y, [40, 30, 30]);
      else paint(x, y, [236, 188, 150]);
    }
  }
  return encodePngRgb(sidePx, sidePx, rgb);
}

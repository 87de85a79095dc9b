import { EmulatorAdminClient } from './admin-client.js';
import type { DeploymentInit } from './deployments.js';
import { EmulatorCore } from './emulator-core.js';
import { createPrng } from './media/fill.js';
import { startHttpServer } from './server.js';
import {
  DEFAULT_SCALING,
  DEFAULT_SETTINGS,
  DEFAULT_TIMING,
  type CancelledSpelling,
  type ErrorMessageField,
  type ErrorShape,
  type JobTiming,
  type ScalingDefaults,
  type WebhookOutputsField,
  type WebhookSettings,
} from './settings.js';
import { loadWorkflowFolder } from './workflow-loader.js';
import type { WorkflowGraph } from './workflow-graph.js';

export { EmulatorAdminClient, EmulatorAdminError, type EmulatorAdminClientOptions, type JobDetail } from './admin-client.js';
export type * from './admin-types.js';
export { FAULT_KINDS, FAULT_OPERATIONS } from './admin-types.js';
export { emulatorDeploymentId } from './deployment-id.js';
export { DEFAULT_SCALING, DEFAULT_SETTINGS, DEFAULT_TIMING, HARDWARE_SKUS } from './settings.js';
export type { CancelledSpelling, EmulatorSettings, ErrorMessageField, ErrorShape, JobTiming, ScalingDefaults, WebhookOutputsField, WebhookSettings } from './settings.js';
export type { WorkflowGraph, WorkflowNode, Overrides } from './workflow-graph.js';
export { isApiFormatWorkflow } from './workflow-graph.js';
export { OUTPUT_NODE_RULES } from './outputs.js';

/** A deployment given directly to {@link startEmulator} instead of (or besides) a workflows folder. */
export interface EmulatorDeploymentSeed {
  name: string;
  workflowApiJson: WorkflowGraph;
  /** Default: `emulatorDeploymentId(name)`. */
  id?: string;
  workflowId?: string;
  workflowVersion?: string;
  hardware?: string;
  minInstances?: number;
  maxInstances?: number;
  queueSize?: number;
  keepWarmSeconds?: number;
  /** This deployment's timing; unset fields take the emulator-wide `timing`. */
  timing?: Partial<JobTiming>;
  readme?: string;
}

/** Options of {@link startEmulator}; every field is optional. */
export interface EmulatorOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** The API token clients must send as `Authorization: Bearer <token>`. Default "emulator-token". */
  token?: string;
  /**
   * When set, the admin API requires the header `X-Admin-Token: <adminToken>` (at least 16
   * characters). Required unless `host` is loopback only.
   */
  adminToken?: string;
  /** Folder of workflow JSON files; each API-format file becomes a deployment named after the file. */
  workflowsDir?: string;
  /** Extra deployments (after the folder's; same id replaces). */
  deployments?: EmulatorDeploymentSeed[];
  /** Default job timing of every deployment. Default: 1000 ms per job, no jitter, no cold start. */
  timing?: Partial<JobTiming>;
  /** Default scaling of seeded deployments. Default: 0..1 instances, queue_size 1, keep warm 60 s, AMPERE_48. */
  scaling?: Partial<ScalingDefaults>;
  /** Results and files answer 404 this long after a job finished. Default 7 days. */
  outputTtlMs?: number;
  /** Pad every output file to this many bytes (streamed, never buffered). Default: natural size. */
  outputSizeBytes?: number | null;
  /** Accept http:// webhooks (RunComfy requires https). Default false. */
  allowHttpWebhooks?: boolean;
  /** Accept http:// URLs as media inputs. Default true (local object stores speak http). */
  allowHttpInputUrls?: boolean;
  /** Download URL-valued media overrides when a job starts; a failed download fails the job. Default false. */
  fetchInputUrls?: boolean;
  cancelledSpelling?: CancelledSpelling;
  webhookOutputsField?: WebhookOutputsField;
  errorShape?: ErrorShape;
  errorMessageField?: ErrorMessageField;
  submitStatusCode?: 200 | 202;
  /** Delay before a cancel of a running job takes effect. Default 0. */
  cancelDelayMs?: number;
  webhook?: Partial<WebhookSettings>;
  /** Base URL written into status/result/cancel/file URLs, if clients reach the emulator through another address. */
  publicBaseUrl?: string;
  /** Seed of the generator behind jitter, failure rates and fault probabilities (default: time-based). */
  randomSeed?: number;
  /** Largest accepted request body. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Receives log lines (skipped files, webhook give-ups, internal errors). Default: discard. */
  log?: (line: string) => void;
}

/** A deployment the emulator was started with. */
export interface SeededDeployment {
  id: string;
  name: string;
  /** The workflow file it came from, when loaded from a folder. */
  file?: string;
}

/** A started emulator. */
export interface RunningEmulator {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  port: number;
  token: string;
  /** Typed client of the admin API. */
  admin: EmulatorAdminClient;
  deployments: SeededDeployment[];
  /** Files of the workflows folder that did not become deployments, and why. */
  skippedFiles: { file: string; reason: string }[];
  /** The id of a seeded deployment by name; throws for an unknown name. */
  deploymentId(name: string): string;
  /** Stops timers, webhook retries and every open connection (hanging responses included). */
  close(): Promise<void>;
}

/** True for hosts that accept connections from this machine only. */
export function isLoopbackOnly(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/**
 * Starts a RunComfy emulator on 127.0.0.1 (by default) and resolves once it listens. On any other
 * interface it refuses to start without an admin token.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const log = options.log ?? (() => undefined);
  const timing: JobTiming = { ...DEFAULT_TIMING, ...options.timing };
  const scaling: ScalingDefaults = { ...DEFAULT_SCALING, ...options.scaling };
  const seeds: (DeploymentInit & { file?: string })[] = [];
  const toInit = (seed: EmulatorDeploymentSeed, file?: string): DeploymentInit & { file?: string } => ({
    name: seed.name,
    id: seed.id,
    workflowApiJson: seed.workflowApiJson,
    workflowId: seed.workflowId,
    workflowVersion: seed.workflowVersion,
    hardware: seed.hardware ?? scaling.hardware,
    minInstances: seed.minInstances ?? scaling.minInstances,
    maxInstances: seed.maxInstances ?? scaling.maxInstances,
    queueSize: seed.queueSize ?? scaling.queueSize,
    keepWarmSeconds: seed.keepWarmSeconds ?? scaling.keepWarmSeconds,
    timing: { ...timing, ...seed.timing },
    readme: seed.readme,
    ...(file ? { file } : {}),
  });
  let objectInfo: Record<string, unknown> = {};
  let skippedFiles: { file: string; reason: string }[] = [];
  if (options.workflowsDir !== undefined) {
    const folder = await loadWorkflowFolder(options.workflowsDir, log);
    for (const workflow of folder.workflows) seeds.push(toInit({ name: workflow.name, workflowApiJson: workflow.graph }, workflow.file));
    objectInfo = folder.objectInfo;
    skippedFiles = folder.skipped;
  }
  for (const seed of options.deployments ?? []) seeds.push(toInit(seed));

  const host = options.host ?? '127.0.0.1';
  // The admin API rewrites the emulator's behaviour (faults, settings, outputs): anything that can
  // reach a non-loopback interface must prove it holds the admin token.
  if (options.adminToken === undefined && !isLoopbackOnly(host)) {
    throw new Error(`the admin API needs --admin-token (RUNCOMFY_EMULATOR_ADMIN_TOKEN) when listening on ${host}, which is not loopback only`);
  }
  if (options.adminToken !== undefined && options.adminToken.length < 16) throw new Error('--admin-token must be at least 16 characters');
  const token = options.token ?? 'emulator-token';
  const core = new EmulatorCore({
    token,
    adminToken: options.adminToken,
    settings: {
      ...DEFAULT_SETTINGS,
      ...(options.outputTtlMs !== undefined && { outputTtlMs: options.outputTtlMs }),
      ...(options.outputSizeBytes !== undefined && { outputSizeBytes: options.outputSizeBytes }),
      ...(options.allowHttpWebhooks !== undefined && { allowHttpWebhooks: options.allowHttpWebhooks }),
      ...(options.allowHttpInputUrls !== undefined && { allowHttpInputUrls: options.allowHttpInputUrls }),
      ...(options.fetchInputUrls !== undefined && { fetchInputUrls: options.fetchInputUrls }),
      ...(options.cancelledSpelling !== undefined && { cancelledSpelling: options.cancelledSpelling }),
      ...(options.webhookOutputsField !== undefined && { webhookOutputsField: options.webhookOutputsField }),
      ...(options.errorShape !== undefined && { errorShape: options.errorShape }),
      ...(options.errorMessageField !== undefined && { errorMessageField: options.errorMessageField }),
      ...(options.submitStatusCode !== undefined && { submitStatusCode: options.submitStatusCode }),
      ...(options.cancelDelayMs !== undefined && { cancelDelayMs: options.cancelDelayMs }),
      webhook: { ...DEFAULT_SETTINGS.webhook, ...options.webhook },
    },
    defaultTiming: timing,
    seeds,
    objectInfo,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 * 1024,
    random: createPrng(options.randomSeed ?? Date.now()),
    log,
  });
  let http;
  try {
    http = await startHttpServer(core, host, options.port ?? 0, options.publicBaseUrl);
  } catch (error) {
    await core.close();
    throw error;
  }
  const deployments: SeededDeployment[] = core.deployments.list().map((deployment) => {
    const file = seeds.find((seed) => (seed.id ?? deployment.id) === deployment.id && seed.name === deployment.name)?.file;
    return { id: deployment.id, name: deployment.name, ...(file ? { file } : {}) };
  });
  let closing: Promise<void> | undefined;
  return {
    url: core.baseUrl,
    port: http.port,
    token,
    admin: new EmulatorAdminClient(core.baseUrl, options.adminToken !== undefined ? { adminToken: options.adminToken } : {}),
    deployments,
    skippedFiles,
    deploymentId(name: string): string {
      const found = deployments.find((deployment) => deployment.name === name);
      if (!found) throw new Error(`no seeded deployment named ${name}`);
      return found.id;
    },
    close: () => {
      closing ??= Promise.all([http.close(), core.close()]).then(() => undefined);
      return closing;
    },
  };
}

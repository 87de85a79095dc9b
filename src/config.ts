/**
 * Environment → typed configuration, parsed once with zod at each entry point (worker, CLI, demo).
 * Nothing below an entry point reads process.env. Errors name the variable and the reason, never
 * the value (some are secrets).
 */
import { parseIntegrationEnv, type IntegrationSettings } from './callbacks/config.js';
import { z } from 'zod';
import { parseHostPatterns } from './net/address-guard.js';
import type { AddressPolicy } from './net/address-guard.js';
import type { PipelineTimings } from './contract/activity-contract.js';
import { DEFAULT_TASK_QUEUE } from './contract/pipeline-contract.js';
import { webhookEnv, webhookReceiverSettingsFrom, webhookSettingsFrom, type WebhookReceiverSettings, type WebhookSettings } from './webhooks/config.js';

const MIB = 1024 * 1024;

/** The spellings of a yes/no variable every entry point accepts. */
export const envBoolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: 'expected a number' }).int({ error: 'expected a whole number' }).min(1, { error: 'must be at least 1' }).max(max, { error: `must be at most ${max}` });
const port = z.coerce.number({ error: 'expected a port number' }).int().min(0, { error: 'must be 0–65535' }).max(65535, { error: 'must be 0–65535' });
const url = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/**
 * The TEMPORAL_* variables, one definition for every entry point (worker, client/CLI, demo). Without
 * defaults: the worker and the client apply {@link TEMPORAL_DEFAULTS}; the demo reads "unset" as
 * "start a local dev server".
 */
export const temporalEnv = {
  TEMPORAL_ADDRESS: z.string().min(1),
  TEMPORAL_NAMESPACE: z.string().min(1),
  TEMPORAL_TASK_QUEUE: z.string().min(1),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: envBoolean.optional(),
  /** Base URL of the Temporal Web UI, to print links to pipelines (e.g. http://127.0.0.1:8233). */
  TEMPORAL_UI_URL: url.optional(),
};

export const TEMPORAL_DEFAULTS = { TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: DEFAULT_TASK_QUEUE } as const;

/** {@link temporalEnv} with the defaults of a worker or a client. */
const temporalEnvWithDefaults = {
  ...temporalEnv,
  TEMPORAL_ADDRESS: temporalEnv.TEMPORAL_ADDRESS.default(TEMPORAL_DEFAULTS.TEMPORAL_ADDRESS),
  TEMPORAL_NAMESPACE: temporalEnv.TEMPORAL_NAMESPACE.default(TEMPORAL_DEFAULTS.TEMPORAL_NAMESPACE),
  TEMPORAL_TASK_QUEUE: temporalEnv.TEMPORAL_TASK_QUEUE.default(TEMPORAL_DEFAULTS.TEMPORAL_TASK_QUEUE),
};

/** The R2_* variables of the bucket (any S3 server): required by the worker, all-or-nothing elsewhere. */
export const r2Env = {
  R2_ENDPOINT: url,
  R2_BUCKET: z.string().min(3, { error: 'expected a bucket name' }),
  R2_ACCESS_KEY_ID: z.string().min(1, { error: 'is required' }),
  R2_SECRET_ACCESS_KEY: z.string().min(1, { error: 'is required' }),
};

/** Region and addressing style of the bucket, with the defaults R2 needs. */
const r2TuningEnv = {
  R2_REGION: z.string().min(1).default('auto'),
  R2_FORCE_PATH_STYLE: envBoolean.default(true),
};

/** {@link r2Env} where the bucket is optional as a whole; pair it with {@link requireWholeStore}. */
export const optionalR2Env = {
  R2_ENDPOINT: r2Env.R2_ENDPOINT.optional(),
  R2_BUCKET: r2Env.R2_BUCKET.optional(),
  R2_ACCESS_KEY_ID: r2Env.R2_ACCESS_KEY_ID.optional(),
  R2_SECRET_ACCESS_KEY: r2Env.R2_SECRET_ACCESS_KEY.optional(),
};

const STORE_VARIABLES = ['R2_ENDPOINT', 'R2_BUCKET', 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY'] as const;

/**
 * The store is optional as a whole; half a store configuration is a mistake worth reporting. Adds
 * an issue per missing variable (with `hint` appended) and returns the variables that were given.
 */
export function requireWholeStore(env: Partial<Record<(typeof STORE_VARIABLES)[number], unknown>>, ctx: z.RefinementCtx, hint = ''): string[] {
  const given = STORE_VARIABLES.filter((name) => env[name] !== undefined);
  if (given.length > 0 && given.length < STORE_VARIABLES.length) {
    for (const name of STORE_VARIABLES) {
      if (env[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: `is required when ${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set${hint}` });
    }
  }
  return given;
}

/** Parses the environment with `schema`: empty strings count as unset, as in most deployment tools. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.output<S> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  }
  return parsed.data;
}

/** Connection settings from the TEMPORAL_* variables; an API key implies TLS unless TEMPORAL_TLS says otherwise. */
export function temporalSettings(e: { TEMPORAL_ADDRESS: string; TEMPORAL_NAMESPACE: string; TEMPORAL_TASK_QUEUE: string; TEMPORAL_API_KEY?: string | undefined; TEMPORAL_TLS?: boolean | undefined }) {
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    ...(e.TEMPORAL_API_KEY ? { apiKey: e.TEMPORAL_API_KEY } : {}),
    tls: e.TEMPORAL_TLS ?? e.TEMPORAL_API_KEY !== undefined,
  };
}

/** Every variable the worker reads, with its default. The README's configuration table mirrors this. */
export const workerEnvSchema = z.object({
  TEMPORAL_ADDRESS: temporalEnvWithDefaults.TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE: temporalEnvWithDefaults.TEMPORAL_NAMESPACE,
  TEMPORAL_TASK_QUEUE: temporalEnvWithDefaults.TEMPORAL_TASK_QUEUE,
  TEMPORAL_API_KEY: temporalEnv.TEMPORAL_API_KEY,
  TEMPORAL_TLS: temporalEnv.TEMPORAL_TLS,

  RUNCOMFY_BASE_URL: url.default('https://api.runcomfy.net'),
  RUNCOMFY_TOKEN: z.string({ error: 'is required (the RunComfy API token)' }).min(1, { error: 'is required (the RunComfy API token)' }),
  RUNCOMFY_INFERENCE_API_VERSION: z.enum(['v1', 'v2'], { error: 'expected v1 or v2' }).default('v1'),

  ...r2Env,
  ...r2TuningEnv,

  DEPLOYMENT_REGISTRY_PATH: z.string().min(1).default('config/deployments.json'),

  POLL_INITIAL_INTERVAL_MS: positiveInt().default(1_000),
  POLL_MAX_INTERVAL_MS: positiveInt().default(15_000),
  POLL_HEARTBEAT_TIMEOUT_MS: positiveInt().default(30_000),
  JOB_RETRY_BACKOFF_MS: positiveInt().default(30_000),
  SUBMIT_TIMEOUT_MS: positiveInt().default(60_000),
  PERSIST_HEARTBEAT_TIMEOUT_MS: positiveInt().default(60_000),
  PERSIST_TIMEOUT_MS: positiveInt().default(3_600_000),
  PERSIST_CANCEL_GRACE_MS: positiveInt().default(10_000),
  CANCEL_CONFIRM_TIMEOUT_MS: positiveInt().default(60_000),
  // Stopping the billing is worth a long wait through RunComfy trouble: 45 minutes by default.
  CANCEL_RETRY_BUDGET_MS: positiveInt().default(45 * 60_000),
  // Long enough for an on-call fix of the store; capped at RunComfy's 7-day output expiry by the workflow.
  STORE_OUTAGE_BUDGET_MS: positiveInt().default(6 * 3_600_000),
  STORE_OUTAGE_MAX_BACKOFF_MS: positiveInt().default(60_000),
  AMBIGUOUS_SUBMIT_POLICY: z.enum(['fail', 'resubmit'], { error: 'expected fail or resubmit' }).default('fail'),
  OUTPUT_URL_MODE: z.enum(['presigned', 'source'], { error: 'expected presigned or source' }).default('presigned'),
  PRESIGN_TTL_SECONDS: positiveInt(7 * 24 * 3600).default(24 * 3600),
  DEPLOYMENT_CACHE_TTL_MS: positiveInt().default(300_000),

  COPY_PART_SIZE_MB: positiveInt(5 * 1024).min(5, { error: 'must be at least 5 (the S3 and R2 minimum part size)' }).default(8),
  COPY_QUEUE_SIZE: positiveInt(64).default(4),
  COPY_MEMORY_BUDGET_MB: positiveInt().default(256),

  MAX_CONCURRENT_ACTIVITIES: positiveInt().default(200),
  MAX_CONCURRENT_WORKFLOW_TASKS: positiveInt().default(200),
  MAX_CACHED_WORKFLOWS: positiveInt().default(2_000),
  SHUTDOWN_GRACE_MS: positiveInt().default(30_000),
  HEARTBEAT_THROTTLE_MS: positiveInt().default(5_000),
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  // V8 flags the worker process sets before its workflow thread starts; `none`: none.
  WORKER_V8_FLAGS: z
    .string()
    .regex(/^\s*(none|(--[a-z][a-z0-9-]*(=[A-Za-z0-9.]+)?\s*)+)\s*$/, { error: 'must be none, or V8 flags such as --optimize-for-size --max-semi-space-size=2, separated by spaces' })
    .default('--max-semi-space-size=4'),

  // Output downloads: RunComfy's output URLs are data from outside (see src/net/address-guard.ts).
  OUTPUT_HOSTS: z.string().optional(),
  OUTPUT_ALLOW_LOOPBACK: envBoolean.default(false),
  MAX_OUTPUT_BYTES: positiveInt().default(2 * 1024 * MIB),
  OUTPUT_IDLE_TIMEOUT_MS: positiveInt(3_600_000).default(30_000),
  OUTPUT_FIRST_BYTE_TIMEOUT_MS: positiveInt(3_600_000).default(5_000),
  OUTPUT_DEADLINE_MS: positiveInt(24 * 3_600_000).default(15 * 60_000),
  // Payload encryption (src/codec): `id:base64key` entries, the first one encrypts.
  PAYLOAD_KEYS: z.string().optional(),
  PAYLOAD_KEY_FILE: z.string().min(1).optional(),

  // Webhooks as nudges (src/webhooks): off unless WEBHOOK_PUBLIC_URL is set.
  ...webhookEnv,

  METRICS_PORT: port.default(9464),
  TEMPORAL_METRICS_PORT: port.default(9465),
  LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'expected TRACE, DEBUG, INFO, WARN or ERROR' }).default('INFO'),
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export interface WorkerConfig {
  temporal: { address: string; namespace: string; taskQueue: string; apiKey?: string; tls: boolean };
  runcomfy: { baseUrl: string; token: string; inferenceApiVersion: 'v1' | 'v2' };
  store: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string; forcePathStyle: boolean; partSizeBytes: number; queueSize: number };
  registryPath: string;
  timings: PipelineTimings;
  ambiguousSubmitPolicy: 'fail' | 'resubmit';
  outputUrlMode: 'presigned' | 'source';
  presignTtlSeconds: number;
  deploymentCacheTtlMs: number;
  maxConcurrentCopies: number;
  worker: { maxConcurrentActivities: number; maxConcurrentWorkflowTasks: number; maxCachedWorkflows: number; shutdownGraceMs: number; heartbeatThrottleMs: number; workflowBundlePath?: string; v8Flags: string };
  metricsPort: number;
  temporalMetricsPort: number;
  logLevel: WorkerEnv['LOG_LEVEL'];
  /** Key prefixes, callback hosts and delivery settings for the backend integration. */
  integration: IntegrationSettings;
  /** CALLBACK_SECRET: signs callbacks; reaches only the delivery activity. */
  callbackSecret?: string;
  downloads: { policy: AddressPolicy; maxOutputBytes: number; idleTimeoutMs: number; firstByteTimeoutMs: number; deadlineMs: number };
  /** Raw payload key settings, turned into a codec by `loadPayloadKeys` (which reads the key file). */
  payloadKeys: PayloadKeySettings;
  /** Present when WEBHOOK_PUBLIC_URL is set: submits carry a signed webhook URL. Holds secrets: never in history. */
  webhooks?: WebhookSettings;
}

/** Where payload encryption keys come from; both unset = payloads stay plain. */
export interface PayloadKeySettings {
  keys?: string;
  keyFile?: string;
}

/** A configuration problem: names each variable and why it was refused. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Copies that fit the memory budget: each holds about partSize × (queueSize + 1) bytes. */
export function copiesWithinBudget(memoryBudgetBytes: number, partSizeBytes: number, queueSize: number): number {
  return Math.max(1, Math.floor(memoryBudgetBytes / (partSizeBytes * (queueSize + 1))));
}

export function parseWorkerConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const e = parseEnv(workerEnvSchema, env);
  // Empty strings count as unset, as in most deployment tools.
  const integration = parseIntegrationEnv(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (integration.problems.length > 0) throw new ConfigError(integration.problems);
  const partSizeBytes = e.COPY_PART_SIZE_MB * MIB;
  let allowedHosts: string[];
  try {
    allowedHosts = parseHostPatterns(e.OUTPUT_HOSTS);
  } catch (error) {
    throw new ConfigError([`OUTPUT_HOSTS: ${(error as Error).message}`]);
  }
  if (e.MAX_OUTPUT_BYTES > partSizeBytes * 10_000) {
    throw new ConfigError([`MAX_OUTPUT_BYTES: must be at most COPY_PART_SIZE_MB × 10,000 parts (${partSizeBytes * 10_000})`]);
  }
  const webhookProblems: string[] = [];
  const webhooks = webhookSettingsFrom(e, webhookProblems);
  if (webhookProblems.length > 0) throw new ConfigError(webhookProblems);
  return {
    ...(webhooks ? { webhooks } : {}),
    integration: integration.settings,
    ...(integration.callbackSecret ? { callbackSecret: integration.callbackSecret } : {}),
    temporal: temporalSettings(e),
    runcomfy: { baseUrl: e.RUNCOMFY_BASE_URL, token: e.RUNCOMFY_TOKEN, inferenceApiVersion: e.RUNCOMFY_INFERENCE_API_VERSION },
    store: { endpoint: e.R2_ENDPOINT, bucket: e.R2_BUCKET, accessKeyId: e.R2_ACCESS_KEY_ID, secretAccessKey: e.R2_SECRET_ACCESS_KEY, region: e.R2_REGION, forcePathStyle: e.R2_FORCE_PATH_STYLE, partSizeBytes, queueSize: e.COPY_QUEUE_SIZE },
    registryPath: e.DEPLOYMENT_REGISTRY_PATH,
    timings: {
      pollInitialIntervalMs: e.POLL_INITIAL_INTERVAL_MS,
      pollMaxIntervalMs: e.POLL_MAX_INTERVAL_MS,
      pollHeartbeatTimeoutMs: e.POLL_HEARTBEAT_TIMEOUT_MS,
      jobRetryBackoffMs: e.JOB_RETRY_BACKOFF_MS,
      submitTimeoutMs: e.SUBMIT_TIMEOUT_MS,
      persistHeartbeatTimeoutMs: e.PERSIST_HEARTBEAT_TIMEOUT_MS,
      persistTimeoutMs: e.PERSIST_TIMEOUT_MS,
      persistCancelGraceMs: e.PERSIST_CANCEL_GRACE_MS,
      cancelTimeoutMs: e.CANCEL_CONFIRM_TIMEOUT_MS,
      cancelRetryBudgetMs: e.CANCEL_RETRY_BUDGET_MS,
      storeOutageBudgetMs: e.STORE_OUTAGE_BUDGET_MS,
      storeOutageMaxBackoffMs: e.STORE_OUTAGE_MAX_BACKOFF_MS,
    },
    ambiguousSubmitPolicy: e.AMBIGUOUS_SUBMIT_POLICY,
    outputUrlMode: e.OUTPUT_URL_MODE,
    presignTtlSeconds: e.PRESIGN_TTL_SECONDS,
    deploymentCacheTtlMs: e.DEPLOYMENT_CACHE_TTL_MS,
    maxConcurrentCopies: copiesWithinBudget(e.COPY_MEMORY_BUDGET_MB * MIB, partSizeBytes, e.COPY_QUEUE_SIZE),
    worker: {
      maxConcurrentActivities: e.MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTasks: e.MAX_CONCURRENT_WORKFLOW_TASKS,
      maxCachedWorkflows: e.MAX_CACHED_WORKFLOWS,
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
      heartbeatThrottleMs: e.HEARTBEAT_THROTTLE_MS,
      ...(e.WORKFLOW_BUNDLE_PATH ? { workflowBundlePath: e.WORKFLOW_BUNDLE_PATH } : {}),
      v8Flags: e.WORKER_V8_FLAGS.trim().replace(/^none$/, ''),
    },
    metricsPort: e.METRICS_PORT,
    temporalMetricsPort: e.TEMPORAL_METRICS_PORT,
    logLevel: e.LOG_LEVEL,
    downloads: {
      policy: { allowLoopback: e.OUTPUT_ALLOW_LOOPBACK, allowedHosts },
      maxOutputBytes: e.MAX_OUTPUT_BYTES,
      idleTimeoutMs: e.OUTPUT_IDLE_TIMEOUT_MS,
      firstByteTimeoutMs: e.OUTPUT_FIRST_BYTE_TIMEOUT_MS,
      deadlineMs: e.OUTPUT_DEADLINE_MS,
    },
    payloadKeys: { ...(e.PAYLOAD_KEYS ? { keys: e.PAYLOAD_KEYS } : {}), ...(e.PAYLOAD_KEY_FILE ? { keyFile: e.PAYLOAD_KEY_FILE } : {}) },
  };
}

/**
 * Every variable the client side (the operator CLI, a backend using `src/client`) reads. Only the
 * Temporal ones matter for starting and watching pipelines; the R2 ones enable input uploads and
 * presigned output links; the RunComfy ones enable the deployment commands.
 */
export const clientEnvSchema = z
  .object({
    ...temporalEnvWithDefaults,
    ...optionalR2Env,
    ...r2TuningEnv,
    PRESIGN_TTL_SECONDS: positiveInt(7 * 24 * 3600).default(24 * 3600),

    RUNCOMFY_BASE_URL: url.default('https://api.runcomfy.net'),
    RUNCOMFY_TOKEN: z.string().min(1).optional(),

    DEPLOYMENT_REGISTRY_PATH: z.string().min(1).default('config/deployments.json'),

    PAYLOAD_KEYS: z.string().optional(),
    PAYLOAD_KEY_FILE: z.string().min(1).optional(),
  })
  .superRefine((env, ctx) => {
    requireWholeStore(env, ctx);
  });

/** Typed client configuration; see {@link parseClientConfig}. */
export interface ClientConfig {
  temporal: { address: string; namespace: string; taskQueue: string; apiKey?: string; tls: boolean; uiUrl?: string };
  /** Present when every R2_* variable is set: enables uploads of inputs and presigned links to outputs. */
  store?: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string; forcePathStyle: boolean };
  presignTtlSeconds: number;
  /** Present when RUNCOMFY_TOKEN is set: enables the deployment commands. */
  runcomfy?: { baseUrl: string; token: string };
  registryPath: string;
  /** Payload encryption keys, as the workers have them: see `src/codec`. */
  payloadKeys: PayloadKeySettings;
}

/**
 * Environment → client configuration (CLI, backend). Throws {@link ConfigError} naming each
 * variable and the reason, never its value.
 */
export function parseClientConfig(env: Readonly<Record<string, string | undefined>>): ClientConfig {
  const e = parseEnv(clientEnvSchema, env);
  const store =
    e.R2_ENDPOINT !== undefined && e.R2_BUCKET !== undefined && e.R2_ACCESS_KEY_ID !== undefined && e.R2_SECRET_ACCESS_KEY !== undefined
      ? { endpoint: e.R2_ENDPOINT, bucket: e.R2_BUCKET, accessKeyId: e.R2_ACCESS_KEY_ID, secretAccessKey: e.R2_SECRET_ACCESS_KEY, region: e.R2_REGION, forcePathStyle: e.R2_FORCE_PATH_STYLE }
      : undefined;
  return {
    temporal: { ...temporalSettings(e), ...(e.TEMPORAL_UI_URL ? { uiUrl: e.TEMPORAL_UI_URL } : {}) },
    ...(store ? { store } : {}),
    presignTtlSeconds: e.PRESIGN_TTL_SECONDS,
    ...(e.RUNCOMFY_TOKEN ? { runcomfy: { baseUrl: e.RUNCOMFY_BASE_URL, token: e.RUNCOMFY_TOKEN } } : {}),
    registryPath: e.DEPLOYMENT_REGISTRY_PATH,
    payloadKeys: { ...(e.PAYLOAD_KEYS ? { keys: e.PAYLOAD_KEYS } : {}), ...(e.PAYLOAD_KEY_FILE ? { keyFile: e.PAYLOAD_KEY_FILE } : {}) },
  };
}

/** Every variable the standalone webhook receiver (`npm run webhooks`) reads. */
export const webhookServiceEnvSchema = z.object({
  ...temporalEnvWithDefaults,
  ...webhookEnv,
  WEBHOOK_PORT: port.default(8090),
  PAYLOAD_KEYS: z.string().optional(),
  PAYLOAD_KEY_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'expected TRACE, DEBUG, INFO, WARN or ERROR' }).default('INFO'),
});

/** Typed configuration of the standalone webhook receiver. */
export interface WebhookServiceConfig {
  temporal: { address: string; namespace: string; apiKey?: string; tls: boolean };
  receiver: WebhookReceiverSettings;
  host: string;
  port: number;
  payloadKeys: PayloadKeySettings;
  logLevel: WorkerEnv['LOG_LEVEL'];
}

/** Environment → standalone receiver configuration; throws {@link ConfigError} naming each variable. */
export function parseWebhookServiceConfig(env: Readonly<Record<string, string | undefined>>): WebhookServiceConfig {
  const e = parseEnv(webhookServiceEnvSchema, env);
  const problems: string[] = [];
  const receiver = webhookReceiverSettingsFrom(e, problems);
  if (!receiver) throw new ConfigError(problems);
  const { taskQueue: _taskQueue, ...temporal } = temporalSettings(e);
  return {
    temporal,
    receiver,
    host: e.WEBHOOK_HOST,
    port: e.WEBHOOK_PORT,
    payloadKeys: { ...(e.PAYLOAD_KEYS ? { keys: e.PAYLOAD_KEYS } : {}), ...(e.PAYLOAD_KEY_FILE ? { keyFile: e.PAYLOAD_KEY_FILE } : {}) },
    logLevel: e.LOG_LEVEL,
  };
}

import { parseArgs } from 'node:util';
import type { EmulatorOptions } from './index.js';
import { CANCELLED_SPELLINGS, ERROR_MESSAGE_FIELDS, ERROR_SHAPES, WEBHOOK_OUTPUT_FIELDS } from './settings.js';

/** Parses "1500", "500ms", "1.5s", "3m", "2h", "7d" into milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a duration: "${text}" (use e.g. 1500, 500ms, 2s, 3m, 7d)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms').toLowerCase() as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * factor);
}

/** Parses "1048576", "512KiB", "10MiB", "2GiB" (also KB/MB/GB as powers of 1000) into bytes. */
export function parseSizeBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: "${text}" (use e.g. 1048576, 10MiB, 2GiB)`);
  const factors: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Math.round(Number(match[1]) * factors[(match[2] ?? 'b').toLowerCase()]!);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function nonNegativeInteger(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative integer`);
  return parsed;
}

function fraction(name: string, value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) throw new Error(`--${name} must be a number from 0 to 1`);
  return parsed;
}

/** Every command-line flag; each can also come from the environment as RUNCOMFY_EMULATOR_<FLAG_IN_UPPER_SNAKE_CASE>. */
export const CLI_FLAGS = {
  host: { type: 'string', help: 'interface to listen on (default 127.0.0.1)' },
  port: { type: 'string', help: 'port, 0 = any free port (default 8787)' },
  token: { type: 'string', help: 'API token clients send as Bearer (default emulator-token)' },
  'admin-token': { type: 'string', help: 'require X-Admin-Token on /__admin; required unless --host is loopback only' },
  workflows: { type: 'string', help: 'folder of API-format workflow JSON files, one deployment each' },
  duration: { type: 'string', help: 'job run time: 1500, 2s, 3m (default 1s)' },
  jitter: { type: 'string', help: 'random +/- offset of each run time (default 0)' },
  'cold-start': { type: 'string', help: 'time for a new instance to become ready (default 0)' },
  'keep-warm': { type: 'string', help: 'idle time before an instance above min stops (default: the deployment keep_warm_duration_in_seconds)' },
  'min-instances': { type: 'string', help: 'min_instances of seeded deployments (default 0)' },
  'max-instances': { type: 'string', help: 'max_instances of seeded deployments (default 1)' },
  'queue-size': { type: 'string', help: 'queue_size of seeded deployments (default 1)' },
  'keep-warm-seconds': { type: 'string', help: 'keep_warm_duration_in_seconds of seeded deployments (default 60)' },
  'output-ttl': { type: 'string', help: 'results and files expire after this (default 7d)' },
  'output-size': { type: 'string', help: 'pad every output file to this size: 10MiB, 2GiB (default natural size)' },
  'allow-http': { type: 'boolean', help: 'accept http:// webhook URLs (input URLs accept http by default)' },
  'https-inputs-only': { type: 'boolean', help: 'reject http:// media input URLs, as RunComfy does' },
  'fetch-inputs': { type: 'boolean', help: 'download URL media inputs when a job starts; failures fail the job' },
  'cancelled-spelling': { type: 'string', help: 'cancelled | canceled (default cancelled)' },
  'webhook-outputs-field': { type: 'string', help: 'outputs | output | both (default outputs)' },
  'error-shape': { type: 'string', help: 'error field of failed results: array | object | string (default array)' },
  'error-message-field': { type: 'string', help: 'message | error_message | both (default message)' },
  'submit-status': { type: 'string', help: '200 | 202 (default 200)' },
  'cancel-delay': { type: 'string', help: 'delay before cancelling a running job takes effect (default 0)' },
  'webhook-attempts': { type: 'string', help: 'delivery attempts per webhook event (default 6)' },
  'webhook-backoff': { type: 'string', help: 'first retry delay, doubling (default 1s)' },
  'webhook-max-backoff': { type: 'string', help: 'largest retry delay (default 60s)' },
  'webhook-timeout': { type: 'string', help: 'receiver answer deadline (default 10s)' },
  'webhook-duplicates': { type: 'string', help: 'extra copies of each delivered event (default 0)' },
  'webhook-reorder': { type: 'boolean', help: 'send intermediate events after the final one' },
  'webhook-loss': { type: 'string', help: 'fraction of webhook events never delivered, 0..1 (default 0)' },
  'webhook-forged': { type: 'string', help: 'forged calls (tampered token) sent per webhook event (default 0)' },
  'public-url': { type: 'string', help: 'base URL written into status/result/file URLs' },
  seed: { type: 'string', help: 'random seed for jitter, failure rates and fault probabilities' },
  quiet: { type: 'boolean', help: 'do not log skipped files and webhook give-ups' },
  help: { type: 'boolean', help: 'show this help' },
} as const;

type FlagName = keyof typeof CLI_FLAGS;

/** The environment variable that can set a flag. */
export function envNameOf(flag: string): string {
  return `RUNCOMFY_EMULATOR_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** Help text listing every flag and its environment variable. */
export function cliHelp(): string {
  const lines = ['usage: npm run emulator -- [--port 8787] [--token T] [--workflows DIR] [flags]', ''];
  for (const [flag, spec] of Object.entries(CLI_FLAGS)) lines.push(`  --${flag.padEnd(22)} ${spec.help}  [${envNameOf(flag)}]`);
  return lines.join('\n');
}

/**
 * Turns command-line flags (winning) and environment values into emulator options.
 * `env` is passed in so only the entry point reads process.env.
 */
export function parseCliOptions(argv: string[], env: Readonly<Record<string, string | undefined>>): { options: EmulatorOptions; help: boolean; quiet: boolean } {
  const { values } = parseArgs({ args: argv, options: Object.fromEntries(Object.entries(CLI_FLAGS).map(([name, spec]) => [name, { type: spec.type }])), strict: true, allowPositionals: false });
  const read = (flag: FlagName): string | undefined => {
    const value = values[flag];
    if (typeof value === 'string') return value;
    return env[envNameOf(flag)];
  };
  const readBoolean = (flag: FlagName): boolean | undefined => {
    const value = values[flag];
    if (typeof value === 'boolean') return value;
    const fromEnv = env[envNameOf(flag)];
    return fromEnv === undefined ? undefined : ['1', 'true', 'yes'].includes(fromEnv.toLowerCase());
  };
  const options: EmulatorOptions = { port: 8787 };
  const assign = <K extends keyof EmulatorOptions>(key: K, value: EmulatorOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  const map = <T>(flag: FlagName, parse: (text: string) => T): T | undefined => {
    const text = read(flag);
    return text === undefined ? undefined : parse(text);
  };
  assign('host', read('host'));
  assign('port', map('port', (text) => nonNegativeInteger('port', text)));
  assign('token', read('token'));
  assign('adminToken', read('admin-token'));
  assign('workflowsDir', read('workflows'));
  const timing: NonNullable<EmulatorOptions['timing']> = {};
  const duration = map('duration', parseDurationMs);
  if (duration !== undefined) timing.durationMs = duration;
  const jitter = map('jitter', parseDurationMs);
  if (jitter !== undefined) timing.jitterMs = jitter;
  const coldStart = map('cold-start', parseDurationMs);
  if (coldStart !== undefined) timing.coldStartMs = coldStart;
  const keepWarm = map('keep-warm', parseDurationMs);
  if (keepWarm !== undefined) timing.keepWarmMs = keepWarm;
  options.timing = timing;
  const scaling: NonNullable<EmulatorOptions['scaling']> = {};
  const minInstances = map('min-instances', (text) => nonNegativeInteger('min-instances', text));
  if (minInstances !== undefined) scaling.minInstances = minInstances;
  const maxInstances = map('max-instances', (text) => nonNegativeInteger('max-instances', text));
  if (maxInstances !== undefined) scaling.maxInstances = maxInstances;
  const queueSize = map('queue-size', (text) => nonNegativeInteger('queue-size', text));
  if (queueSize !== undefined) scaling.queueSize = queueSize;
  const keepWarmSeconds = map('keep-warm-seconds', (text) => nonNegativeInteger('keep-warm-seconds', text));
  if (keepWarmSeconds !== undefined) scaling.keepWarmSeconds = keepWarmSeconds;
  options.scaling = scaling;
  assign('outputTtlMs', map('output-ttl', parseDurationMs));
  assign('outputSizeBytes', map('output-size', parseSizeBytes));
  assign('allowHttpWebhooks', readBoolean('allow-http'));
  const httpsInputsOnly = readBoolean('https-inputs-only');
  if (httpsInputsOnly !== undefined) options.allowHttpInputUrls = !httpsInputsOnly;
  assign('fetchInputUrls', readBoolean('fetch-inputs'));
  assign('cancelledSpelling', map('cancelled-spelling', (text) => oneOf('cancelled-spelling', text, CANCELLED_SPELLINGS)));
  assign('webhookOutputsField', map('webhook-outputs-field', (text) => oneOf('webhook-outputs-field', text, WEBHOOK_OUTPUT_FIELDS)));
  assign('errorShape', map('error-shape', (text) => oneOf('error-shape', text, ERROR_SHAPES)));
  assign('errorMessageField', map('error-message-field', (text) => oneOf('error-message-field', text, ERROR_MESSAGE_FIELDS)));
  assign('submitStatusCode', map('submit-status', (text) => Number(oneOf('submit-status', text, ['200', '202'] as const)) as 200 | 202));
  assign('cancelDelayMs', map('cancel-delay', parseDurationMs));
  const webhook: NonNullable<EmulatorOptions['webhook']> = {};
  const attempts = map('webhook-attempts', (text) => nonNegativeInteger('webhook-attempts', text));
  if (attempts !== undefined) webhook.maxAttempts = attempts;
  const backoff = map('webhook-backoff', parseDurationMs);
  if (backoff !== undefined) webhook.initialBackoffMs = backoff;
  const maxBackoff = map('webhook-max-backoff', parseDurationMs);
  if (maxBackoff !== undefined) webhook.maxBackoffMs = maxBackoff;
  const timeout = map('webhook-timeout', parseDurationMs);
  if (timeout !== undefined) webhook.timeoutMs = timeout;
  const duplicates = map('webhook-duplicates', (text) => nonNegativeInteger('webhook-duplicates', text));
  if (duplicates !== undefined) webhook.duplicates = duplicates;
  const reorder = readBoolean('webhook-reorder');
  if (reorder !== undefined) webhook.reorder = reorder;
  const loss = map('webhook-loss', (text) => fraction('webhook-loss', text));
  if (loss !== undefined) webhook.lossRate = loss;
  const forged = map('webhook-forged', (text) => nonNegativeInteger('webhook-forged', text));
  if (forged !== undefined) webhook.forged = forged;
  options.webhook = webhook;
  assign('publicBaseUrl', read('public-url'));
  assign('randomSeed', map('seed', (text) => nonNegativeInteger('seed', text)));
  return { options, help: readBoolean('help') ?? false, quiet: readBoolean('quiet') ?? false };
}

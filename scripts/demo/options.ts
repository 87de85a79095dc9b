/** The demo's command line and environment: flags with their defaults, and the one parse of process.env. */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { envBoolean, optionalR2Env, requireWholeStore, temporalEnv } from '../../src/config.js';
import { parseDurationMs, parseSizeBytes } from '../../src/emulator/cli-options.js';

export const USAGE = `usage: npm run demo -- [flags]

Starts what is not configured (Temporal dev server + Web UI, RunComfy emulator, local S3 server),
runs the default t2i → faceswap → upscale → i2v pipeline with live progress, prints its outputs,
then stops everything.

  --prompt <text>         prompt of the image (and video) steps
  --face-image <path>     PNG/JPEG/WebP face to swap in (default: a small generated face)
  --pipeline-id <id>      pipeline id (default demo-<time>-<random>); [A-Za-z0-9._:-]
  --keep                  leave the stack running after the pipeline and print how to reach it
  --no-worker             with --keep: start the stack only, no worker and no pipeline, and print
                          the environment for \`npm run worker\` and \`npm run cli\` in other terminals
  --json                  print one JSON document on stdout; progress goes to stderr
                          (npm prints a banner on stdout: use \`npm run -s demo -- --json\`)
  --timeout <duration>    give up waiting for the pipeline after this long (default 15m)
  --poll-interval <dur>   worker's first status poll interval (default 250ms; grows to 2s)

Emulator only (ignored with a real RunComfy):
  --job-duration <dur>    run time of every job (default per step: 2.5s, 1.5s, 3s, 4s)
  --jitter <dur>          random +/- offset of each run time (default 400ms)
  --cold-start <dur>      start-up of the first GPU instance, felt by the first job (default 2s)
  --output-size <size>    pad every output file to this size, e.g. 32MiB (default: the video 8MiB)

  --help                  show this help

Real services are used when configured in the environment:
  RUNCOMFY_TOKEN (+ RUNCOMFY_BASE_URL)                          instead of the emulator
  R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY  instead of the local S3 server
  TEMPORAL_ADDRESS (+ TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_UI_URL,
                    TEMPORAL_TASK_QUEUE)                       instead of the dev server
  DEPLOYMENT_REGISTRY_PATH                                      the deployment registry (default config/deployments.json)
Durations: 1500, 500ms, 2s, 3m. Sizes: 1048576, 512KiB, 8MiB.`;

/** Default emulator run time per step kind: realistic in shape, short enough for a demo. */
export const DEFAULT_JOB_DURATION_MS = { t2i: 2_500, faceswap: 1_500, upscale: 3_000, i2v: 4_000 } as const;
export const DEFAULT_VIDEO_OUTPUT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_PROMPT = 'a lighthouse on a rocky cliff at dusk, warm light, cinematic';
export const PRESIGN_TTL_SECONDS = 24 * 3600;
/** After Ctrl-C, how long the demo waits for the pipeline to cancel its jobs before stopping anyway. */
export const CANCEL_WAIT_MS = 15_000;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DemoFlags {
  prompt: string;
  faceImagePath?: string;
  pipelineId: string;
  keep: boolean;
  /** Stack only: the worker runs separately (`npm run worker`), e.g. to try a change to it. */
  noWorker: boolean;
  json: boolean;
  timeoutMs: number;
  pollIntervalMs: number;
  jobDurationMs?: number;
  jitterMs: number;
  coldStartMs: number;
  outputSizeBytes?: number;
  help: boolean;
}

export function defaultPipelineId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `demo-${stamp}-${randomBytes(2).toString('hex')}`;
}

export function parseFlags(argv: string[]): DemoFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        prompt: { type: 'string' },
        'face-image': { type: 'string' },
        'pipeline-id': { type: 'string' },
        keep: { type: 'boolean' },
        'no-worker': { type: 'boolean' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        'poll-interval': { type: 'string' },
        'job-duration': { type: 'string' },
        jitter: { type: 'string' },
        'cold-start': { type: 'string' },
        'output-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const duration = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    try {
      return parseDurationMs(text);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  let outputSizeBytes: number | undefined;
  if (values['output-size'] !== undefined) {
    try {
      outputSizeBytes = parseSizeBytes(values['output-size']);
    } catch (error) {
      throw new UsageError(`--output-size: ${(error as Error).message}`);
    }
  }
  const pollIntervalMs = duration('poll-interval', values['poll-interval']) ?? 250;
  if (pollIntervalMs < 1) throw new UsageError('--poll-interval must be at least 1ms');
  const jobDurationMs = duration('job-duration', values['job-duration']);
  if (values['no-worker'] && !values.keep) throw new UsageError('--no-worker needs --keep: without a worker the stack is only useful while it stays up');
  return {
    prompt: values.prompt ?? DEFAULT_PROMPT,
    ...(values['face-image'] !== undefined ? { faceImagePath: values['face-image'] } : {}),
    pipelineId: values['pipeline-id'] ?? defaultPipelineId(),
    keep: values.keep ?? false,
    noWorker: values['no-worker'] ?? false,
    json: values.json ?? false,
    timeoutMs: duration('timeout', values.timeout) ?? 15 * 60_000,
    pollIntervalMs,
    ...(jobDurationMs !== undefined ? { jobDurationMs } : {}),
    jitterMs: duration('jitter', values.jitter) ?? 400,
    coldStartMs: duration('cold-start', values['cold-start']) ?? 2_000,
    ...(outputSizeBytes !== undefined ? { outputSizeBytes } : {}),
    help: values.help ?? false,
  };
}



export const optionalText = z.string().min(1).optional();

// TEMPORAL_* and R2_* as the worker and the CLI read them, without defaults: unset means "start it locally".
export const demoEnvSchema = z
  .object({
    RUNCOMFY_TOKEN: optionalText,
    RUNCOMFY_BASE_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
    RUNCOMFY_INFERENCE_API_VERSION: z.enum(['v1', 'v2'], { error: 'expected v1 or v2' }).optional(),
    ...optionalR2Env,
    R2_REGION: optionalText,
    R2_FORCE_PATH_STYLE: envBoolean.optional(),
    ...temporalEnv,
    TEMPORAL_ADDRESS: temporalEnv.TEMPORAL_ADDRESS.optional(),
    TEMPORAL_NAMESPACE: temporalEnv.TEMPORAL_NAMESPACE.optional(),
    TEMPORAL_TASK_QUEUE: temporalEnv.TEMPORAL_TASK_QUEUE.optional(),
    DEPLOYMENT_REGISTRY_PATH: optionalText,
    WORKFLOW_BUNDLE_PATH: optionalText,
  })
  .superRefine((env, ctx) => {
    const set = requireWholeStore(env, ctx, ' (R2 needs all four; unset them all for the local S3 server)');
    if (env.RUNCOMFY_TOKEN !== undefined && set.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['R2_ENDPOINT'],
        message: 'is required with RUNCOMFY_TOKEN: RunComfy downloads each step\'s inputs from the object store, which a local S3 server on 127.0.0.1 cannot offer',
      });
    }
  });

export type DemoEnv = z.infer<typeof demoEnvSchema>;
